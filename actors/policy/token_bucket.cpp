#include "actors/policy/token_bucket.hpp"

#include <algorithm>

namespace herald {

namespace {

/// Nano-tokens per token.
constexpr int64_t unit = 1'000'000'000;

int32_t clamp_limit(int32_t x) {
  return std::max(x, int32_t{1});
}

/// a / b rounded up, for a >= 0 and b > 0.
int64_t ceil_div(int64_t a, int64_t b) {
  return a / b + (a % b != 0 ? 1 : 0);
}

} // namespace

token_bucket::token_bucket(int32_t rate, int32_t burst)
  : rate_(clamp_limit(rate)),
    burst_(clamp_limit(burst)),
    capacity_(burst_ * unit),
    units_(capacity_) {
  // nop
}

void token_bucket::refill(time_point now) {
  if (units_ >= capacity_) {
    // Full: the time spent full refills nothing.
    last_ = now;
    return;
  }
  if (now <= last_)
    return;
  auto elapsed = std::chrono::duration_cast<duration>(now - last_).count();
  // Compare with the time to fill before multiplying: after a long idle
  // period elapsed * rate would overflow.
  if (elapsed >= ceil_div(capacity_ - units_, rate_))
    units_ = capacity_;
  else
    units_ += elapsed * rate_; // < capacity_ - units_ here
  last_ = now;
}

token_bucket::duration token_bucket::time_until(int64_t units) const {
  if (units_ >= units)
    return duration{0};
  return duration{ceil_div(units - units_, rate_)};
}

token_bucket::decision token_bucket::make_decision(bool allowed,
                                                   int32_t granted,
                                                   int64_t wanted) const {
  decision d;
  d.allowed = allowed;
  d.granted = granted;
  d.remaining = static_cast<int32_t>(units_ / unit);
  d.reset = time_until(capacity_);
  if (wanted > capacity_)
    d.retry_after = duration::max();
  else if (wanted > 0)
    d.retry_after = time_until(wanted);
  return d;
}

token_bucket::decision token_bucket::take(int32_t n, time_point now) {
  refill(now);
  if (n <= 0)
    return make_decision(true, 0, 0);
  auto need = n * unit;
  if (n <= burst_ && units_ >= need) {
    units_ -= need;
    return make_decision(true, n, 0);
  }
  return make_decision(false, 0, need);
}

token_bucket::decision token_bucket::take_up_to(int32_t n, time_point now) {
  refill(now);
  if (n <= 0)
    return make_decision(true, 0, 0);
  auto granted = static_cast<int32_t>(std::min<int64_t>(n, units_ / unit));
  units_ -= granted * unit;
  // The rest of a batch waits for the next single token, not for all of it.
  return make_decision(granted > 0, granted, granted < n ? unit : 0);
}

void token_bucket::reconfigure(int32_t rate, int32_t burst, time_point now) {
  refill(now);
  rate_ = clamp_limit(rate);
  burst_ = clamp_limit(burst);
  capacity_ = burst_ * unit;
  units_ = std::min(units_, capacity_);
}

int32_t token_bucket::available(time_point now) {
  refill(now);
  return static_cast<int32_t>(units_ / unit);
}

bool token_bucket::full(time_point now) {
  refill(now);
  return units_ >= capacity_;
}

double token_bucket::tokens() const noexcept {
  return static_cast<double>(units_) / unit;
}

int64_t ceil_seconds(std::chrono::nanoseconds d) {
  if (d <= d.zero())
    return 0;
  return std::chrono::ceil<std::chrono::seconds>(d).count();
}

int64_t ceil_millis(std::chrono::nanoseconds d) {
  if (d <= d.zero())
    return 0;
  return std::chrono::ceil<std::chrono::milliseconds>(d).count();
}

int64_t retry_after_seconds(std::chrono::nanoseconds d) {
  return std::max<int64_t>(ceil_seconds(d), 1);
}

} // namespace herald
