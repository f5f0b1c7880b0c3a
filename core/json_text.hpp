#pragma once

// JSON as text: parsing untrusted input without throwing, dumping without
// throwing, the canonical request hash of an Idempotency-Key, and the JSON
// shapes of the domain types (API answers, the webhook payload). Plain
// functions, no CAF, no I/O.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/messages.hpp"

namespace herald {

/// Parses untrusted JSON text. Never throws: on failure returns a discarded
/// value and, if `error` is given, a short message with the position.
/// Nesting is capped at `max_json_depth` before any value is built, so a
/// small hostile body cannot make the parser allocate without bound.
inline constexpr int max_json_depth = 128;
nlohmann::json parse_json(std::string_view text, std::string* error = nullptr);

/// Compact JSON text that never throws: invalid UTF-8 (which nlohmann refuses
/// to dump) is replaced by U+FFFD. Use it for everything sent to a client.
std::string dump_json(const nlohmann::json& j);
std::string dump_json(const nlohmann::ordered_json& j);

/// True if `j` nests at most `limit` levels (a scalar is level 0). Bounded
/// recursion: the stack use is fixed however deep the value is.
bool json_depth_within(const nlohmann::json& j, int limit);

/// The request hash of an Idempotency-Key: SHA-256 (lowercase hex) of the
/// canonical JSON text of a submission: object keys sorted (nlohmann's
/// object order), no whitespace, numbers as parsed (1 and 1.0 differ),
/// strings re-escaped the same way. So the same body with other key order,
/// whitespace or escapes (\u0041 vs A) hashes the same. Never throws
/// (invalid UTF-8 in values built in code is replaced as in dump_json).
std::string request_hash(const nlohmann::json& submission);

/// API representation of a notification (GET answers). Stored text is not
/// re-validated: serialize the result with dump_json.
nlohmann::json to_json(const notification& n);

/// API representation of one attempt.
nlohmann::json to_json(const attempt& a);

/// The webhook payload POSTed to receivers (body of the signed request).
std::string webhook_payload(const notification& n);

} // namespace herald
