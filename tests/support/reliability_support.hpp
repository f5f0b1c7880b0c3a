#pragma once

// Helpers for tests/e2e/reliability_test.cpp (egress reliability: retries,
// circuit breakers, dead letters, cancel). Built on support/guards_support.hpp
// (node process, fake-provider process, config files, clients) and, like it,
// independent of any test framework: failures are return values.
//
//   - one request function for the REST and admin APIs (JSON in, JSON out)
//   - tenants, batch submission of any number of notifications
//   - listings followed to their end (notifications, dead letters)
//   - the fake provider's control port, the node's breakers
//   - RFC 3339 times

#include <cctype>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/guards_support.hpp"

namespace herald::test::reliability {

using json = nlohmann::json;
using guards::fake_provider;
using guards::herald_node;

// -- HTTP -------------------------------------------------------------------------

/// An answer: status 0 = none (the transport error is in `text`).
struct reply {
  int status = 0;
  json body; // discarded if the body is not JSON
  std::string text;

  /// "STATUS BODY", for messages.
  std::string describe() const {
    return std::to_string(status) + " " + text;
  }

  /// body[key] as a string; "" if missing or not a string.
  std::string field(const char* key) const {
    return body.is_object() && body.contains(key) && body[key].is_string()
             ? body[key].get<std::string>()
             : std::string{};
  }
};

/// METHOD path with `token` as bearer (none if empty) and `body` as JSON
/// (none if null). Methods: GET, POST, PUT, DELETE.
inline reply request(httplib::Client& c, const std::string& method,
                     const std::string& path, const std::string& token,
                     const json& body = nullptr) {
  httplib::Headers headers;
  if (!token.empty())
    headers.emplace("Authorization", "Bearer " + token);
  auto payload = body.is_null() ? std::string{} : body.dump();
  httplib::Result r{nullptr, httplib::Error::Unknown};
  if (method == "GET")
    r = c.Get(path.c_str(), headers);
  else if (method == "POST")
    r = c.Post(path.c_str(), headers, payload, "application/json");
  else if (method == "PUT")
    r = c.Put(path.c_str(), headers, payload, "application/json");
  else if (method == "DELETE")
    r = c.Delete(path.c_str(), headers);
  reply out;
  if (!r) {
    out.text = "no answer (httplib error "
               + std::to_string(static_cast<int>(r.error())) + ") to "
               + method + " " + path;
    return out;
  }
  out.status = r->status;
  out.text = r->body;
  out.body = json::parse(r->body, nullptr, false);
  return out;
}

/// j[key] as an integer; -1 if missing or not a number.
inline int64_t int_field(const json& j, const char* key) {
  auto v = j.is_object() ? j.find(key) : j.end();
  return v != j.end() && v->is_number() ? v->get<int64_t>() : -1;
}

/// j[key] as a string; "" if missing or not a string.
inline std::string text_field(const json& j, const char* key) {
  auto v = j.is_object() ? j.find(key) : j.end();
  return v != j.end() && v->is_string() ? v->get<std::string>() : std::string{};
}

/// Percent-encodes everything but RFC 3986 unreserved characters (for a
/// provider URL as one path segment).
inline std::string percent_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

// -- time ----------------------------------------------------------------------------

inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

/// Epoch milliseconds as RFC 3339 UTC with milliseconds.
inline std::string rfc3339(int64_t ms) {
  auto secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

/// RFC 3339 (as the node writes it: UTC, "Z" or "+00:00", optional
/// fraction) to epoch milliseconds; -1 if unreadable.
inline int64_t parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int frac_pos = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year,
                  &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec,
                  &frac_pos)
        != 6
      || frac_pos == 0)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t ms = static_cast<int64_t>(::timegm(&tm)) * 1000;
  auto pos = static_cast<size_t>(frac_pos);
  if (pos < s.size() && s[pos] == '.') {
    int64_t scale = 100;
    for (++pos; pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]));
         ++pos, scale /= 10)
      ms += (s[pos] - '0') * scale;
  }
  return ms;
}

// -- tenants and submissions -----------------------------------------------------------

struct tenant {
  std::string id;
  std::string key;
  std::string error; // why it could not be made ("" = ok)
};

/// PUT /admin/tenants/{id} with `fields` (and a name), then one API key.
inline tenant make_tenant(const herald_node& node, const std::string& admin_token,
                          const std::string& id, json fields = json::object()) {
  tenant t;
  t.id = id;
  fields["name"] = "e2e reliability tenant " + id;
  auto admin = node.admin();
  auto put = request(*admin, "PUT", "/admin/tenants/" + id, admin_token, fields);
  if (put.status != 201) {
    t.error = "PUT /admin/tenants/" + id + ": " + put.describe();
    return t;
  }
  auto key = request(*admin, "POST", "/admin/tenants/" + id + "/keys",
                     admin_token, json::object());
  t.key = key.field("key");
  if (key.status != 201 || t.key.empty())
    t.error = "POST /admin/tenants/" + id + "/keys: " + key.describe();
  return t;
}

/// Submits `items` through POST /v1/notifications/batch, `per_batch` at a
/// time. The ids in order; on the first answer other than 202 stops and
/// says why in `error`.
inline std::vector<std::string> submit_batches(httplib::Client& c,
                                               const std::string& key,
                                               const std::vector<json>& items,
                                               std::string& error,
                                               size_t per_batch = 1000) {
  std::vector<std::string> ids;
  for (size_t first = 0; first < items.size(); first += per_batch) {
    auto last = std::min(items.size(), first + per_batch);
    json batch{{"items", json(std::vector<json>(items.begin() + first,
                                                items.begin() + last))}};
    auto r = request(c, "POST", "/v1/notifications/batch", key, batch);
    if (r.status != 202 || !r.body.is_object() || !r.body["items"].is_array()) {
      error = "batch at item " + std::to_string(first) + ": "
              + r.describe().substr(0, 2000);
      return ids;
    }
    for (auto& item : r.body["items"])
      ids.push_back(text_field(item, "id"));
  }
  return ids;
}

/// The items of a listing (`path` with its query, e.g. "/v1/dlq?limit=200"),
/// following next_cursor to the end. On an error stops and says why in
/// `error`.
inline std::vector<json> all_pages(httplib::Client& c, const std::string& key,
                                   const std::string& path, std::string& error) {
  std::vector<json> out;
  auto sep = path.find('?') == std::string::npos ? "?" : "&";
  std::string cursor;
  for (int page = 0; page < 10000; ++page) {
    auto r = request(c, "GET",
                     cursor.empty() ? path : path + sep + "cursor=" + cursor,
                     key);
    if (r.status != 200 || !r.body.is_object() || !r.body["items"].is_array()) {
      error = "GET " + path + " (page " + std::to_string(page)
              + "): " + r.describe().substr(0, 2000);
      return out;
    }
    for (auto& item : r.body["items"])
      out.push_back(item);
    auto next = r.body.find("next_cursor");
    if (next == r.body.end() || !next->is_string())
      return out;
    cursor = next->get<std::string>();
  }
  error = "GET " + path + ": more than 10000 pages";
  return out;
}

// -- fake provider and breakers ---------------------------------------------------------

/// GET (body null) or POST (JSON body) on the fake provider's control port:
/// "/stats", "/stats?ids=1", "/control", "/reset". The answer's JSON; an
/// empty object on any failure.
inline json receiver_call(const fake_provider& fp, const std::string& path,
                          const json& body = nullptr) {
  auto c = guards::make_client(fp.control_port);
  auto r = request(*c, body.is_null() ? "GET" : "POST", path, "", body);
  return r.status == 200 && r.body.is_object() ? r.body : json::object();
}

/// What the node records as the provider (and breaker key) of deliveries
/// to `fp`: its origin.
inline std::string endpoint_of(const fake_provider& fp) {
  return "http://127.0.0.1:" + std::to_string(fp.port);
}

/// The breaker of `provider` from GET /admin/breakers; null if the node
/// lists none for it (or the request failed).
inline json breaker_of(const herald_node& node, const std::string& admin_token,
                       const std::string& provider) {
  auto admin = node.admin();
  auto r = request(*admin, "GET", "/admin/breakers", admin_token);
  if (r.status != 200 || !r.body.is_object() || !r.body["items"].is_array())
    return nullptr;
  for (auto& b : r.body["items"])
    if (text_field(b, "provider") == provider)
      return b;
  return nullptr;
}

} // namespace herald::test::reliability
