#pragma once

// Standard Webhooks signatures (https://www.standardwebhooks.com), symmetric
// "v1" scheme: HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>",
// base64, keyed with the base64-decoded part of a "whsec_..." secret.
// Compatible with the reference libraries (standardwebhooks, svix), so
// receivers can verify Herald's deliveries with their existing code.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::webhook {

inline constexpr std::string_view id_header = "webhook-id";
inline constexpr std::string_view timestamp_header = "webhook-timestamp";
inline constexpr std::string_view signature_header = "webhook-signature";
inline constexpr std::string_view secret_prefix = "whsec_";
inline constexpr int64_t default_tolerance_seconds = 300;

/// A fresh signing secret: "whsec_" + base64 of 24 random bytes.
std::string new_webhook_secret();

/// The HMAC key of a secret: the base64 after "whsec_" (the prefix is
/// optional and padding may be missing, as in the reference libraries).
/// nullopt if that is not base64 or decodes to nothing.
std::optional<std::string> signing_key(std::string_view secret);

/// Whether a secret is acceptable to store for a tenant: "whsec_" prefix and
/// 24 to 64 key bytes, the range the specification recommends.
bool is_valid_secret(std::string_view secret);

/// "v1,<base64 signature>" for one delivery, or "" if `secret` has no usable
/// key (see signing_key). Secrets are validated when they are created, so ""
/// means a broken store, not bad client input; receivers reject it.
std::string sign(std::string_view secret, std::string_view msg_id,
                 int64_t timestamp_seconds, std::string_view body);

/// Why a delivery failed verification (for logs and 401 bodies).
enum class verify_status {
  ok,
  missing_header,            // id, timestamp or signature empty
  bad_timestamp,             // not a decimal integer
  timestamp_out_of_tolerance,
  bad_secret,                // the verifier's own secret is unusable
  no_matching_signature,
};

/// Name of a status, e.g. "no_matching_signature".
const char* to_string(verify_status x);

/// Checks a delivery. `signature_header` is a space-separated list of
/// "<version>,<base64>" entries (several during secret rotation); entries of
/// other versions than v1 are skipped. The timestamp must be within
/// `tolerance_seconds` of `now_seconds` in either direction, which bounds
/// replays.
verify_status check(std::string_view secret, std::string_view msg_id,
                    std::string_view timestamp_header, std::string_view body,
                    std::string_view signature_header, int64_t now_seconds,
                    int64_t tolerance_seconds = default_tolerance_seconds);

/// check(...) == verify_status::ok.
bool verify(std::string_view secret, std::string_view msg_id,
            std::string_view timestamp_header, std::string_view body,
            std::string_view signature_header, int64_t now_seconds,
            int64_t tolerance_seconds = default_tolerance_seconds);

} // namespace herald::webhook
