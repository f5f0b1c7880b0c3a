#include "channels/classify.hpp"

#include <utility>

namespace herald {

namespace {

using std::chrono::milliseconds;

classified make(delivery_class kind, std::string reason,
                int64_t retry_after_ms = -1) {
  classified result;
  result.kind = kind;
  result.reason = std::move(reason);
  if (kind == delivery_class::retryable && retry_after_ms >= 0)
    result.retry_after = milliseconds{retry_after_ms};
  return result;
}

classified retryable(std::string reason, int64_t retry_after_ms = -1) {
  return make(delivery_class::retryable, std::move(reason), retry_after_ms);
}

classified permanent(std::string reason) {
  return make(delivery_class::permanent, std::move(reason));
}

std::string http(int status) {
  return "HTTP " + std::to_string(status);
}

/// The HTTP answer rules shared by webhooks and the HTTP provider APIs.
/// nullopt if `status` is no real HTTP answer (outside 100..599).
std::optional<classified> classify_http_answer(int status,
                                               int64_t retry_after_ms) {
  if (status < 100 || status > 599)
    return std::nullopt;
  if (status < 200)
    return permanent(http(status) + ": interim status as the final answer");
  if (status < 300)
    return make(delivery_class::ok, http(status));
  if (status < 400)
    return permanent(http(status) + ": redirects are not followed");
  if (status == 408)
    return retryable(http(status) + ": request timeout", retry_after_ms);
  if (status == 429)
    return retryable(http(status) + ": too many requests", retry_after_ms);
  if (status < 500)
    return permanent(http(status));
  return retryable(http(status), retry_after_ms);
}

/// No real HTTP answer: network trouble or a status outside 100..599.
classified classify_no_answer(int status, bool timed_out,
                              bool connection_error, int64_t retry_after_ms) {
  if (timed_out)
    return retryable("timeout", retry_after_ms);
  if (connection_error)
    return retryable("connection error", retry_after_ms);
  if (status == 0)
    return retryable("no HTTP answer", retry_after_ms);
  return retryable("invalid HTTP status " + std::to_string(status)
                     + " (treated as 5xx)",
                   retry_after_ms);
}

struct provider_rule {
  std::string_view code;
  delivery_class kind;
  std::string_view meaning;
};

template <size_t N>
const provider_rule* find_rule(const provider_rule (&table)[N],
                               std::string_view code) {
  if (code.empty())
    return nullptr;
  for (auto& rule : table)
    if (rule.code == code)
      return &rule;
  return nullptr;
}

constexpr auto perm = delivery_class::permanent;
constexpr auto retry = delivery_class::retryable;

/// Twilio error codes (https://www.twilio.com/docs/api/errors). Codes not
/// listed fall back to the HTTP status.
const provider_rule sms_rules[] = {
  {"21211", perm, "invalid 'To' number"},
  {"21214", perm, "'To' number cannot be reached"},
  {"21408", perm, "sending to this region is not enabled"},
  {"21610", perm, "recipient unsubscribed (STOP)"},
  {"21612", perm, "no route between the numbers"},
  {"21614", perm, "'To' number is not a mobile number"},
  {"21617", perm, "message body too long"},
  {"30005", perm, "unknown destination handset"},
  {"30006", perm, "landline or unreachable carrier"},
  {"30007", perm, "filtered by the carrier"},
  {"14107", retry, "send rate limit exceeded"},
  {"20429", retry, "too many requests"},
  {"20500", retry, "provider internal error"},
  {"20503", retry, "provider unavailable"},
  {"30001", retry, "queue overflow"},
  {"30003", retry, "destination handset unreachable"},
  {"30008", retry, "unknown provider error"},
};

/// FCM v1 (https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode)
/// and APNs reasons. Reasons not listed fall back to the HTTP status.
const provider_rule push_rules[] = {
  {"UNREGISTERED", perm, "device token no longer registered"},
  {"INVALID_ARGUMENT", perm, "invalid token or message"},
  {"SENDER_ID_MISMATCH", perm, "token belongs to another sender"},
  {"THIRD_PARTY_AUTH_ERROR", perm, "APNs or web push credentials rejected"},
  {"PERMISSION_DENIED", perm, "permission denied"},
  {"UNAUTHENTICATED", perm, "credentials rejected"},
  {"NOT_FOUND", perm, "not found"},
  {"UNAVAILABLE", retry, "provider unavailable"},
  {"INTERNAL", retry, "provider internal error"},
  {"QUOTA_EXCEEDED", retry, "sending quota exceeded"},
  {"RESOURCE_EXHAUSTED", retry, "sending quota exceeded"},
  {"DEADLINE_EXCEEDED", retry, "provider deadline exceeded"},
  // APNs
  {"BadDeviceToken", perm, "invalid device token"},
  {"Unregistered", perm, "device token no longer active"},
  {"DeviceTokenNotForTopic", perm, "token does not match the topic"},
  {"PayloadTooLarge", perm, "payload too large"},
  {"TopicDisallowed", perm, "topic not allowed"},
  {"TooManyRequests", retry, "too many requests for this token"},
  {"InternalServerError", retry, "provider internal error"},
  {"ServiceUnavailable", retry, "provider unavailable"},
  {"Shutdown", retry, "provider server shutting down"},
};

template <size_t N>
classified classify_provider(const provider_rule (&table)[N],
                             int http_status, std::string_view code,
                             int64_t retry_after_ms) {
  if (http_status >= 200 && http_status <= 299)
    return make(delivery_class::ok, http(http_status));
  if (auto rule = find_rule(table, code)) {
    auto reason = std::string{rule->code} + " (" + http(http_status)
                  + "): " + std::string{rule->meaning};
    return make(rule->kind, std::move(reason), retry_after_ms);
  }
  if (auto answer = classify_http_answer(http_status, retry_after_ms)) {
    if (!code.empty())
      answer->reason += " (" + std::string{code} + ")";
    return std::move(*answer);
  }
  return classify_no_answer(http_status, false, false, retry_after_ms);
}

bool enhanced_class_4(std::string_view enhanced_status) {
  return enhanced_status.size() >= 2 && enhanced_status[0] == '4'
         && enhanced_status[1] == '.';
}

} // namespace

const char* to_string(delivery_class x) {
  switch (x) {
    case delivery_class::ok:
      return "ok";
    case delivery_class::retryable:
      return "retryable";
    case delivery_class::permanent:
      return "permanent";
  }
  return "?";
}

classified classify_webhook(int http_status, bool timed_out,
                            bool connection_error, int64_t retry_after_ms) {
  if (auto answer = classify_http_answer(http_status, retry_after_ms))
    return std::move(*answer);
  return classify_no_answer(http_status, timed_out, connection_error,
                            retry_after_ms);
}

classified classify_smtp(int reply_code, bool timed_out,
                         bool connection_error,
                         std::string_view enhanced_status) {
  auto smtp = [&] {
    auto s = "SMTP " + std::to_string(reply_code);
    if (!enhanced_status.empty())
      s += " " + std::string{enhanced_status};
    return s;
  };
  if (reply_code >= 200 && reply_code <= 299)
    return make(delivery_class::ok, smtp());
  if (reply_code >= 400 && reply_code <= 499)
    return retryable(smtp() + ": transient failure");
  if (reply_code >= 500 && reply_code <= 599) {
    if (enhanced_class_4(enhanced_status))
      return retryable(smtp() + ": transient per the enhanced status");
    return permanent(smtp() + ": permanent failure");
  }
  if ((reply_code >= 100 && reply_code <= 199)
      || (reply_code >= 300 && reply_code <= 399))
    return permanent(smtp() + ": not a final reply");
  if (timed_out)
    return retryable("timeout");
  if (connection_error)
    return retryable("connection error");
  if (reply_code == 0)
    return retryable("no SMTP reply");
  return retryable("invalid SMTP reply code " + std::to_string(reply_code));
}

classified classify_sms(int http_status, std::string_view provider_code,
                        int64_t retry_after_ms) {
  return classify_provider(sms_rules, http_status, provider_code,
                           retry_after_ms);
}

classified classify_push(int http_status, std::string_view provider_reason,
                         int64_t retry_after_ms) {
  return classify_provider(push_rules, http_status, provider_reason,
                           retry_after_ms);
}

} // namespace herald
