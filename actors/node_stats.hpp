#pragma once

// A node's figures for the dashboard (GET /admin/stats): totals read from
// the metrics registry (core/metrics.hpp), so every node answers the same
// JSON shape, whatever its roles:
//   {"node", "roles", "ts" (epoch ms), "accepted", "delivered",
//    "dead_lettered", "retried", "attempts", "http_requests",
//    "takeovers", "members_up",
//    "pools": [{"pool", "jobs", "oldest_age_s"}],
//    "breakers": [{"channel", "provider", "state"}]}
// Counters are totals since the node started; the page derives rates.

#include <cstdint>
#include <string>
#include <vector>

namespace herald {

std::string node_stats_json(const std::string& node,
                            const std::vector<std::string>& roles,
                            int64_t now_ms);

} // namespace herald
