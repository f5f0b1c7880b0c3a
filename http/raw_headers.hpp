#pragma once

// Request headers exactly as the client sent them.
//
// cpp-httplib 0.11.4 (Debian's shared library) percent-decodes header values
// ("X-%41" arrives as "X-A") and drops headers with an empty value, both in
// code compiled into libcpp-httplib.so. API.md compares Idempotency-Key
// values byte for byte and rejects an empty one, so the API server re-reads
// the header block it received (http/raw_header_server.hpp) with this
// parser, which follows httplib's framing rules and nothing else.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <httplib.h>

namespace herald {

/// The header fields of one request head ("request line CRLF *(field CRLF)
/// CRLF"), in order, values neither decoded nor dropped when empty. Like
/// httplib: a line not ending in CRLF is skipped, a line without ':' is
/// skipped, leading blanks of a value and trailing blanks of a line are
/// removed, and the head ends at the first empty line.
std::vector<std::pair<std::string, std::string>>
parse_raw_headers(std::string_view head);

/// Replaces, in `headers`, every field named in `raw` by its raw values.
/// Fields httplib adds itself (REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR,
/// LOCAL_PORT) keep httplib's values.
void restore_raw_headers(
  const std::vector<std::pair<std::string, std::string>>& raw,
  httplib::Headers& headers);

} // namespace herald
