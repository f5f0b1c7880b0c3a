#include "actors/node_stats.hpp"

#include <map>

#include <nlohmann/json.hpp>

#include "core/metric_catalog.hpp"

namespace herald {

namespace {

std::string label_of(const metric_labels& labels, const std::string& name) {
  for (auto& [k, v] : labels)
    if (k == name)
      return v;
  return {};
}

const char* breaker_name(double x) {
  return x >= 2 ? "open" : x >= 1 ? "half-open" : "closed";
}

} // namespace

std::string node_stats_json(const std::string& node,
                            const std::vector<std::string>& roles,
                            int64_t now_ms) {
  auto& m = metrics();
  auto total = [&m](std::string_view name) {
    return static_cast<int64_t>(m.sum(name));
  };
  nlohmann::json j;
  j["node"] = node;
  j["roles"] = roles;
  j["ts"] = now_ms;
  j["accepted"] = total(metric::accepted);
  j["delivered"] = total(metric::delivered);
  j["dead_lettered"] = total(metric::dead_lettered);
  j["retried"] = total(metric::retried);
  j["attempts"] = total(metric::attempts);
  j["http_requests"] = total(metric::http_requests);
  j["takeovers"] = total(metric::takeovers);
  j["members_up"] = total(metric::members_up);
  std::map<std::string, std::pair<double, double>> pools; // jobs, oldest ms
  for (auto& [labels, v] : m.values(metric::pool_jobs))
    pools[label_of(labels, "pool")].first = v;
  for (auto& [labels, v] : m.values(metric::pool_oldest_age))
    pools[label_of(labels, "pool")].second = v;
  auto ps = nlohmann::json::array();
  for (auto& [pool, p] : pools)
    ps.push_back({{"pool", pool},
                  {"jobs", static_cast<int64_t>(p.first)},
                  {"oldest_age_s", p.second > 0
                                     ? (static_cast<double>(now_ms) - p.second) / 1000.0
                                     : 0.0}});
  j["pools"] = std::move(ps);
  auto bs = nlohmann::json::array();
  for (auto& [labels, v] : m.values(metric::breaker_state))
    bs.push_back({{"channel", label_of(labels, "channel")},
                  {"provider", label_of(labels, "provider")},
                  {"state", breaker_name(v)}});
  j["breakers"] = std::move(bs);
  return j.dump();
}

} // namespace herald
