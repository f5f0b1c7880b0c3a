// herald-test-links: herald_policy
// The retry schedule: jitter window per attempt, uniform draws, the cap,
// huge attempt numbers, Retry-After precedence and its ceiling, the budget.
#define CAF_SUITE backoff
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "actors/policy/backoff.hpp"

using namespace herald;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

namespace {

/// A source that always returns `x`.
unit_random constant(double x) {
  return [x] { return x; };
}

/// Just below 1: the top of every window.
const double almost_one = std::nextafter(1.0, 0.0);

constexpr int64_t max64 = std::numeric_limits<int64_t>::max();

} // namespace

CAF_TEST(the jitter window doubles per attempt up to the cap) {
  struct row {
    int attempt;
    milliseconds ceiling;
  };
  // Defaults: 1 s base, 1 h cap. 2^11 s = 2048 s, 2^12 s = 4096 s > 3600 s.
  std::vector<row> rows{
    {-5, 1s},      {0, 1s},        {1, 1s},       {2, 2s},
    {3, 4s},       {4, 8s},        {8, 128s},     {12, 2048s},
    {13, 3600s},   {14, 3600s},    {63, 3600s},   {64, 3600s},
    {65, 3600s},   {1000, 3600s},  {std::numeric_limits<int>::max(), 3600s},
  };
  backoff b{retry_policy{}, constant(0.0)};
  for (auto& r : rows) {
    CAF_MESSAGE("attempt " << r.attempt);
    CAF_CHECK_EQUAL(b.ceiling(r.attempt).count(), r.ceiling.count());
  }
}

CAF_TEST(every delay stays inside its window) {
  backoff b{retry_policy{}, make_unit_random(7)};
  for (int attempt = 1; attempt <= 70; ++attempt) {
    auto top = b.ceiling(attempt);
    for (int i = 0; i < 200; ++i) {
      auto d = b.delay(attempt);
      CAF_REQUIRE(d >= 0ms);
      CAF_REQUIRE(d <= top);
    }
  }
  // The edges of the source map to the edges of the window.
  for (int attempt : {1, 2, 5, 13, 64, 1000}) {
    backoff lo{retry_policy{}, constant(0.0)};
    backoff hi{retry_policy{}, constant(almost_one)};
    CAF_CHECK_EQUAL(lo.delay(attempt).count(), 0);
    CAF_CHECK_EQUAL(hi.delay(attempt).count(), hi.ceiling(attempt).count());
  }
  // The middle maps to the middle (1001 whole ms in [0, 1000]).
  backoff mid{retry_policy{}, constant(0.5)};
  CAF_CHECK_EQUAL(mid.delay(1).count(), 500);
  CAF_CHECK_EQUAL(mid.delay(2).count(), 1000);
}

CAF_TEST(a broken random source cannot leave the window) {
  for (double x : {-1.0, 1.0, 2.0, std::numeric_limits<double>::infinity(),
                   -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    backoff b{retry_policy{}, constant(x)};
    for (int attempt : {1, 3, 64}) {
      auto d = b.delay(attempt);
      CAF_CHECK(d >= 0ms);
      CAF_CHECK(d <= b.ceiling(attempt));
    }
  }
  // No source at all: always the bottom of the window.
  backoff none{retry_policy{}, nullptr};
  CAF_CHECK_EQUAL(none.delay(5).count(), 0);
}

CAF_TEST(draws are roughly uniform over the window) {
  // 100,000 draws per window with a fixed seed: the mean is within 1 % of the
  // window of top / 2, and each tenth of the window gets 10 % +- 1 %.
  backoff b{retry_policy{}, make_unit_random(42)};
  for (int attempt : {1, 4, 13}) {
    auto top = static_cast<double>(b.ceiling(attempt).count());
    constexpr int n = 100'000;
    double sum = 0;
    std::vector<int> deciles(10, 0);
    for (int i = 0; i < n; ++i) {
      auto d = static_cast<double>(b.delay(attempt).count());
      sum += d;
      deciles[std::min(9, static_cast<int>(d / (top + 1) * 10))]++;
    }
    auto mean = sum / n;
    CAF_MESSAGE("attempt " << attempt << ": mean " << mean << " of "
                           << top);
    CAF_CHECK(std::abs(mean - top / 2) < top * 0.01);
    for (auto count : deciles)
      CAF_CHECK(std::abs(count - n / 10) < n / 100);
  }
}

CAF_TEST(the same seed gives the same schedule) {
  backoff a{retry_policy{}, make_unit_random(1234)};
  backoff b{retry_policy{}, make_unit_random(1234)};
  backoff c{retry_policy{}, make_unit_random(1235)};
  int differ = 0;
  for (int attempt = 1; attempt <= 20; ++attempt) {
    auto x = a.delay(attempt);
    CAF_CHECK_EQUAL(x.count(), b.delay(attempt).count());
    differ += x != c.delay(attempt) ? 1 : 0;
  }
  CAF_CHECK(differ > 15);
}

CAF_TEST(large attempt numbers and extreme policies do not overflow) {
  // The largest possible cap: 2^(n-1) overflows int64 from n = 64 on.
  retry_policy huge{1ms, milliseconds{max64}, 8};
  backoff b{huge, constant(almost_one)};
  CAF_CHECK_EQUAL(b.ceiling(1).count(), 1);
  CAF_CHECK_EQUAL(b.ceiling(63).count(), int64_t{1} << 62);
  CAF_CHECK_EQUAL(b.ceiling(64).count(), max64);
  CAF_CHECK_EQUAL(b.ceiling(1000).count(), max64);
  // Beyond 2^53 ms a double no longer holds every millisecond: the top of
  // the window is reached to within 2^11 ms, and never passed.
  for (int attempt : {64, 1000}) {
    auto d = b.delay(attempt).count();
    CAF_CHECK(d <= max64);
    CAF_CHECK(d > max64 - 2048);
  }
  backoff z{huge, constant(0.0)};
  CAF_CHECK_EQUAL(z.delay(1000).count(), 0);
  // A base of a year and a cap of INT64_MAX ms.
  retry_policy year{8760h, milliseconds{max64}, 8};
  backoff y{year, make_unit_random(3)};
  for (int attempt : {1, 20, 30, 63, 64, 65, 1000}) {
    auto top = y.ceiling(attempt);
    CAF_CHECK(top >= year.base_delay);
    auto d = y.delay(attempt);
    CAF_CHECK(d >= 0ms && d <= top);
  }
  // Base above the cap: the cap from the first attempt on.
  backoff above{retry_policy{10s, 3s, 8}, constant(almost_one)};
  CAF_CHECK_EQUAL(above.ceiling(1).count(), 3000);
  CAF_CHECK_EQUAL(above.ceiling(1000).count(), 3000);
}

CAF_TEST(degenerate policies are clamped) {
  // Negative delays count as 0: every delay is 0.
  backoff neg{retry_policy{-5s, -1s, 3}, constant(almost_one)};
  CAF_CHECK_EQUAL(neg.ceiling(1).count(), 0);
  CAF_CHECK_EQUAL(neg.delay(10).count(), 0);
  CAF_CHECK_EQUAL(neg.delay(1, 5s).count(), 0); // ceiling = max_delay = 0
  // A zero base never grows.
  backoff zero{retry_policy{0ms, 1h, 3}, constant(almost_one)};
  CAF_CHECK_EQUAL(zero.ceiling(50).count(), 0);
  // max_attempts below 1: one attempt and no retry.
  for (int m : {0, -3}) {
    backoff b{retry_policy{1s, 1h, m}, constant(0.5)};
    CAF_CHECK_EQUAL(b.policy().max_attempts, 1);
    CAF_CHECK(!b.exhausted(0));
    CAF_CHECK(b.exhausted(1));
  }
}

CAF_TEST(retry after is honoured exactly up to the ceiling) {
  struct row {
    int attempt;
    std::optional<milliseconds> retry_after;
    milliseconds expected;
  };
  // The source returns the top of the window, so a jittered value is visibly
  // different from any Retry-After below.
  std::vector<row> rows{
    {1, std::nullopt, 1000ms}, // jitter
    {3, std::nullopt, 4000ms}, // jitter
    {1, 0ms, 0ms},             // "retry now" is honoured
    {1, 1ms, 1ms},
    {1, 120s, 120s},           // above the jitter window of attempt 1
    {8, 5s, 5s},               // below the jitter window of attempt 8
    {20, 7s, 7s},              // jitter would be capped at 1 h
    {1, 3600s, 3600s},         // exactly the ceiling
    {1, 3600001ms, 3600s},     // beyond it: the ceiling
    {1, 24h, 3600s},
    {1, milliseconds{max64}, 3600s},
    {1, -5s, 0ms},             // a date in the past
  };
  for (auto& r : rows) {
    backoff b{retry_policy{}, constant(almost_one)};
    CAF_CHECK_EQUAL(b.delay(r.attempt, r.retry_after).count(),
                    r.expected.count());
  }
}

CAF_TEST(the retry after ceiling is configurable) {
  backoff lower{retry_policy{}, constant(0.0), 10min};
  CAF_CHECK_EQUAL(lower.retry_after_ceiling().count(), 600'000);
  CAF_CHECK_EQUAL(lower.delay(1, 1h).count(), 600'000);
  CAF_CHECK_EQUAL(lower.delay(1, 9min).count(), 540'000);
  backoff higher{retry_policy{}, constant(0.0), 24h};
  CAF_CHECK_EQUAL(higher.delay(1, 2h).count(), 7'200'000);
  CAF_CHECK_EQUAL(higher.delay(1, 48h).count(), 86'400'000);
  // The ceiling does not touch the jittered delays.
  backoff top{retry_policy{}, constant(almost_one), 1s};
  CAF_CHECK_EQUAL(top.delay(13).count(), 3'600'000);
  // Default: max_delay.
  backoff dflt{retry_policy{1s, 5min, 8}, constant(0.0)};
  CAF_CHECK_EQUAL(dflt.retry_after_ceiling().count(), 300'000);
}

CAF_TEST(a present retry after draws no random number) {
  int draws = 0;
  backoff b{retry_policy{}, [&draws] {
              ++draws;
              return 0.25;
            }};
  b.delay(3, 2s);
  CAF_CHECK_EQUAL(draws, 0);
  b.delay(3, std::nullopt);
  CAF_CHECK_EQUAL(draws, 1);
  b.delay(3);
  CAF_CHECK_EQUAL(draws, 2);
}

CAF_TEST(exhausted counts every attempt including the first) {
  struct row {
    int max_attempts;
    int attempts_made;
    bool exhausted;
  };
  std::vector<row> rows{
    {8, 0, false}, {8, 1, false}, {8, 7, false}, {8, 8, true},
    {8, 9, true},  {8, 1000, true}, {1, 0, false}, {1, 1, true},
    {2, 1, false}, {2, 2, true},  {8, -1, false},
  };
  for (auto& r : rows) {
    backoff b{retry_policy{1s, 1h, r.max_attempts}, constant(0.0)};
    CAF_CHECK_EQUAL(b.exhausted(r.attempts_made), r.exhausted);
  }
}

CAF_TEST(next gives up when the budget is spent and waits otherwise) {
  backoff b{retry_policy{1s, 1h, 3}, constant(almost_one)};
  auto d = b.next(1);
  CAF_CHECK(!d.give_up);
  CAF_CHECK_EQUAL(d.delay.count(), 1000);
  CAF_CHECK(!d.from_retry_after);
  d = b.next(2, 30s);
  CAF_CHECK(!d.give_up);
  CAF_CHECK_EQUAL(d.delay.count(), 30'000);
  CAF_CHECK(d.from_retry_after);
  // Third attempt failed: budget spent, Retry-After or not.
  for (auto ra : {std::optional<milliseconds>{}, std::optional<milliseconds>{1s}}) {
    d = b.next(3, ra);
    CAF_CHECK(d.give_up);
    CAF_CHECK_EQUAL(d.delay.count(), 0);
    CAF_CHECK(!d.from_retry_after);
  }
}

CAF_TEST(a whole default schedule) {
  // Eight attempts with the top of every window: 1+2+4+...+64 s of waiting,
  // then dead-lettered.
  backoff b{retry_policy{}, constant(almost_one)};
  std::vector<int64_t> waits;
  for (int attempt = 1;; ++attempt) {
    auto d = b.next(attempt);
    if (d.give_up)
      break;
    waits.push_back(d.delay.count());
  }
  CAF_CHECK_EQUAL(waits, (std::vector<int64_t>{1000, 2000, 4000, 8000, 16000,
                                               32000, 64000}));
}
