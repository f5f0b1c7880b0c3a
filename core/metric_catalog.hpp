#pragma once

// Every metric Herald exports (GET /metrics on the admin port): the names
// the code writes to, declared with their HELP text and type in one place
// so that the scrape shows every family, with or without samples yet.
// README "Metrics" lists them for operators.

#include <string_view>

#include "core/metrics.hpp"

namespace herald::metric {

// HTTP, both servers. Labels: server (api|admin), route (the route's
// pattern, e.g. /v1/notifications/{id}; "other" for unknown paths),
// method, status.
inline constexpr std::string_view http_requests = "herald_http_requests_total";
inline constexpr std::string_view http_duration
  = "herald_http_request_duration_seconds";

// Notifications by outcome. Labels: tenant, channel.
inline constexpr std::string_view accepted = "herald_notifications_accepted_total";
inline constexpr std::string_view delivered = "herald_notifications_delivered_total";
inline constexpr std::string_view dead_lettered
  = "herald_notifications_dead_lettered_total";
inline constexpr std::string_view retried = "herald_notifications_retried_total";
inline constexpr std::string_view skipped = "herald_notifications_skipped_total";

// Provider calls. Labels: channel, provider, outcome (delivered|failed|
// deferred); the duration histogram: channel, provider.
inline constexpr std::string_view attempts = "herald_provider_attempts_total";
inline constexpr std::string_view attempt_duration
  = "herald_provider_attempt_duration_seconds";
// Labels: channel, provider. 0 closed, 1 half-open, 2 open.
inline constexpr std::string_view breaker_state = "herald_breaker_state";

// Sender pools. Labels: pool (the channel).
inline constexpr std::string_view pool_jobs = "herald_pool_jobs";
inline constexpr std::string_view pool_oldest_age
  = "herald_pool_oldest_job_age_seconds";
inline constexpr std::string_view sender_restarts = "herald_sender_restarts_total";
// Named providers. Labels: channel, provider.
inline constexpr std::string_view provider_throttled
  = "herald_provider_throttled_total";
inline constexpr std::string_view provider_failovers
  = "herald_provider_failovers_total";

// Leases and the cluster.
inline constexpr std::string_view takeovers = "herald_lease_takeovers_total";
inline constexpr std::string_view taken_over = "herald_leases_taken_over_total";
inline constexpr std::string_view members_up = "herald_cluster_members_up";
inline constexpr std::string_view member_up = "herald_cluster_member_up";

// Group commit.
inline constexpr std::string_view commit_rows = "herald_commit_batch_rows";
inline constexpr std::string_view commit_duration
  = "herald_commit_duration_seconds";
inline constexpr std::string_view commits_failed = "herald_commits_failed_total";

/// Declares every family above in `r` (HELP, TYPE, buckets).
void declare_all(metric_registry& r);

} // namespace herald::metric
