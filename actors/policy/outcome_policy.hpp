#pragma once

// What becomes of a notification after an attempt, with no CAF in it: the
// dispatcher hands every sender result to an outcome_policy, which fills in
// the decision fields of delivery_decision (status, next attempt, lease,
// reason) from the error class (channels/classify.hpp, applied by the
// sender) and the channel's retry schedule (actors/policy/backoff.hpp).
//
//   delivered                       -> delivered
//   failed, permanent               -> dead_lettered ("permanent: ...")
//   failed, retryable, budget left  -> retry_scheduled after the backoff
//                                      (the provider's Retry-After exactly)
//   failed, retryable, budget spent -> dead_lettered ("exhausted: ...")
//   deferred (breaker open, no call)-> retry_scheduled after the cool-down,
//                                      no attempt counted
// A retry due within the horizon keeps its lease (it waits on a timer of
// this node); a later one is released to the database, where any node's
// sweeper claims it when it comes within the horizon.

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "actors/policy/backoff.hpp"
#include "core/messages.hpp"

namespace herald {

struct outcome_policy_settings {
  retry_policy fallback;                     // herald.retry.*
  std::map<std::string, retry_policy> per_channel; // herald.channels.NAME.retry.*
  /// herald.providers.NAME.retry.*: a failed call's provider (the report's
  /// `provider`) wins over its channel.
  std::map<std::string, retry_policy> per_provider;
  std::chrono::milliseconds horizon{10000};  // herald.retry.horizon
  /// A deferral without a cool-down (retry_after_ms < 0) waits this long.
  std::chrono::milliseconds min_defer{1000};
};

class outcome_policy {
public:
  outcome_policy(outcome_policy_settings settings, unit_random random);

  /// Fills out.status, out.next_attempt_ms, out.keep_lease and out.reason.
  /// `channel` picks the retry policy; `budget_used` is the number of
  /// attempts of the current budget made before this one; `now_ms` is the
  /// current time (epoch ms). Returns the attempts of the budget made after
  /// this outcome (budget_used + 1 for a real call, unchanged if deferred).
  int32_t decide(delivery_decision& out, const std::string& channel,
                 int32_t budget_used, int64_t now_ms);

  /// The retry policy of a channel.
  const retry_policy& policy(const std::string& channel) const;

  /// The retry policy of a call to `provider` on `channel`.
  const retry_policy& policy(const std::string& channel,
                             const std::string& provider) const;

  const outcome_policy_settings& settings() const noexcept {
    return settings_;
  }

private:
  backoff& schedule(const std::string& channel, const std::string& provider);

  outcome_policy_settings settings_;
  unit_random random_;
  /// By channel, or "provider:" + name, made on first use.
  std::map<std::string, backoff> schedules_;
};

} // namespace herald
