// herald-test-links: herald_channels
// Error classification: every webhook status boundary, the transport flags,
// Retry-After, and the SMTP, SMS (Twilio-shaped) and push (FCM/APNs-shaped)
// rules.
#define CAF_SUITE classify
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "channels/classify.hpp"

using namespace herald;

namespace {

constexpr auto ok = delivery_class::ok;
constexpr auto retry = delivery_class::retryable;
constexpr auto perm = delivery_class::permanent;

std::string str(delivery_class x) {
  return to_string(x);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

} // namespace

CAF_TEST(names) {
  CAF_CHECK_EQUAL(str(ok), "ok");
  CAF_CHECK_EQUAL(str(retry), "retryable");
  CAF_CHECK_EQUAL(str(perm), "permanent");
}

CAF_TEST(webhook statuses) {
  struct row {
    int status;
    delivery_class kind;
    std::string reason_part;
  };
  std::vector<row> rows{
    {100, perm, "interim"},   {199, perm, "interim"},
    {200, ok, "HTTP 200"},    {201, ok, "HTTP 201"},
    {204, ok, "HTTP 204"},    {299, ok, "HTTP 299"},
    {300, perm, "redirect"},  {301, perm, "redirect"},
    {302, perm, "redirect"},  {304, perm, "redirect"},
    {307, perm, "redirect"},  {308, perm, "redirect"},
    {399, perm, "redirect"},  {400, perm, "HTTP 400"},
    {401, perm, "HTTP 401"},  {403, perm, "HTTP 403"},
    {404, perm, "HTTP 404"},  {407, perm, "HTTP 407"},
    {408, retry, "HTTP 408"}, {409, perm, "HTTP 409"},
    {410, perm, "HTTP 410"},  {413, perm, "HTTP 413"},
    {422, perm, "HTTP 422"},  {428, perm, "HTTP 428"},
    {429, retry, "HTTP 429"}, {430, perm, "HTTP 430"},
    {499, perm, "HTTP 499"},  {500, retry, "HTTP 500"},
    {502, retry, "HTTP 502"}, {503, retry, "HTTP 503"},
    {504, retry, "HTTP 504"}, {599, retry, "HTTP 599"},
    // Outside 100..599: treated as 5xx (RFC 9110 §15).
    {600, retry, "invalid HTTP status 600"},
    {999, retry, "invalid HTTP status 999"},
    {99, retry, "invalid HTTP status 99"},
    {-1, retry, "invalid HTTP status -1"},
    // No answer at all.
    {0, retry, "no HTTP answer"},
  };
  for (auto& r : rows) {
    CAF_MESSAGE("status " << r.status);
    auto c = classify_webhook(r.status, false, false, -1);
    CAF_CHECK_EQUAL(str(c.kind), str(r.kind));
    CAF_CHECK(!c.retry_after);
    CAF_CHECK(contains(c.reason, r.reason_part));
  }
}

CAF_TEST(webhook transport failures) {
  struct row {
    int status;
    bool timed_out;
    bool connection_error;
    delivery_class kind;
    std::string reason;
  };
  std::vector<row> rows{
    {0, true, false, retry, "timeout"},
    {0, false, true, retry, "connection error"},
    {0, true, true, retry, "timeout"},
    {0, false, false, retry, "no HTTP answer"},
    {700, true, false, retry, "timeout"},
    // A real answer decides, whatever the flags say: a 2xx is never sent
    // again (DESIGN.md invariant 3).
    {200, true, false, ok, "HTTP 200"},
    {200, false, true, ok, "HTTP 200"},
    {404, true, true, perm, "HTTP 404"},
    {503, true, false, retry, "HTTP 503"},
  };
  for (auto& r : rows) {
    CAF_MESSAGE(r.status << " " << r.timed_out << " " << r.connection_error);
    auto c = classify_webhook(r.status, r.timed_out, r.connection_error, -1);
    CAF_CHECK_EQUAL(str(c.kind), str(r.kind));
    CAF_CHECK_EQUAL(c.reason, r.reason);
  }
}

CAF_TEST(webhook retry after is kept exactly on retryable results only) {
  struct row {
    int status;
    bool timed_out;
    int64_t retry_after_ms;
    bool kept;
  };
  std::vector<row> rows{
    {429, false, 120'000, true}, {503, false, 0, true},
    {503, false, 1, true},       {500, false, 86'400'000, true},
    {408, false, 5'000, true},   {0, true, 7'000, true},
    {503, false, -1, false},     {429, false, -1, false},
    {200, false, 5'000, false},  {404, false, 5'000, false},
    {301, false, 5'000, false},  {199, false, 5'000, false},
  };
  for (auto& r : rows) {
    CAF_MESSAGE(r.status << " retry after " << r.retry_after_ms);
    auto c = classify_webhook(r.status, r.timed_out, false, r.retry_after_ms);
    CAF_CHECK_EQUAL(c.retry_after.has_value(), r.kept);
    if (r.kept && c.retry_after)
      CAF_CHECK_EQUAL(c.retry_after->count(), r.retry_after_ms);
  }
}

CAF_TEST(smtp replies) {
  struct row {
    int code;
    bool timed_out;
    bool connection_error;
    std::string enhanced;
    delivery_class kind;
    std::string reason_part;
  };
  std::vector<row> rows{
    {250, false, false, "", ok, "SMTP 250"},
    {251, false, false, "", ok, "SMTP 251"},
    {200, false, false, "", ok, "SMTP 200"},
    {299, false, false, "", ok, "SMTP 299"},
    {354, false, false, "", perm, "not a final reply"},
    {300, false, false, "", perm, "not a final reply"},
    {399, false, false, "", perm, "not a final reply"},
    {199, false, false, "", perm, "not a final reply"},
    {400, false, false, "", retry, "transient"},
    {421, false, false, "", retry, "SMTP 421"},
    {450, false, false, "4.2.1", retry, "SMTP 450 4.2.1"},
    {451, false, false, "", retry, "transient"},
    {452, false, false, "4.5.3", retry, "transient"},
    {499, false, false, "", retry, "transient"},
    {500, false, false, "", perm, "SMTP 500"},
    {550, false, false, "5.1.1", perm, "SMTP 550 5.1.1"},
    {552, false, false, "", perm, "permanent"},
    {552, false, false, "5.3.4", perm, "permanent"},
    {552, false, false, "4.5.3", retry, "enhanced status"},
    {554, false, false, "5.7.1", perm, "permanent"},
    {599, false, false, "", perm, "permanent"},
    // A transient reply stays transient whatever the enhanced code says.
    {450, false, false, "5.1.1", retry, "transient"},
    // Malformed enhanced codes do not count.
    {550, false, false, "4", perm, "permanent"},
    {550, false, false, "44.1", perm, "permanent"},
    {0, true, false, "", retry, "timeout"},
    {0, false, true, "", retry, "connection error"},
    {0, false, false, "", retry, "no SMTP reply"},
    {600, false, false, "", retry, "invalid SMTP reply code 600"},
    {-5, false, false, "", retry, "invalid SMTP reply code -5"},
    // A reply decides, whatever the flags say.
    {250, true, true, "", ok, "SMTP 250"},
    {550, true, false, "", perm, "SMTP 550"},
  };
  for (auto& r : rows) {
    CAF_MESSAGE("SMTP " << r.code << " " << r.enhanced);
    auto c = classify_smtp(r.code, r.timed_out, r.connection_error,
                           r.enhanced);
    CAF_CHECK_EQUAL(str(c.kind), str(r.kind));
    CAF_CHECK(!c.retry_after);
    CAF_CHECK(contains(c.reason, r.reason_part));
  }
}

CAF_TEST(sms answers) {
  struct row {
    int status;
    std::string code;
    delivery_class kind;
    std::string reason_part;
  };
  std::vector<row> rows{
    {200, "", ok, "HTTP 200"},
    {201, "", ok, "HTTP 201"},
    {201, "21211", ok, "HTTP 201"}, // a 2xx is delivered, code or not
    {400, "21211", perm, "invalid 'To' number"},
    {400, "21214", perm, "cannot be reached"},
    {400, "21408", perm, "region"},
    {400, "21610", perm, "unsubscribed"},
    {400, "21612", perm, "route"},
    {400, "21614", perm, "not a mobile number"},
    {400, "21617", perm, "too long"},
    {400, "30005", perm, "unknown destination"},
    {400, "30006", perm, "landline"},
    {400, "30007", perm, "filtered"},
    // Known retryable codes win over a 4xx status.
    {400, "14107", retry, "rate limit"},
    {429, "20429", retry, "too many requests"},
    {400, "30001", retry, "queue overflow"},
    {400, "30003", retry, "unreachable"},
    {400, "30008", retry, "unknown provider error"},
    {500, "20500", retry, "internal"},
    {503, "20503", retry, "unavailable"},
    // Known permanent codes win over a 5xx status.
    {503, "21211", perm, "21211 (HTTP 503)"},
    // Unknown codes: the HTTP rules.
    {400, "99999", perm, "HTTP 400 (99999)"},
    {401, "20003", perm, "HTTP 401 (20003)"},
    {404, "", perm, "HTTP 404"},
    {408, "", retry, "HTTP 408"},
    {429, "", retry, "HTTP 429"},
    {500, "", retry, "HTTP 500"},
    {502, "99999", retry, "HTTP 502 (99999)"},
    {301, "", perm, "redirect"},
    {0, "", retry, "no HTTP answer"},
    {600, "", retry, "invalid HTTP status 600"},
  };
  for (auto& r : rows) {
    CAF_MESSAGE(r.status << " " << r.code);
    auto c = classify_sms(r.status, r.code);
    CAF_CHECK_EQUAL(str(c.kind), str(r.kind));
    CAF_CHECK(!c.retry_after);
    CAF_CHECK(contains(c.reason, r.reason_part));
  }
}

CAF_TEST(push answers) {
  struct row {
    int status;
    std::string reason;
    delivery_class kind;
    std::string reason_part;
  };
  std::vector<row> rows{
    {200, "", ok, "HTTP 200"},
    {200, "UNREGISTERED", ok, "HTTP 200"},
    // FCM v1
    {404, "UNREGISTERED", perm, "no longer registered"},
    {400, "INVALID_ARGUMENT", perm, "invalid token"},
    {403, "SENDER_ID_MISMATCH", perm, "another sender"},
    {401, "THIRD_PARTY_AUTH_ERROR", perm, "credentials"},
    {403, "PERMISSION_DENIED", perm, "permission"},
    {401, "UNAUTHENTICATED", perm, "credentials"},
    {404, "NOT_FOUND", perm, "not found"},
    {503, "UNAVAILABLE", retry, "unavailable"},
    {500, "INTERNAL", retry, "internal"},
    {429, "QUOTA_EXCEEDED", retry, "quota"},
    {429, "RESOURCE_EXHAUSTED", retry, "quota"},
    {504, "DEADLINE_EXCEEDED", retry, "deadline"},
    // APNs
    {400, "BadDeviceToken", perm, "invalid device token"},
    {410, "Unregistered", perm, "no longer active"},
    {400, "DeviceTokenNotForTopic", perm, "topic"},
    {413, "PayloadTooLarge", perm, "too large"},
    {400, "TopicDisallowed", perm, "topic"},
    {429, "TooManyRequests", retry, "too many"},
    {500, "InternalServerError", retry, "internal"},
    {503, "ServiceUnavailable", retry, "unavailable"},
    {503, "Shutdown", retry, "shutting down"},
    // Reasons are matched exactly; unknown ones fall back to HTTP.
    {404, "unregistered", perm, "HTTP 404 (unregistered)"},
    {500, "UNSPECIFIED_ERROR", retry, "HTTP 500 (UNSPECIFIED_ERROR)"},
    {400, "UNSPECIFIED_ERROR", perm, "HTTP 400"},
    {429, "", retry, "HTTP 429"},
    {408, "", retry, "HTTP 408"},
    {403, "", perm, "HTTP 403"},
    {0, "", retry, "no HTTP answer"},
  };
  for (auto& r : rows) {
    CAF_MESSAGE(r.status << " " << r.reason);
    auto c = classify_push(r.status, r.reason);
    CAF_CHECK_EQUAL(str(c.kind), str(r.kind));
    CAF_CHECK(!c.retry_after);
    CAF_CHECK(contains(c.reason, r.reason_part));
  }
}

CAF_TEST(provider retry after is kept on retryable results only) {
  auto a = classify_push(429, "QUOTA_EXCEEDED", 30'000);
  CAF_REQUIRE(a.retry_after);
  CAF_CHECK_EQUAL(a.retry_after->count(), 30'000);
  auto b = classify_push(503, "", 0);
  CAF_REQUIRE(b.retry_after);
  CAF_CHECK_EQUAL(b.retry_after->count(), 0);
  CAF_CHECK(!classify_push(404, "UNREGISTERED", 30'000).retry_after);
  CAF_CHECK(!classify_push(200, "", 30'000).retry_after);
  auto c = classify_sms(429, "20429", 2'000);
  CAF_REQUIRE(c.retry_after);
  CAF_CHECK_EQUAL(c.retry_after->count(), 2'000);
  CAF_CHECK(!classify_sms(400, "21211", 2'000).retry_after);
  CAF_CHECK(!classify_sms(503, "", -1).retry_after);
}
