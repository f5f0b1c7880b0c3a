#include "actors/policy/backoff.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>

namespace herald {

namespace {

using std::chrono::milliseconds;

milliseconds non_negative(milliseconds d) {
  return std::max(d, milliseconds{0});
}

/// min(cap, base * 2^exponent) for base, cap >= 0, without overflow.
milliseconds capped_exponential(milliseconds base, int exponent,
                                milliseconds cap) {
  if (base.count() == 0)
    return milliseconds{0};
  if (base >= cap)
    return cap;
  // base < cap <= INT64_MAX: doubling stops at the cap, so at most 63 steps
  // happen and no product is ever formed that could overflow.
  auto d = base.count();
  for (int i = 0; i < exponent; ++i) {
    if (d > cap.count() / 2)
      return cap;
    d *= 2;
  }
  return milliseconds{std::min(d, cap.count())};
}

} // namespace

unit_random make_unit_random(uint64_t seed) {
  return [engine = std::mt19937_64{seed}]() mutable {
    return static_cast<double>(engine() >> 11) * 0x1.0p-53;
  };
}

backoff::backoff(retry_policy policy, unit_random random,
                 std::optional<milliseconds> retry_after_ceiling)
  : policy_(policy), random_(std::move(random)) {
  policy_.base_delay = non_negative(policy_.base_delay);
  policy_.max_delay = non_negative(policy_.max_delay);
  policy_.max_attempts = std::max(policy_.max_attempts, 1);
  retry_after_ceiling_ = non_negative(
    retry_after_ceiling.value_or(policy_.max_delay));
}

milliseconds backoff::ceiling(int attempt) const noexcept {
  return capped_exponential(policy_.base_delay, std::max(attempt, 1) - 1,
                            policy_.max_delay);
}

milliseconds backoff::delay(int attempt) {
  auto top = ceiling(attempt).count();
  double r = random_ ? random_() : 0.0;
  if (!(r >= 0.0)) // also NaN
    r = 0.0;
  else if (r >= 1.0)
    r = std::nextafter(1.0, 0.0);
  // Uniform over the top + 1 whole milliseconds 0..top (exact while top <
  // 2^53 ms, i.e. 285,000 years). The comparison is in double, so a huge top
  // (whose double may round up past INT64_MAX) is never converted back.
  auto x = std::floor(r * (static_cast<double>(top) + 1.0));
  if (x >= static_cast<double>(top))
    return milliseconds{top};
  return milliseconds{std::max<int64_t>(static_cast<int64_t>(x), 0)};
}

milliseconds backoff::delay(int attempt,
                            std::optional<milliseconds> retry_after) {
  if (retry_after)
    return std::min(non_negative(*retry_after), retry_after_ceiling_);
  return delay(attempt);
}

bool backoff::exhausted(int attempts_made) const noexcept {
  return attempts_made >= policy_.max_attempts;
}

retry_decision backoff::next(int attempts_made,
                             std::optional<milliseconds> retry_after) {
  retry_decision result;
  if (exhausted(attempts_made)) {
    result.give_up = true;
    return result;
  }
  result.delay = delay(attempts_made, retry_after);
  result.from_retry_after = retry_after.has_value();
  return result;
}

} // namespace herald
