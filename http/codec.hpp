#pragma once

// The REST codec: validation of submissions and Idempotency-Keys,
// problem+json (RFC 9457). Plain functions, no CAF, no I/O. The JSON text
// helpers, times and ids it builds on are in core/ (included here, since
// every route uses them).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ids.hpp"
#include "core/json_text.hpp"
#include "core/messages.hpp"
#include "core/time.hpp"

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
  // A template submission (API.md): its code, locale ("" = the template's
  // default) and variables (an object); rendered by the API server.
  std::string template_code;
  std::string locale;
  nlohmann::json variables = nlohmann::json::object();
  // A recipient submission: the recipient's id instead of `to`.
  std::string recipient_id;
};

/// A template code: 1 to 100 characters of A-Z, a-z, 0-9, '.', '_', '-'.
bool valid_template_code(std::string_view code);

/// A locale tag: 2 to 35 characters of A-Z, a-z, 0-9, '-', '_'.
bool valid_locale(std::string_view locale);

/// The body of POST /v1/templates (with_code) or of
/// POST /v1/templates/{code}/versions: code (with_code), default_locale and
/// locales, each part checked (known channels and parts, strings, Mustache
/// syntax with line and column). Errors name the field, e.g.
/// "locales.en.email.text".
notification_template parse_template_body(const nlohmann::json& j, bool with_code,
                                          std::vector<field_error>& errors);

/// A recipient id: as a template code (1 to 100 of A-Z, a-z, 0-9, '.', '_',
/// '-').
bool valid_recipient_id(std::string_view id);

/// The body of PUT /v1/recipients/{id}: email, phone, locale, timezone,
/// opt_out (channels), devices (see parse_device). Every field optional.
recipient parse_recipient_body(const nlohmann::json& j,
                               std::vector<field_error>& errors);

/// A device of POST /v1/recipients/{id}/devices (or of `devices[i]` with
/// `prefix`): {"id", "kind": "fcm", "token"} or {"id", "kind": "webpush",
/// "subscription": {"endpoint": https URL, "keys": {"p256dh", "auth"}}}.
/// Returns the device's JSON object (with "added_at") or null.
nlohmann::json parse_device(const nlohmann::json& j, const std::string& prefix,
                            std::vector<field_error>& errors, int64_t now_ms);

/// A recipient as GET /v1/recipients/{id} shows it.
nlohmann::json recipient_json(const recipient& r);

/// A template as GET /v1/templates shows it.
nlohmann::json template_json(const notification_template& t);

/// Validates one submission per API.md. Never throws. An explicit `null`
/// counts as an absent field. `send_at` in the past is accepted (deliver now).
submission parse_submission(std::string_view body);

/// Validates an already parsed JSON value as one submission (used by the
/// batch endpoint for each item; field names are prefixed by `prefix`, e.g.
/// "items[3]."). Never throws, also for values built in code that hold
/// ill-formed UTF-8 or nest deeply.
submission parse_submission_json(const nlohmann::json& j,
                                 const std::string& prefix = "");

/// An acceptable Idempotency-Key: 1 to 255 printable ASCII characters
/// (0x20-0x7E), no leading or trailing space (HTTP strips those from header
/// values, so they could never be matched reliably). Inner spaces, quotes
/// and any other printable characters are the client's business.
bool valid_idempotency_key(std::string_view key);

/// An application/problem+json document.
std::string problem_json(int status, const std::string& title,
                         const std::string& detail,
                         const std::vector<field_error>& errors = {});

/// A dead letter as the DLQ routes show it (API.md), with its status
/// transitions when it has them.
nlohmann::json dead_letter_json(const dead_letter& d);

} // namespace herald
