// herald-test-links: herald_policy
// The token bucket of the rate limiter: refill, burst cap, partial and
// all-or-nothing takes, header arithmetic, reconfiguration, extreme values.
#define CAF_SUITE token_bucket
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "actors/policy/token_bucket.hpp"

using namespace herald;
using namespace std::chrono_literals;

namespace {

using time_point = token_bucket::time_point;

/// An arbitrary start: the bucket must not care where time begins.
const time_point t0 = time_point{} + 1000h;

template <class Duration>
int64_t ns(Duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

constexpr int32_t max32 = std::numeric_limits<int32_t>::max();

} // namespace

CAF_TEST(a new bucket is full) {
  token_bucket b{10, 5};
  CAF_CHECK(b.full(t0));
  CAF_CHECK_EQUAL(b.available(t0), 5);
  auto d = b.take(1, t0);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.granted, 1);
  CAF_CHECK_EQUAL(d.remaining, 4);
  CAF_CHECK_EQUAL(d.reset.count(), ns(100ms));
  CAF_CHECK_EQUAL(d.retry_after.count(), 0);
}

CAF_TEST(tokens refill at the rate and never beyond the burst) {
  struct row {
    std::chrono::nanoseconds after;
    int32_t available;
  };
  // 10 tokens/s, burst 5, emptied at t0.
  std::vector<row> rows{{0ms, 0},    {50ms, 0},  {99ms, 0},
                        {100ms, 1},  {199ms, 1}, {250ms, 2},
                        {499ms, 4},  {500ms, 5}, {501ms, 5},
                        {10s, 5},    {24h, 5}};
  for (auto& r : rows) {
    token_bucket b{10, 5};
    CAF_REQUIRE(b.take(5, t0).allowed);
    CAF_CHECK_EQUAL(b.available(t0 + r.after), r.available);
    CAF_CHECK_EQUAL(b.full(t0 + r.after), r.available == 5 && r.after >= 500ms);
  }
}

CAF_TEST(a steady stream at the rate is always allowed) {
  token_bucket b{10, 1};
  for (int i = 0; i < 1000; ++i) {
    auto d = b.take(1, t0 + i * 100ms);
    CAF_CHECK(d.allowed);
  }
  // One more in the same 100 ms is too many.
  CAF_CHECK(!b.take(1, t0 + 999 * 100ms + 50ms).allowed);
}

CAF_TEST(take is all or nothing) {
  token_bucket b{1, 5};
  auto d = b.take(3, t0);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.granted, 3);
  CAF_CHECK_EQUAL(d.remaining, 2);
  CAF_CHECK_EQUAL(d.reset.count(), ns(3s));
  CAF_CHECK_EQUAL(d.retry_after.count(), 0);
  // Two left: a take of 3 takes nothing and waits for the third token.
  d = b.take(3, t0);
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.granted, 0);
  CAF_CHECK_EQUAL(d.remaining, 2);
  CAF_CHECK_EQUAL(d.reset.count(), ns(3s));
  CAF_CHECK_EQUAL(d.retry_after.count(), ns(1s));
  CAF_CHECK(b.take(3, t0 + 1s).allowed);
}

CAF_TEST(take of more than the burst is never allowed) {
  token_bucket b{1, 5};
  auto d = b.take(6, t0);
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.granted, 0);
  CAF_CHECK_EQUAL(d.remaining, 5);
  CAF_CHECK_EQUAL(d.reset.count(), 0);
  CAF_CHECK(d.retry_after == token_bucket::duration::max()); // never
  CAF_CHECK(!b.take(6, t0 + 24h).allowed);
  CAF_CHECK_EQUAL(b.available(t0 + 24h), 5);
}

CAF_TEST(take_up_to grants what there is) {
  struct row {
    std::chrono::nanoseconds after; // since the bucket was emptied
    int32_t asked;
    int32_t granted;
    int32_t remaining;
    std::chrono::nanoseconds retry_after;
  };
  // 10 tokens/s, burst 5, emptied at t0.
  std::vector<row> rows{
    {0ms, 3, 0, 0, 100ms},   // nothing there: wait for one token
    {50ms, 3, 0, 0, 50ms},   // half a token there
    {150ms, 3, 1, 0, 50ms},  // 1.5 tokens: one granted, half left
    {300ms, 3, 3, 0, 0ms},   // exactly enough
    {400ms, 3, 3, 1, 0ms},   // more than enough
    {10s, 8, 5, 0, 100ms},   // a batch larger than the burst
    {10s, 0, 0, 5, 0ms},     // nothing asked, nothing taken
    {10s, -4, 0, 5, 0ms},    // nonsense asks nothing
  };
  for (auto& r : rows) {
    token_bucket b{10, 5};
    CAF_REQUIRE(b.take(5, t0).allowed);
    auto d = b.take_up_to(r.asked, t0 + r.after);
    CAF_CHECK_EQUAL(d.granted, r.granted);
    CAF_CHECK_EQUAL(d.allowed, r.granted > 0 || r.asked <= 0);
    CAF_CHECK_EQUAL(d.remaining, r.remaining);
    CAF_CHECK_EQUAL(d.retry_after.count(), r.retry_after.count());
  }
}

CAF_TEST(reset and retry after round up and are never zero when denied) {
  // 3 tokens/s: a token takes 333,333,333.3 ns.
  token_bucket b{3, 1};
  CAF_REQUIRE(b.take(1, t0).allowed);
  auto d = b.take(1, t0);
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.retry_after.count(), 333'333'334);
  CAF_CHECK_EQUAL(d.reset.count(), 333'333'334);
  CAF_CHECK_EQUAL(ceil_millis(d.retry_after), 334);
  CAF_CHECK_EQUAL(retry_after_seconds(d.retry_after), 1);
  CAF_CHECK(!b.take(1, t0 + 333'333'333ns).allowed);
  CAF_CHECK(b.take(1, t0 + 333'333'334ns).allowed);
  // Three tokens at 3/s: exactly one second, no rounding error.
  token_bucket c{3, 3};
  CAF_REQUIRE(c.take(3, t0).allowed);
  CAF_CHECK_EQUAL(c.take(1, t0).reset.count(), ns(1s));
  CAF_CHECK_EQUAL(c.available(t0 + 1s), 3);
  CAF_CHECK(c.full(t0 + 1s));
}

CAF_TEST(rounding helpers) {
  struct row {
    std::chrono::nanoseconds d;
    int64_t seconds;
    int64_t millis;
    int64_t retry_after;
  };
  std::vector<row> rows{
    {-5ms, 0, 0, 1},      {0ns, 0, 0, 1},           {1ns, 1, 1, 1},
    {1ms, 1, 1, 1},       {999'999ns, 1, 1, 1},     {1'000'001ns, 1, 2, 1},
    {999ms, 1, 999, 1},   {1s, 1, 1000, 1},         {1s + 1ns, 2, 1001, 2},
    {1500ms, 2, 1500, 2}, {60s, 60, 60'000, 60},
  };
  for (auto& r : rows) {
    CAF_CHECK_EQUAL(ceil_seconds(r.d), r.seconds);
    CAF_CHECK_EQUAL(ceil_millis(r.d), r.millis);
    CAF_CHECK_EQUAL(retry_after_seconds(r.d), r.retry_after);
  }
}

CAF_TEST(waiting retry_after is always enough) {
  // Random rates, bursts, asks and arrival times: every denial says to wait
  // a positive time, and after that time the same take succeeds.
  std::mt19937 rng{42};
  for (int round = 0; round < 200; ++round) {
    auto rate = std::uniform_int_distribution<int32_t>{1, 1000}(rng);
    auto burst = std::uniform_int_distribution<int32_t>{1, 50}(rng);
    token_bucket b{rate, burst};
    auto now = t0;
    for (int i = 0; i < 50; ++i) {
      now += std::chrono::microseconds{
        std::uniform_int_distribution<int>{0, 20'000}(rng)};
      auto n = std::uniform_int_distribution<int32_t>{1, burst}(rng);
      auto d = b.take(n, now);
      CAF_CHECK_EQUAL(d.remaining, b.available(now));
      if (!d.allowed) {
        CAF_REQUIRE(d.retry_after.count() > 0);
        CAF_CHECK(ceil_millis(d.retry_after) >= 1);
        CAF_CHECK(!b.take(n, now + d.retry_after - 1ns).allowed);
        CAF_CHECK(b.take(n, now + d.retry_after).allowed);
        now += d.retry_after;
      }
    }
  }
}

CAF_TEST(reconfigure keeps the fill capped at the new burst) {
  // Down: a full bucket of 10 becomes a full bucket of 4.
  token_bucket b{10, 10};
  b.reconfigure(10, 4, t0);
  CAF_CHECK_EQUAL(b.burst(), 4);
  CAF_CHECK_EQUAL(b.available(t0), 4);
  CAF_CHECK(b.full(t0));
  // Up: the 4 tokens stay 4; the difference refills at the rate.
  b.reconfigure(10, 10, t0);
  CAF_CHECK_EQUAL(b.available(t0), 4);
  CAF_CHECK(!b.full(t0));
  auto d = b.take(1, t0);
  CAF_CHECK_EQUAL(d.remaining, 3);
  CAF_CHECK_EQUAL(d.reset.count(), ns(700ms));
  CAF_CHECK(b.full(t0 + 700ms));
  CAF_CHECK_EQUAL(b.available(t0 + 700ms), 10);
}

CAF_TEST(reconfigure charges the time before it at the old rate) {
  token_bucket b{1, 10};
  CAF_REQUIRE(b.take(10, t0).allowed);
  // Half a token at 1/s, then half a token more at 10/s.
  b.reconfigure(10, 10, t0 + 500ms);
  CAF_CHECK_EQUAL(b.rate(), 10);
  CAF_CHECK_EQUAL(b.available(t0 + 549ms), 0);
  CAF_CHECK_EQUAL(b.available(t0 + 550ms), 1);
  // And down again: from the one token there, 1/s.
  b.reconfigure(1, 10, t0 + 550ms);
  CAF_CHECK_EQUAL(b.available(t0 + 1549ms), 1);
  CAF_CHECK_EQUAL(b.available(t0 + 1550ms), 2);
}

CAF_TEST(limits below one are clamped to one) {
  for (auto [rate, burst] : std::vector<std::pair<int32_t, int32_t>>{
         {0, 0}, {-1, -1}, {0, 5}, {5, 0}}) {
    token_bucket b{rate, burst};
    CAF_CHECK(b.rate() >= 1);
    CAF_CHECK(b.burst() >= 1);
    CAF_CHECK(b.take(1, t0).allowed);
  }
  token_bucket b{5, 5};
  b.reconfigure(0, -3, t0);
  CAF_CHECK_EQUAL(b.rate(), 1);
  CAF_CHECK_EQUAL(b.burst(), 1);
  CAF_CHECK_EQUAL(b.available(t0), 1);
}

CAF_TEST(long idle periods and extreme limits do not overflow) {
  // The largest limits, emptied, then 100 years of idleness.
  token_bucket big{max32, max32};
  auto d = big.take(max32, t0);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 0);
  CAF_CHECK_EQUAL(d.reset.count(), ns(1s));
  CAF_CHECK_EQUAL(big.available(t0 + 24h * 365 * 100), max32);
  CAF_CHECK(big.full(t0 + 24h * 365 * 100));
  // A huge bucket that refills slowly: ten years give exactly that many
  // seconds' worth of tokens.
  token_bucket slow{1, max32};
  CAF_REQUIRE(slow.take(max32, t0).allowed);
  CAF_CHECK_EQUAL(slow.available(t0 + 24h * 365 * 10), 315'360'000);
  CAF_CHECK_EQUAL(slow.take(1, t0 + 24h * 365 * 10).remaining, 315'359'999);
  // The wait for a whole max-size bucket at 1/s: 68 years, in range.
  auto w = slow.take(max32, t0 + 24h * 365 * 10);
  CAF_CHECK(!w.allowed);
  CAF_CHECK_EQUAL(w.retry_after.count(),
                  ns(std::chrono::seconds{int64_t{max32} - 315'359'999}));
}

CAF_TEST(time going backwards refills nothing) {
  token_bucket b{10, 5};
  CAF_REQUIRE(b.take(5, t0).allowed);
  CAF_CHECK_EQUAL(b.available(t0 - 10s), 0);
  CAF_CHECK_EQUAL(b.available(t0 + 100ms), 1);
}

CAF_TEST(tokens shows the fraction) {
  token_bucket b{10, 5};
  CAF_REQUIRE(b.take(5, t0).allowed);
  b.available(t0 + 150ms);
  CAF_CHECK_EQUAL(b.tokens(), 1.5);
}
