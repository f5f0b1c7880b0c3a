#include "actors/policy/outcome_policy.hpp"

#include <algorithm>

namespace herald {

namespace {

void retry_at(delivery_decision& out, int64_t due_ms, int64_t now_ms,
              std::chrono::milliseconds horizon) {
  out.status = notification_status::retry_scheduled;
  out.next_attempt_ms = due_ms;
  out.keep_lease = due_ms - now_ms <= horizon.count();
}

std::string what_failed(const delivery_decision& out) {
  if (!out.error.empty())
    return out.error;
  if (out.http_status != 0)
    return "HTTP " + std::to_string(out.http_status);
  return "failed";
}

} // namespace

outcome_policy::outcome_policy(outcome_policy_settings settings,
                               unit_random random)
  : settings_(std::move(settings)), random_(std::move(random)) {
  // nop
}

const retry_policy& outcome_policy::policy(const std::string& channel) const {
  auto i = settings_.per_channel.find(channel);
  return i != settings_.per_channel.end() ? i->second : settings_.fallback;
}

const retry_policy& outcome_policy::policy(const std::string& channel,
                                           const std::string& provider) const {
  if (!provider.empty())
    if (auto i = settings_.per_provider.find(provider);
        i != settings_.per_provider.end())
      return i->second;
  return policy(channel);
}

backoff& outcome_policy::schedule(const std::string& channel,
                                  const std::string& provider) {
  auto key = !provider.empty() && settings_.per_provider.count(provider) > 0
               ? "provider:" + provider
               : channel;
  auto i = schedules_.find(key);
  if (i == schedules_.end())
    i = schedules_.emplace(key, backoff{policy(channel, provider), random_})
          .first;
  return i->second;
}

int32_t outcome_policy::decide(delivery_decision& out, const std::string& channel,
                               int32_t budget_used, int64_t now_ms) {
  out.next_attempt_ms = 0;
  out.keep_lease = false;
  if (out.outcome == attempt_result::delivered) {
    out.status = notification_status::delivered;
    out.reason = "delivered";
    return budget_used + 1;
  }
  if (out.outcome == attempt_result::deferred) {
    // No call was made: nothing is counted (DESIGN.md invariant 6).
    auto wait = out.retry_after_ms >= 0
                  ? std::max<int64_t>(out.retry_after_ms, 1)
                  : settings_.min_defer.count();
    retry_at(out, now_ms + wait, now_ms, settings_.horizon);
    out.reason = out.error.empty() ? "deferred" : "deferred: " + out.error;
    return budget_used;
  }
  auto used = budget_used + 1;
  auto error = what_failed(out);
  if (!out.retryable) {
    out.status = notification_status::dead_lettered;
    out.reason = "permanent: " + error;
    return used;
  }
  std::optional<std::chrono::milliseconds> retry_after;
  if (out.retry_after_ms >= 0)
    retry_after = std::chrono::milliseconds{out.retry_after_ms};
  auto d = schedule(channel, out.provider).next(used, retry_after);
  if (d.give_up) {
    out.status = notification_status::dead_lettered;
    out.reason = "exhausted: " + std::to_string(used) + " attempts, last: "
                 + error;
    return used;
  }
  retry_at(out, now_ms + d.delay.count(), now_ms, settings_.horizon);
  out.reason = "retry " + std::to_string(used + 1) + " of "
               + std::to_string(policy(channel).max_attempts) + " after: "
               + error;
  return used;
}

} // namespace herald
