#include "actors/policy/circuit_breaker.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace herald {

namespace {

using std::chrono::milliseconds;

/// Re-trips beyond this no longer change the (capped) cool-down; keeps the
/// counter itself from overflowing.
constexpr int max_retrips = 64;

/// min(cap, base * 2^exponent) for 0 <= base <= cap, without overflow.
milliseconds capped_doubling(milliseconds base, int exponent,
                             milliseconds cap) {
  auto d = base.count();
  if (d == 0)
    return base;
  for (int i = 0; i < exponent; ++i) {
    if (d > cap.count() / 2)
      return cap;
    d *= 2;
  }
  return milliseconds{std::min(d, cap.count())};
}

/// a / b rounded toward minus infinity, for b > 0.
int64_t floor_div(int64_t a, int64_t b) {
  auto q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

/// The longest duration a setting may have: 100 years still fits in the
/// clock's nanoseconds with room for any time point a steady clock reaches.
constexpr milliseconds max_setting = std::chrono::hours{24 * 365 * 100};

milliseconds clamp_ms(milliseconds d, milliseconds lo) {
  return std::clamp(d, lo, max_setting);
}

breaker_settings sanitize(breaker_settings s) {
  s.failure_threshold = std::max(s.failure_threshold, 1);
  s.failure_rate = std::isnan(s.failure_rate)
                     ? 1.0
                     : std::clamp(s.failure_rate, 0.0, 1.0);
  s.min_calls = std::max(s.min_calls, 1);
  s.window = clamp_ms(s.window, milliseconds{1});
  s.window_buckets = std::clamp(s.window_buckets, 1, 1000);
  s.open_timeout = clamp_ms(s.open_timeout, milliseconds{0});
  s.max_open_timeout = clamp_ms(s.max_open_timeout, s.open_timeout);
  s.half_open_probes = std::max(s.half_open_probes, 1);
  s.probe_timeout = clamp_ms(s.probe_timeout, milliseconds{1});
  return s;
}

} // namespace

const char* to_string(breaker_state x) {
  switch (x) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "?";
}

const char* to_string(trip_cause x) {
  switch (x) {
    case trip_cause::none:
      return "none";
    case trip_cause::consecutive_failures:
      return "consecutive_failures";
    case trip_cause::failure_rate:
      return "failure_rate";
    case trip_cause::probe_failed:
      return "probe_failed";
  }
  return "?";
}

circuit_breaker::circuit_breaker(breaker_settings settings)
  : settings_(sanitize(settings)) {
  auto window = std::chrono::duration_cast<clock::duration>(settings_.window);
  bucket_width_ = std::max(window / settings_.window_buckets,
                           clock::duration{1});
  // Index 0 may be a real bucket; the minimum never is (see window_counts).
  buckets_.assign(static_cast<size_t>(settings_.window_buckets),
                  bucket{std::numeric_limits<int64_t>::min(), 0, 0});
}

circuit_breaker::time_point circuit_breaker::advance(time_point now) {
  if (seen_any_ && now < last_)
    now = last_;
  last_ = now;
  seen_any_ = true;
  if (state_ == breaker_state::open && now >= open_until_) {
    state_ = breaker_state::half_open;
    probes_out_ = 0;
  }
  return now;
}

int64_t circuit_breaker::bucket_index(time_point t) const {
  return floor_div(t.time_since_epoch().count(), bucket_width_.count());
}

void circuit_breaker::count(time_point t, bool failure) {
  auto k = bucket_index(t);
  auto n = static_cast<int64_t>(buckets_.size());
  auto& b = buckets_[static_cast<size_t>((k % n + n) % n)];
  if (b.index != k)
    b = bucket{k, 0, 0};
  ++b.calls;
  if (failure)
    ++b.failures;
}

std::pair<int64_t, int64_t> circuit_breaker::window_counts(time_point t) const {
  auto k = bucket_index(t);
  auto n = static_cast<int64_t>(buckets_.size());
  int64_t calls = 0;
  int64_t failures = 0;
  for (auto& b : buckets_) {
    // Buckets k - n + 1 .. k; the difference of two real indexes cannot
    // overflow, and the "never used" minimum is never in range.
    if (b.index <= k && b.index > k - n) {
      calls += b.calls;
      failures += b.failures;
    }
  }
  return {calls, failures};
}

void circuit_breaker::trip(time_point t, trip_cause cause) {
  if (cause == trip_cause::probe_failed)
    retrips_ = std::min(retrips_ + 1, max_retrips);
  state_ = breaker_state::open;
  auto cooldown = std::chrono::duration_cast<clock::duration>(
    current_open_timeout());
  open_until_ = t <= time_point::max() - cooldown ? t + cooldown
                                                  : time_point::max();
  last_trip_ = cause;
  ++trips_;
  probes_out_ = 0;
  // The counts of the closed state are history now: closing again starts
  // from scratch, so old failures cannot re-trip a recovered provider.
  consecutive_failures_ = 0;
  for (auto& b : buckets_)
    b = bucket{std::numeric_limits<int64_t>::min(), 0, 0};
}

void circuit_breaker::close() {
  state_ = breaker_state::closed;
  retrips_ = 0;
  probes_out_ = 0;
  consecutive_failures_ = 0;
  for (auto& b : buckets_)
    b = bucket{std::numeric_limits<int64_t>::min(), 0, 0};
}

bool circuit_breaker::try_acquire(time_point now) {
  auto t = advance(now);
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      break;
    case breaker_state::half_open:
      if (probes_out_ >= settings_.half_open_probes
          && t - last_probe_at_ >= settings_.probe_timeout)
        probes_out_ = 0; // the results are lost; try again
      if (probes_out_ < settings_.half_open_probes) {
        ++probes_out_;
        last_probe_at_ = t;
        return true;
      }
      break;
  }
  ++rejected_;
  return false;
}

void circuit_breaker::record_success(time_point now) {
  auto t = advance(now);
  switch (state_) {
    case breaker_state::closed:
      consecutive_failures_ = 0;
      count(t, false);
      break;
    case breaker_state::open:
      break; // a call from before the trip
    case breaker_state::half_open:
      close();
      break;
  }
}

void circuit_breaker::record_failure(time_point now) {
  auto t = advance(now);
  switch (state_) {
    case breaker_state::closed: {
      ++consecutive_failures_;
      count(t, true);
      // A run of failures means "down" only while the window is too thin
      // for a rate: on a busy endpoint that fails 30 % at random, five in a
      // row happen about once in 600 calls, and each trip would cost a
      // cool-down for nothing. Once the window holds min_calls, the rate
      // alone decides.
      auto [calls, failures] = window_counts(t);
      if (calls < settings_.min_calls) {
        if (consecutive_failures_ >= settings_.failure_threshold)
          trip(t, trip_cause::consecutive_failures);
      } else if (static_cast<double>(failures)
                 >= settings_.failure_rate * static_cast<double>(calls)) {
        trip(t, trip_cause::failure_rate);
      }
      break;
    }
    case breaker_state::open:
      break; // a call from before the trip
    case breaker_state::half_open:
      trip(t, trip_cause::probe_failed);
      break;
  }
}

void circuit_breaker::release(time_point now) {
  advance(now);
  if (state_ == breaker_state::half_open && probes_out_ > 0)
    --probes_out_;
}

breaker_state circuit_breaker::state(time_point now) {
  advance(now);
  return state_;
}

void circuit_breaker::reset(time_point now) {
  advance(now);
  close();
}

std::optional<circuit_breaker::time_point>
circuit_breaker::open_until() const {
  if (state_ == breaker_state::closed)
    return std::nullopt;
  return open_until_;
}

milliseconds circuit_breaker::current_open_timeout() const noexcept {
  return capped_doubling(settings_.open_timeout, retrips_,
                         settings_.max_open_timeout);
}

int64_t circuit_breaker::window_calls(time_point now) {
  return window_counts(advance(now)).first;
}

int64_t circuit_breaker::window_failures(time_point now) {
  return window_counts(advance(now)).second;
}

breaker_summary circuit_breaker::summary(time_point now) {
  auto t = advance(now);
  breaker_summary s;
  s.state = state_;
  s.open_until = open_until();
  s.open_timeout = current_open_timeout();
  s.trips = trips_;
  s.retrips = retrips_;
  s.last_trip = last_trip_;
  s.consecutive_failures = consecutive_failures_;
  std::tie(s.window_calls, s.window_failures) = window_counts(t);
  s.probes_in_flight = state_ == breaker_state::half_open ? probes_out_ : 0;
  s.rejected = rejected_;
  return s;
}

} // namespace herald
