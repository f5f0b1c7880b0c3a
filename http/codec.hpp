#pragma once

// JSON codecs of the REST API: validation of submissions, the JSON shape of
// notifications and attempts, problem+json (RFC 9457), RFC 3339 times and
// notification ids. Plain functions, no CAF, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/messages.hpp"

namespace herald {

/// One invalid field of a request (problem+json `errors` entry).
struct field_error {
  std::string field;   // JSON name, e.g. "to" or "data"
  std::string message; // what is wrong, for a human
};

/// Result of parsing a submission body.
struct submission {
  notification n;                  // channel, to, subject, body, data,
                                   // priority, send_at_ms, provider filled
  std::string malformed;           // non-empty: not JSON / not an object (400)
  std::vector<field_error> errors; // non-empty: invalid fields (422)
};

/// Validates one submission per API.md. Never throws. An explicit `null`
/// counts as an absent field. `send_at` in the past is accepted (deliver now).
submission parse_submission(std::string_view body);

/// Validates an already parsed JSON value as one submission (used by the
/// batch endpoint for each item; field names are prefixed by `prefix`, e.g.
/// "items[3]."). Never throws, also for values built in code that hold
/// ill-formed UTF-8 or nest deeply.
submission parse_submission_json(const nlohmann::json& j,
                                 const std::string& prefix = "");

/// Parses untrusted JSON text. Never throws: on failure returns a discarded
/// value and, if `error` is given, a short message with the position.
/// Nesting is capped at `max_json_depth` before any value is built, so a
/// small hostile body cannot make the parser allocate without bound.
inline constexpr int max_json_depth = 128;
nlohmann::json parse_json(std::string_view text, std::string* error = nullptr);

/// Compact JSON text that never throws: invalid UTF-8 (which nlohmann refuses
/// to dump) is replaced by U+FFFD. Use it for everything sent to a client.
std::string dump_json(const nlohmann::json& j);

/// The request hash of an Idempotency-Key: SHA-256 (lowercase hex) of the
/// canonical JSON text of a submission: object keys sorted (nlohmann's
/// object order), no whitespace, numbers as parsed (1 and 1.0 differ),
/// strings re-escaped the same way. So the same body with other key order,
/// whitespace or escapes (\u0041 vs A) hashes the same. Never throws
/// (invalid UTF-8 in values built in code is replaced as in dump_json).
std::string request_hash(const nlohmann::json& submission);

/// An acceptable Idempotency-Key: 1 to 255 printable ASCII characters
/// (0x20-0x7E), no leading or trailing space (HTTP strips those from header
/// values, so they could never be matched reliably). Inner spaces, quotes
/// and any other printable characters are the client's business.
bool valid_idempotency_key(std::string_view key);

/// API representation of a notification (GET answers). Stored text is not
/// re-validated: serialize the result with dump_json.
nlohmann::json to_json(const notification& n);

/// API representation of one attempt.
nlohmann::json to_json(const attempt& a);

/// The webhook payload POSTed to receivers (body of the signed request).
std::string webhook_payload(const notification& n);

/// An application/problem+json document.
std::string problem_json(int status, const std::string& title,
                         const std::string& detail,
                         const std::vector<field_error>& errors = {});

/// RFC 3339 with millisecond precision in UTC, e.g. 2026-11-21T10:00:00.123Z.
std::string format_rfc3339(int64_t ms);

/// Parses RFC 3339 (with 'Z' or a numeric offset, optional fraction).
std::optional<int64_t> parse_rfc3339(std::string_view text);

/// A new time-ordered UUID (version 7, RFC 9562), lowercase hex with dashes.
/// Monotonic within this process, safe to call from many threads.
std::string new_notification_id();

/// True if `text` is a UUID in canonical lowercase/uppercase 8-4-4-4-12 form.
bool is_uuid(std::string_view text);

/// Unix epoch milliseconds now (system clock).
int64_t now_ms();

} // namespace herald
