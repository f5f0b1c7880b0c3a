#include "actors/policy/denial_memo.hpp"

#include <algorithm>

namespace herald {

void denial_memo::note(const std::string& tenant, int32_t rate, int32_t burst,
                       const rate_decision& d, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (d.allowed || d.retry_after_ms <= 0) {
    entries_.erase(tenant);
    return;
  }
  auto until = now + std::chrono::milliseconds(d.retry_after_ms);
  entries_[tenant] = entry{rate, burst, d, now, until};
  if (entries_.size() >= sweep_at_)
    sweep(now);
}

std::optional<rate_decision> denial_memo::denial(const std::string& tenant,
                                                 int32_t rate, int32_t burst,
                                                 clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(tenant);
  if (i == entries_.end())
    return std::nullopt;
  auto& e = i->second;
  if (e.rate != rate || e.burst != burst || now >= e.until) {
    entries_.erase(i);
    return std::nullopt;
  }
  using std::chrono::duration_cast;
  using std::chrono::milliseconds;
  auto elapsed = duration_cast<milliseconds>(now - e.noted).count();
  auto left = duration_cast<milliseconds>(e.until - now).count();
  rate_decision d = e.decision;
  d.granted = 0;
  d.remaining = 0;
  d.reset_ms = std::max<int64_t>(0, d.reset_ms - elapsed);
  // Whole milliseconds, never 0 while still denied.
  d.retry_after_ms = std::max<int64_t>(1, left);
  return d;
}

size_t denial_memo::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

void denial_memo::sweep(clock::time_point now) {
  for (auto i = entries_.begin(); i != entries_.end();) {
    if (now >= i->second.until)
      i = entries_.erase(i);
    else
      ++i;
  }
  // Sweep again when the map has doubled from what is left.
  sweep_at_ = std::max<size_t>(1024, entries_.size() * 2);
}

} // namespace herald
