#include "actors/policy/restart_intensity.hpp"

#include <algorithm>

namespace herald {

restart_intensity::restart_intensity(restart_intensity_settings settings)
  : settings_(settings) {
  settings_.max_restarts = std::max(settings_.max_restarts, 0);
  settings_.window = std::max(settings_.window, std::chrono::milliseconds{0});
}

restart_intensity::time_point restart_intensity::advance(time_point now) {
  if (seen_any_ && now < last_)
    return last_;
  last_ = now;
  seen_any_ = true;
  return now;
}

void restart_intensity::expire(time_point now) {
  while (!times_.empty() && now - times_.front() >= settings_.window)
    times_.pop_front();
}

bool restart_intensity::record(time_point now) {
  now = advance(now);
  ++total_;
  expire(now);
  times_.push_back(now);
  auto limit = static_cast<size_t>(settings_.max_restarts);
  // Only the newest max_restarts + 1 matter for the verdict.
  while (times_.size() > limit + 1)
    times_.pop_front();
  return times_.size() <= limit;
}

size_t restart_intensity::count(time_point now) {
  expire(advance(now));
  return times_.size();
}

} // namespace herald
