#include "http/observe.hpp"

#include <array>
#include <chrono>
#include <random>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "core/metric_catalog.hpp"

namespace herald {

namespace {

/// Every route of both servers, segment by segment: "{id}" matches one
/// segment, "{*}" the rest of the path.
const std::vector<std::vector<std::string_view>>& route_patterns() {
  static const std::vector<std::vector<std::string_view>> xs = [] {
    std::vector<std::string_view> texts{
      "/", "/favicon.ico", "/health", "/ready", "/metrics",
      "/v1/notifications", "/v1/notifications/batch",
      "/v1/notifications/{id}", "/v1/notifications/{id}/attempts",
      "/v1/dlq", "/v1/dlq/replay", "/v1/dlq/{id}", "/v1/dlq/{id}/retry",
      "/v1/dlq/{id}/discard",
      "/v1/templates", "/v1/templates/{id}", "/v1/templates/{id}/versions",
      "/v1/templates/{id}/archive",
      "/v1/recipients/{id}", "/v1/recipients/{id}/devices",
      "/v1/recipients/{id}/devices/{id}",
      "/v1/receipts/twilio/{id}", "/v1/receipts/ses/{id}",
      "/admin/tenants/{id}", "/admin/tenants/{id}/keys",
      "/admin/tenants/{id}/keys/{id}", "/admin/actors", "/admin/actors/{*}",
      "/admin/cluster", "/admin/breakers", "/admin/breakers/{id}/reset",
      "/admin/dlq", "/admin/dlq/{id}/{id}/retry", "/admin/dlq/{id}/{id}/discard",
      "/admin/stats", "/dashboard.js", "/dashboard.css"};
    std::vector<std::vector<std::string_view>> out;
    for (auto t : texts) {
      std::vector<std::string_view> segs;
      size_t i = 1;
      while (i <= t.size()) {
        auto j = t.find('/', i);
        if (j == std::string_view::npos)
          j = t.size();
        if (j > i)
          segs.push_back(t.substr(i, j - i));
        i = j + 1;
      }
      out.push_back(std::move(segs));
    }
    return out;
  }();
  return xs;
}

/// A client's X-Request-Id is kept if it is 1-128 visible ASCII characters
/// without quotes or backslashes (it goes into logs and headers).
bool sane_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id)
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
      return false;
  return true;
}

std::string new_request_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string id = "req_";
  for (int k = 0; k < 2; ++k) {
    auto x = gen();
    for (int i = 0; i < 16; ++i, x >>= 4)
      id += hex[x & 0xf];
  }
  return id;
}

thread_local std::chrono::steady_clock::time_point request_start;

} // namespace

std::string route_label(std::string_view path) {
  auto q = path.find('?');
  if (q != std::string_view::npos)
    path = path.substr(0, q);
  if (path.empty() || path[0] != '/')
    return "other";
  std::vector<std::string_view> segs;
  size_t i = 1;
  while (i <= path.size()) {
    auto j = path.find('/', i);
    if (j == std::string_view::npos)
      j = path.size();
    if (j > i)
      segs.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  for (auto& pat : route_patterns()) {
    bool rest = !pat.empty() && pat.back() == "{*}";
    if (rest ? segs.size() < pat.size() : segs.size() != pat.size())
      continue;
    bool ok = true;
    for (size_t k = 0; k < pat.size() && ok; ++k)
      ok = pat[k] == "{id}" || pat[k] == "{*}" || pat[k] == segs[k];
    if (!ok)
      continue;
    std::string out;
    for (auto s : pat) {
      out += '/';
      out += s;
    }
    // The first match wins: literals are listed before {id} where they
    // clash (/v1/notifications/batch, /v1/dlq/replay).
    return out.empty() ? "/" : out;
  }
  return "other";
}

void begin_request(const httplib::Request& req, httplib::Response& res) {
  request_start = std::chrono::steady_clock::now();
  auto id = req.get_header_value("X-Request-Id");
  if (!sane_request_id(id))
    id = new_request_id();
  res.set_header("X-Request-Id", id);
  set_log_request_id(std::move(id));
}

void observe_requests(httplib::Server& svr, std::string server) {
  svr.set_logger([server](const httplib::Request& req,
                          const httplib::Response& res) {
    auto route = route_label(req.path);
    auto status = std::to_string(res.status);
    // The cells of this thread's label sets: the registry's lock and label
    // text only on a thread's first request of a kind.
    struct cells {
      metric_counter* requests;
      metric_histogram* duration;
    };
    thread_local std::unordered_map<std::string, cells> cache;
    auto key = server + ' ' + route + ' ' + req.method + ' ' + status;
    auto i = cache.find(key);
    if (i == cache.end()) {
      auto& m = metrics();
      metric_labels labels{{"server", server},
                           {"route", route},
                           {"method", req.method},
                           {"status", status}};
      i = cache.emplace(key, cells{&m.counter(metric::http_requests, labels),
                                   &m.histogram(metric::http_duration, labels)})
            .first;
    }
    i->second.requests->inc();
    // Answers httplib gives before routing (400, 414) have no start.
    double elapsed = 0;
    if (request_start != std::chrono::steady_clock::time_point{})
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                              - request_start)
                  .count();
    request_start = {};
    i->second.duration->observe(elapsed);
    if (log_enabled(log_level::debug))
      HERALD_LOG(debug, server, req.method, " ", route, " ", status, " in ",
                 static_cast<int64_t>(elapsed * 1e6), " us");
    set_log_request_id({});
  });
}

} // namespace herald
