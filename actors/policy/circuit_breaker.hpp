#pragma once

// The circuit breaker of one provider (for webhooks: one target endpoint),
// with no CAF in it: the decision logic the sender actors consult before
// each call, unit-tested directly. Time is passed in by the caller (the
// actor clock in production, any time point in tests).

#include <chrono>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

namespace herald {

enum class breaker_state : uint8_t {
  closed,    // calls go through; failures are counted
  open,      // no calls until the cool-down has passed
  half_open, // a few trial calls decide: close again or reopen
};

/// "closed", "open", "half_open".
const char* to_string(breaker_state x);

/// Why the breaker tripped last.
enum class trip_cause : uint8_t {
  none,                 // never tripped
  consecutive_failures, // failure_threshold failures in a row
  failure_rate,         // too many failures in the sliding window
  probe_failed,         // a trial call failed while half-open
};

/// "none", "consecutive_failures", "failure_rate", "probe_failed".
const char* to_string(trip_cause x);

/// herald.breaker.* (API.md), per provider. Durations are clamped to at
/// most 100 years.
struct breaker_settings {
  /// While the window holds fewer than `min_calls` calls, trips after this
  /// many failures in a row (>= 1): a dead endpoint trips within 5 calls.
  int failure_threshold = 5;
  /// Once the window holds `min_calls` calls or more, only the rate
  /// decides: trips when the share of failures among the calls in the last
  /// `window` is >= failure_rate, clamped to [0, 1] (NaN counts as 1). A
  /// busy endpoint failing 30 % at random is never taken for down.
  double failure_rate = 0.5;
  int min_calls = 20; // >= 1
  std::chrono::milliseconds window{30000}; // >= 1 ms
  /// The window slides in this many steps (1..1000): memory stays fixed
  /// however many calls are made, at the price of the granularity below.
  int window_buckets = 30;
  /// Cool-down before the first trial call; doubles on each re-trip from
  /// half-open up to max_open_timeout (raised to open_timeout if below).
  /// >= 0.
  std::chrono::milliseconds open_timeout{30000};
  std::chrono::milliseconds max_open_timeout{600000};
  /// Trial calls let through while half-open (>= 1).
  int half_open_probes = 1;
  /// A trial call whose result has not come back after this long is
  /// considered lost, and its permit is handed out again: a crashed caller
  /// cannot keep the breaker half-open forever. >= 1 ms.
  std::chrono::milliseconds probe_timeout{60000};
};

/// A snapshot for the admin API and metrics.
struct breaker_summary {
  breaker_state state = breaker_state::closed;
  /// End of the current cool-down; nullopt while closed. In the past once
  /// half-open.
  std::optional<std::chrono::steady_clock::time_point> open_until;
  /// The cool-down the current trip has (or the next trip will have).
  std::chrono::milliseconds open_timeout{0};
  uint64_t trips = 0;  // since construction; reset() keeps it
  int retrips = 0;     // consecutive re-trips from half-open (the doubling)
  trip_cause last_trip = trip_cause::none;
  int consecutive_failures = 0;
  int64_t window_calls = 0;
  int64_t window_failures = 0;
  int probes_in_flight = 0;
  uint64_t rejected = 0; // try_acquire refusals since construction
};

/// Closed: every call is allowed; each result is counted. While the sliding
/// window holds fewer than `min_calls` calls, it trips (opens) on
/// `failure_threshold` failures in a row; once it holds `min_calls` or more,
/// only the failure rate decides: it trips when failures reach
/// `failure_rate` of the window's calls (API.md "How the default breaker
/// decides").
///
/// Open: try_acquire refuses every call until the cool-down has passed, and
/// a refused call counts for nothing: an open breaker costs no attempts
/// (DESIGN.md invariant 6). Results that arrive while open belong to calls
/// made before the trip and are ignored.
///
/// Half-open: try_acquire hands out at most `half_open_probes` permits. The
/// first result decides: a success closes the breaker (fresh counts, the
/// cool-down back to open_timeout); a failure reopens it with the cool-down
/// doubled (up to max_open_timeout). Any result that arrives while
/// half-open is taken as a probe result.
///
/// Window granularity: the window is `window_buckets` buckets of
/// window / window_buckets each, aligned to the clock's epoch; a call counts
/// for more than window - window / window_buckets and at most window.
///
/// If `now` is earlier than the last time seen (it never is with a steady
/// clock), no time has passed.
class circuit_breaker {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  explicit circuit_breaker(breaker_settings settings = {});

  /// May a call be made now? In half-open, true takes one of the permits:
  /// the caller must report the result (record_success / record_failure)
  /// or hand the permit back (release).
  bool try_acquire(time_point now);

  void record_success(time_point now);

  void record_failure(time_point now);

  /// Returns a half-open permit unused (the call was not made after all);
  /// no effect otherwise.
  void release(time_point now);

  /// The state at `now`; open turns half-open when the cool-down has passed.
  breaker_state state(time_point now);

  /// Admin: close by hand, with fresh counts and the cool-down back to
  /// open_timeout.
  void reset(time_point now);

  /// End of the current cool-down; nullopt while closed.
  std::optional<time_point> open_until() const;

  /// The cool-down of the current trip (or of the next one).
  std::chrono::milliseconds current_open_timeout() const noexcept;

  uint64_t trips() const noexcept {
    return trips_;
  }

  int consecutive_failures() const noexcept {
    return consecutive_failures_;
  }

  /// Calls and failures in the window that ends at `now` (closed state;
  /// both 0 after a trip or reset).
  int64_t window_calls(time_point now);
  int64_t window_failures(time_point now);

  breaker_summary summary(time_point now);

  const breaker_settings& settings() const noexcept {
    return settings_;
  }

private:
  struct bucket {
    int64_t index = 0;
    int64_t calls = 0;
    int64_t failures = 0;
  };

  time_point advance(time_point now);
  int64_t bucket_index(time_point t) const;
  void count(time_point t, bool failure);
  std::pair<int64_t, int64_t> window_counts(time_point t) const;
  void trip(time_point t, trip_cause cause);
  void close();

  breaker_settings settings_;
  clock::duration bucket_width_;
  std::vector<bucket> buckets_;

  breaker_state state_ = breaker_state::closed;
  time_point open_until_{};
  time_point last_{};           // latest time seen
  time_point last_probe_at_{};  // when the last half-open permit went out
  int probes_out_ = 0;          // half-open permits without a result
  int consecutive_failures_ = 0;
  int retrips_ = 0;
  trip_cause last_trip_ = trip_cause::none;
  uint64_t trips_ = 0;
  uint64_t rejected_ = 0;
  bool seen_any_ = false;       // last_ is meaningful
};

} // namespace herald
