// herald-test-links: herald_policy
// The outcome policy: what becomes of a notification after an attempt.
#define CAF_SUITE outcome_policy

#include <caf/test/unit_test_impl.hpp>

#include "actors/policy/outcome_policy.hpp"

using namespace herald;
using std::chrono::milliseconds;

namespace {

constexpr int64_t now = 1'000'000;

outcome_policy make_policy() {
  outcome_policy_settings s;
  s.fallback = {milliseconds{1000}, milliseconds{60000}, 8};
  s.per_channel["webhook"] = {milliseconds{100}, milliseconds{400}, 3};
  s.horizon = milliseconds{10000};
  // Always the top of the jitter window: delays are exact.
  return outcome_policy{s, [] { return 0.999999999; }};
}

delivery_decision result(attempt_result outcome, bool retryable = false,
                         int32_t status = 0, int64_t retry_after_ms = -1) {
  delivery_decision out;
  out.outcome = outcome;
  out.retryable = retryable;
  out.http_status = status;
  out.retry_after_ms = retry_after_ms;
  return out;
}

} // namespace

CAF_TEST(delivered) {
  auto p = make_policy();
  auto out = result(attempt_result::delivered, false, 200);
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 0, now), 1);
  CAF_CHECK_EQUAL(to_string(out.status), "delivered");
  CAF_CHECK_EQUAL(out.next_attempt_ms, 0);
  CAF_CHECK(!out.keep_lease);
}

CAF_TEST(permanent failures are dead lettered at once) {
  auto p = make_policy();
  auto out = result(attempt_result::failed, false, 400);
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 0, now), 1);
  CAF_CHECK_EQUAL(to_string(out.status), "dead_lettered");
  CAF_CHECK_EQUAL(out.reason, "permanent: HTTP 400");
}

CAF_TEST(retryable failures follow the backoff of the channel) {
  auto p = make_policy();
  // Ceilings 100, 200, 400 ms; the random source draws the top.
  auto out = result(attempt_result::failed, true, 503);
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 0, now), 1);
  CAF_CHECK_EQUAL(to_string(out.status), "retry_scheduled");
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 100);
  CAF_CHECK(out.keep_lease);
  CAF_CHECK_EQUAL(out.reason, "retry 2 of 3 after: HTTP 503");
  out = result(attempt_result::failed, true, 503);
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 1, now), 2);
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 200);
  out = result(attempt_result::failed, true, 503);
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 2, now), 3);
  CAF_CHECK_EQUAL(to_string(out.status), "dead_lettered");
  CAF_CHECK_EQUAL(out.reason, "exhausted: 3 attempts, last: HTTP 503");
}

CAF_TEST(other channels use the default policy) {
  auto p = make_policy();
  auto out = result(attempt_result::failed, true, 0);
  out.error = "timeout";
  p.decide(out, "sms", 0, now);
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 1000);
  CAF_CHECK_EQUAL(out.reason, "retry 2 of 8 after: timeout");
  CAF_CHECK_EQUAL(p.policy("sms").max_attempts, 8);
}

CAF_TEST(retry after is honoured exactly up to the max delay) {
  auto p = make_policy();
  auto out = result(attempt_result::failed, true, 429, 250);
  p.decide(out, "webhook", 0, now);
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 250);
  out = result(attempt_result::failed, true, 429, 5000);
  p.decide(out, "webhook", 0, now);
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 400);
}

CAF_TEST(a retry beyond the horizon releases the lease) {
  auto p = make_policy();
  auto out = result(attempt_result::failed, true, 503);
  p.decide(out, "sms", 5, now); // ceiling 32 s > 10 s horizon
  CAF_CHECK_EQUAL(to_string(out.status), "retry_scheduled");
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 32000);
  CAF_CHECK(!out.keep_lease);
}

CAF_TEST(deferrals wait for the cool down and count nothing) {
  auto p = make_policy();
  auto out = result(attempt_result::deferred, false, 0, 30000);
  out.error = "breaker open";
  CAF_CHECK_EQUAL(p.decide(out, "webhook", 2, now), 2);
  CAF_CHECK_EQUAL(to_string(out.status), "retry_scheduled");
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 30000);
  CAF_CHECK(!out.keep_lease); // beyond the horizon: back to the database
  CAF_CHECK_EQUAL(out.reason, "deferred: breaker open");
  out = result(attempt_result::deferred, false, 0, -1);
  p.decide(out, "webhook", 2, now);
  CAF_CHECK_EQUAL(out.next_attempt_ms, now + 1000);
  CAF_CHECK(out.keep_lease);
}
