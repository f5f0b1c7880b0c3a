// herald-test-links: herald_policy
#define CAF_SUITE denial_memo
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/policy/denial_memo.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

rate_decision denied(int64_t retry_after_ms, int64_t reset_ms = 10000) {
  rate_decision d;
  d.allowed = false;
  d.granted = 0;
  d.limit = 100;
  d.remaining = 0;
  d.reset_ms = reset_ms;
  d.retry_after_ms = retry_after_ms;
  return d;
}

rate_decision allowed() {
  rate_decision d;
  d.allowed = true;
  d.granted = 1;
  d.limit = 100;
  d.remaining = 5;
  d.reset_ms = 950;
  return d;
}

const auto t0 = denial_memo::clock::time_point{} + 1h;

} // namespace

CAF_TEST(a denial holds until the next token and counts down) {
  denial_memo m;
  CAF_CHECK(!m.denial("acme", 10, 100, t0));
  m.note("acme", 10, 100, denied(100), t0);
  auto d = m.denial("acme", 10, 100, t0 + 40ms);
  CAF_REQUIRE(d);
  CAF_CHECK(!d->allowed);
  CAF_CHECK_EQUAL(d->granted, 0);
  CAF_CHECK_EQUAL(d->limit, 100);
  CAF_CHECK_EQUAL(d->remaining, 0);
  CAF_CHECK_EQUAL(d->retry_after_ms, 60);
  CAF_CHECK_EQUAL(d->reset_ms, 10000 - 40);
  // Less than a millisecond left is still 1 ms, never 0.
  d = m.denial("acme", 10, 100, t0 + 99ms + 500us);
  CAF_REQUIRE(d);
  CAF_CHECK_EQUAL(d->retry_after_ms, 1);
  // The token is there: the limiter decides again, and the entry is gone.
  CAF_CHECK(!m.denial("acme", 10, 100, t0 + 100ms));
  CAF_CHECK_EQUAL(m.size(), 0u);
}

CAF_TEST(other tenants and changed limits are not answered from memory) {
  denial_memo m;
  m.note("acme", 10, 100, denied(100), t0);
  CAF_CHECK(!m.denial("other", 10, 100, t0));
  // A new rate or burst (admin API): ask the limiter at once.
  CAF_CHECK(!m.denial("acme", 20, 100, t0 + 1ms));
  m.note("acme", 10, 100, denied(100), t0);
  CAF_CHECK(!m.denial("acme", 10, 50, t0 + 1ms));
}

CAF_TEST(an allowed answer forgets the tenant and is never kept) {
  denial_memo m;
  m.note("acme", 10, 100, denied(100), t0);
  m.note("acme", 10, 100, allowed(), t0 + 1ms);
  CAF_CHECK(!m.denial("acme", 10, 100, t0 + 2ms));
  m.note("b", 10, 100, allowed(), t0);
  CAF_CHECK_EQUAL(m.size(), 0u);
  // A denial without a time to wait is not kept either.
  m.note("c", 10, 100, denied(0), t0);
  CAF_CHECK_EQUAL(m.size(), 0u);
}

CAF_TEST(expired entries of tenants that went quiet are swept) {
  denial_memo m;
  for (int i = 0; i < 1500; ++i)
    m.note("t" + std::to_string(i), 1, 1, denied(1000), t0);
  // The sweep runs as the map grows; entries 1 s old are gone then.
  for (int i = 0; i < 10; ++i)
    m.note("late" + std::to_string(i), 1, 1, denied(1000), t0 + 2s);
  CAF_CHECK_LESS_OR_EQUAL(m.size(), 1500u + 10u);
  for (int i = 0; i < 2000; ++i)
    m.note("later" + std::to_string(i), 1, 1, denied(1000), t0 + 5s);
  CAF_CHECK_LESS_OR_EQUAL(m.size(), 2000u);
  CAF_CHECK(m.denial("later1", 1, 1, t0 + 5s));
}
