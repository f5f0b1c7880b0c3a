#include "channels/webhook_signature.hpp"

#include "core/crypto.hpp"

namespace herald::webhook {

namespace {

// Accepts only what an honest sender writes: 1 to 18 decimal digits (no
// sign, no fraction, no overflow).
std::optional<int64_t> parse_timestamp(std::string_view text) {
  if (text.empty() || text.size() > 18)
    return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::string raw_signature(const std::string& key, std::string_view msg_id,
                          int64_t timestamp_seconds, std::string_view body) {
  std::string content;
  content.reserve(msg_id.size() + body.size() + 24);
  content.append(msg_id);
  content += '.';
  content += std::to_string(timestamp_seconds);
  content += '.';
  content.append(body);
  return crypto::hmac_sha256(key, content);
}

} // namespace

std::string new_webhook_secret() {
  return std::string{secret_prefix} + crypto::base64_encode(
           crypto::random_bytes(24));
}

std::optional<std::string> signing_key(std::string_view secret) {
  if (secret.substr(0, secret_prefix.size()) == secret_prefix)
    secret.remove_prefix(secret_prefix.size());
  std::string padded{secret};
  while (padded.size() % 4 != 0)
    padded += '=';
  auto key = crypto::base64_decode(padded);
  if (!key || key->empty())
    return std::nullopt;
  return key;
}

bool is_valid_secret(std::string_view secret) {
  if (secret.substr(0, secret_prefix.size()) != secret_prefix)
    return false;
  auto key = signing_key(secret);
  return key && key->size() >= 24 && key->size() <= 64;
}

std::string sign(std::string_view secret, std::string_view msg_id,
                 int64_t timestamp_seconds, std::string_view body) {
  auto key = signing_key(secret);
  if (!key)
    return {};
  return "v1," + crypto::base64_encode(
           raw_signature(*key, msg_id, timestamp_seconds, body));
}

const char* to_string(verify_status x) {
  switch (x) {
    case verify_status::ok:
      return "ok";
    case verify_status::missing_header:
      return "missing_header";
    case verify_status::bad_timestamp:
      return "bad_timestamp";
    case verify_status::timestamp_out_of_tolerance:
      return "timestamp_out_of_tolerance";
    case verify_status::bad_secret:
      return "bad_secret";
    case verify_status::no_matching_signature:
      return "no_matching_signature";
  }
  return "unknown";
}

verify_status check(std::string_view secret, std::string_view msg_id,
                    std::string_view timestamp_header, std::string_view body,
                    std::string_view signature_header, int64_t now_seconds,
                    int64_t tolerance_seconds) {
  if (msg_id.empty() || timestamp_header.empty() || signature_header.empty())
    return verify_status::missing_header;
  auto ts = parse_timestamp(timestamp_header);
  if (!ts)
    return verify_status::bad_timestamp;
  // Both values are non-negative int64, so the difference cannot overflow;
  // a clock before 1970 is broken and would trust nothing anyway.
  if (now_seconds < 0 || tolerance_seconds < 0)
    return verify_status::timestamp_out_of_tolerance;
  auto skew = *ts > now_seconds ? *ts - now_seconds : now_seconds - *ts;
  if (skew > tolerance_seconds)
    return verify_status::timestamp_out_of_tolerance;
  auto key = signing_key(secret);
  if (!key)
    return verify_status::bad_secret;
  auto expected = raw_signature(*key, msg_id, *ts, body);
  // Check every entry without stopping early on a match: the count of
  // entries is public anyway, and this keeps the loop simple.
  bool matched = false;
  auto rest = signature_header;
  while (!rest.empty()) {
    auto space = rest.find(' ');
    auto entry = rest.substr(0, space);
    rest = space == std::string_view::npos ? std::string_view{}
                                           : rest.substr(space + 1);
    auto comma = entry.find(',');
    if (comma == std::string_view::npos || entry.substr(0, comma) != "v1")
      continue;
    auto decoded = crypto::base64_decode(entry.substr(comma + 1));
    if (decoded && crypto::constant_time_equal(*decoded, expected))
      matched = true;
  }
  return matched ? verify_status::ok : verify_status::no_matching_signature;
}

bool verify(std::string_view secret, std::string_view msg_id,
            std::string_view timestamp_header, std::string_view body,
            std::string_view signature_header, int64_t now_seconds,
            int64_t tolerance_seconds) {
  return check(secret, msg_id, timestamp_header, body, signature_header,
               now_seconds, tolerance_seconds)
         == verify_status::ok;
}

} // namespace herald::webhook
