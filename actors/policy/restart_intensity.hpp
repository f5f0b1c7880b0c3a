#pragma once

// "At most N restarts within T", with no CAF in it: the restart intensity
// limit of Herald's supervisors (provider supervisor, sender pool), as in
// Erlang/OTP. Time is passed in by the caller (the actor clock in
// production, any time point in tests).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>

namespace herald {

struct restart_intensity_settings {
  /// Restarts allowed within `window`; one more escalates. >= 0 (negative
  /// counts as 0: every restart escalates).
  int max_restarts = 10;
  /// The sliding window. A restart counts while less than `window` old.
  std::chrono::milliseconds window{60000};
};

/// Keeps the times of the restarts in the window (at most max_restarts + 1,
/// so memory stays fixed). If `now` is earlier than the last time seen (it
/// never is with a steady clock), no time has passed.
class restart_intensity {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  explicit restart_intensity(restart_intensity_settings settings = {});

  /// Records a restart at `now`. False if it is one too many: more than
  /// max_restarts within the window ending at `now` (the supervisor must
  /// escalate instead of restarting).
  bool record(time_point now);

  /// Restarts within the window ending at `now`.
  size_t count(time_point now);

  /// Restarts recorded since construction.
  uint64_t total() const noexcept {
    return total_;
  }

  const restart_intensity_settings& settings() const noexcept {
    return settings_;
  }

private:
  time_point advance(time_point now);
  void expire(time_point now);

  restart_intensity_settings settings_;
  std::deque<time_point> times_; // oldest first
  time_point last_{};
  bool seen_any_ = false;
  uint64_t total_ = 0;
};

} // namespace herald
