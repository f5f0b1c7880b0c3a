#include "core/metric_catalog.hpp"

namespace herald::metric {

void declare_all(metric_registry& r) {
  using k = metric_registry::kind;
  r.declare(http_requests, "HTTP requests answered, by server, route, method "
                           "and status.", k::counter);
  r.declare(http_duration, "Time from routing to the answer, by server, route, "
                           "method and status.", k::histogram);
  r.declare(accepted, "Notifications accepted (durably stored), by tenant and "
                      "channel.", k::counter);
  r.declare(delivered, "Notifications delivered, by tenant and channel.",
            k::counter);
  r.declare(dead_lettered, "Notifications moved to the dead-letter queue, by "
                           "tenant and channel.", k::counter);
  r.declare(retried, "Attempts that failed and were scheduled for a retry, by "
                     "tenant and channel.", k::counter);
  r.declare(skipped, "Notifications skipped (recipient opted out or without an "
                     "address for the channel), by tenant and channel.",
            k::counter);
  r.declare(attempts, "Provider calls by channel, provider and outcome "
                      "(delivered, failed, deferred = refused by an open "
                      "breaker).", k::counter);
  r.declare(attempt_duration, "Duration of provider calls, by channel and "
                              "provider.", k::histogram);
  r.declare(breaker_state, "Circuit breaker state per provider: 0 closed, 1 "
                           "half-open, 2 open.", k::gauge);
  r.declare(pool_jobs, "Jobs in a sender pool (queued for a sender or being "
                       "sent), by pool.", k::gauge);
  r.declare(pool_oldest_age, "Age of the oldest job in a sender pool, in "
                             "seconds (0 when empty).", k::age);
  r.declare(sender_restarts, "Senders and provider supervisors restarted after "
                             "a crash or hang, by pool.", k::counter);
  r.declare(provider_throttled, "Times a provider's outbound quota held a job "
                                "back, by channel and provider.", k::counter);
  r.declare(provider_failovers, "Jobs sent to a later provider of the channel "
                                "because an earlier one had its breaker open, "
                                "by channel and the provider that took them.",
            k::counter);
  r.declare(takeovers, "Times this node took over the leases of a node that "
                       "left the cluster.", k::counter);
  r.declare(taken_over, "Notifications whose lease this node took over from a "
                        "node that left.", k::counter);
  r.declare(members_up, "Cluster members this node sees up, itself included.",
            k::gauge);
  r.declare(member_up, "1 while this node sees the member up, else 0, by "
                       "member.", k::gauge);
  r.declare(commit_rows, "Notifications per group commit.", k::histogram,
            size_buckets());
  r.declare(commit_duration, "Duration of a group commit (insert), in seconds.",
            k::histogram);
  r.declare(commits_failed, "Group commits that failed (the requests in them "
                            "were answered with an error).", k::counter);
}

} // namespace herald::metric
