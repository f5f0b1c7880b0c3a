#pragma once

// A token bucket with no CAF in it: the decision logic of a tenant's rate
// limiter (actors/rate_limiter.hpp), unit-tested directly. Time is passed in
// by the caller (the actor clock in production, any time point in tests).

#include <chrono>
#include <cstdint>

namespace herald {

/// A bucket of `burst` tokens refilled at `rate` tokens per second; a new
/// bucket is full.
///
/// Tokens are counted in nano-tokens (1e-9 of a token) and time in
/// nanoseconds, so `elapsed_ns * rate` nano-tokens refill exactly: no
/// floating-point drift, and "5 tokens after 500 ms at 10/s" holds to the
/// token. Limits (both clamped to [1, INT32_MAX], which keeps every product
/// inside int64): rate >= 1 token/s, burst >= 1. Callers map the "0 = node
/// default" convention of `tenant` before they get here; the clamp only
/// keeps hostile or broken values from breaking the arithmetic.
///
/// If `now` is earlier than the last time seen (it never is with a steady
/// clock), no time has passed.
class token_bucket {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = std::chrono::nanoseconds;

  /// The outcome of a take.
  struct decision {
    bool allowed = false;
    int32_t granted = 0;   // tokens taken
    int32_t remaining = 0; // whole tokens left after the take (floor)
    duration reset{0};     // until the bucket is full again
    /// 0 if everything asked for was granted. Otherwise: for `take`, until
    /// the n tokens are there (duration::max() if n > burst: never); for
    /// `take_up_to`, until the next single token. Always > 0 then.
    duration retry_after{0};
  };

  token_bucket(int32_t rate, int32_t burst);

  /// All or nothing: takes `n` tokens if the bucket holds them. A request for
  /// more than `burst` is always denied (retry_after = duration::max(); the
  /// caller should refuse it outright or use take_up_to). n <= 0 takes
  /// nothing and is allowed.
  decision take(int32_t n, time_point now);

  /// Partial grant (batches): takes min(n, whole tokens held). Allowed if it
  /// granted at least one token (or n <= 0).
  decision take_up_to(int32_t n, time_point now);

  /// Applies new limits from `now` on: time until `now` refills at the old
  /// rate; the current fill is kept, capped at the new burst. A larger burst
  /// does not hand out the difference at once: it refills at the new rate,
  /// so raising a limit never causes a sudden extra burst.
  void reconfigure(int32_t rate, int32_t burst, time_point now);

  /// Whole tokens available at `now`.
  int32_t available(time_point now);

  /// True if the bucket is full at `now` (forgetting it would lose nothing).
  bool full(time_point now);

  int32_t rate() const noexcept {
    return rate_;
  }

  int32_t burst() const noexcept {
    return burst_;
  }

  /// Tokens held as of the last operation, with the fraction (for display).
  double tokens() const noexcept;

private:
  void refill(time_point now);
  duration time_until(int64_t units) const;
  decision make_decision(bool allowed, int32_t granted, int64_t wanted) const;

  int32_t rate_;
  int32_t burst_;
  int64_t capacity_;  // burst_ in nano-tokens
  int64_t units_;     // nano-tokens held, in [0, capacity_]
  time_point last_{}; // when units_ was last brought up to date
};

/// Whole seconds, rounded up; 0 for d <= 0 (RateLimit-Reset).
int64_t ceil_seconds(std::chrono::nanoseconds d);

/// Whole milliseconds, rounded up; 0 for d <= 0 (rate_decision fields).
int64_t ceil_millis(std::chrono::nanoseconds d);

/// The Retry-After value of a denial: whole seconds rounded up, at least 1 so
/// that a client never retries at once.
int64_t retry_after_seconds(std::chrono::nanoseconds d);

} // namespace herald
