#pragma once

// The retry schedule of a delivery, with no CAF in it: exponential backoff
// with full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog),
// a server's Retry-After honoured exactly, and the attempt budget. The
// randomness is injected so that tests are deterministic.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace herald {

/// herald.retry.* (API.md): defaults 1 s / 1 h / 8.
struct retry_policy {
  std::chrono::milliseconds base_delay{1000};
  std::chrono::milliseconds max_delay{3600000};
  /// All attempts, the first one included: 8 means one try and 7 retries.
  int max_attempts = 8;
};

/// A source of uniform random numbers in [0, 1). Values outside that range
/// (or NaN) are clamped, so a broken source can never produce a delay
/// outside the jitter window.
using unit_random = std::function<double()>;

/// A unit_random that owns a std::mt19937_64 seeded with `seed` and turns
/// each 64-bit draw into one of the 2^53 evenly spaced doubles in [0, 1)
/// (not std::uniform_real_distribution, which may return 1.0 and differs
/// between standard libraries). Production seeds it from std::random_device.
unit_random make_unit_random(uint64_t seed);

/// What to do after a failed attempt.
struct retry_decision {
  /// The attempt budget is spent: dead-letter instead of retrying.
  bool give_up = false;
  /// How long to wait before the next attempt (0 if give_up).
  std::chrono::milliseconds delay{0};
  /// The delay is the server's Retry-After, not the jittered value.
  bool from_retry_after = false;
};

/// The schedule of one retry policy. Attempts are counted from 1: after the
/// n-th attempt failed, the wait before attempt n+1 is drawn uniformly from
/// [0, ceiling(n)] with ceiling(n) = min(max_delay, base_delay * 2^(n-1)).
/// Full jitter can draw 0 (retry at once); that is the published algorithm
/// and spreads a herd of retries best.
///
/// Retry-After: when the server named a delay, it is used exactly instead of
/// the jittered value, but never beyond `retry_after_ceiling`, which defaults
/// to the policy's max_delay: a receiver that asks for a day does not park a
/// notification for longer than our own longest wait (1 h by default); it
/// gets retried at the ceiling and may say so again. Retry-After does not
/// refund attempts: the budget is the same either way.
///
/// Limits: negative delays count as 0; max_attempts below 1 counts as 1 (the
/// first attempt is always made); attempt numbers below 1 count as 1. No
/// arithmetic overflows, for any attempt number.
class backoff {
public:
  backoff(retry_policy policy, unit_random random,
          std::optional<std::chrono::milliseconds> retry_after_ceiling
          = std::nullopt);

  /// The top of the jitter window after the `attempt`-th failed attempt.
  std::chrono::milliseconds ceiling(int attempt) const noexcept;

  /// A jittered delay in [0, ceiling(attempt)]; draws one random number.
  std::chrono::milliseconds delay(int attempt);

  /// delay(attempt), or the server's Retry-After (capped at the ceiling)
  /// when present; a present Retry-After draws no random number.
  std::chrono::milliseconds
  delay(int attempt, std::optional<std::chrono::milliseconds> retry_after);

  /// True once `attempts_made` attempts leave no budget for another one.
  bool exhausted(int attempts_made) const noexcept;

  /// After the `attempts_made`-th attempt failed with a retryable error:
  /// give up, or wait how long.
  retry_decision
  next(int attempts_made,
       std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

  const retry_policy& policy() const noexcept {
    return policy_;
  }

  std::chrono::milliseconds retry_after_ceiling() const noexcept {
    return retry_after_ceiling_;
  }

private:
  retry_policy policy_;
  unit_random random_;
  std::chrono::milliseconds retry_after_ceiling_;
};

} // namespace herald
