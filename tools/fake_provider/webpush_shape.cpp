// The Web Push shape of the fake: a push service (RFC 8030) that hands out
// subscriptions on the control port and takes encrypted pushes on the
// webhook port, checking VAPID (RFC 8292) and decrypting the aes128gcm
// payload (RFC 8291) with the user agent keys it kept.
//
//   control: POST /webpush/subscriptions              → 201 {"id", "endpoint",
//                                                       "keys": {"p256dh", "auth"}}
//            POST /webpush/subscriptions/{id}/expire  → 200; pushes get 410
//   webhook: POST /webpush/{id}  TTL, Content-Encoding: aes128gcm,
//            Authorization: vapid t=…, k=…             → 201 + Location
//     404 unknown id, 410 expired, 403 bad VAPID (with the reason),
//     400 missing TTL or undecryptable (with the reason), 415 other encodings

#include "fake_provider.hpp"

#include <ctime>

#include "channels/webpush.hpp"
#include "core/crypto.hpp"

namespace herald::tools {

using nlohmann::json;
using std::chrono::steady_clock;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto x = a[i] >= 'A' && a[i] <= 'Z' ? a[i] - 'A' + 'a' : a[i];
    auto y = b[i] >= 'A' && b[i] <= 'Z' ? b[i] - 'A' + 'a' : b[i];
    if (x != y)
      return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return {};
  auto last = s.find_last_not_of(" \t");
  return s.substr(first, last - first + 1);
}

// The k parameter of a "vapid t=…, k=…" header (quotes removed); "" if none.
// Only called after verify_vapid accepted the header.
std::string vapid_key_of(std::string_view header) {
  header = trim(header);
  auto space = header.find_first_of(" \t");
  if (space == std::string_view::npos)
    return {};
  auto rest = header.substr(space + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto param = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(comma + 1);
    auto eq = param.find('=');
    if (eq == std::string_view::npos || !iequals(trim(param.substr(0, eq)), "k"))
      continue;
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    return std::string{value};
  }
  return {};
}

// The host a client reached us by (Host header without the port), so that
// endpoints handed out work from where the client is (a container network,
// say); `fallback` if the header is missing.
std::string request_host(const httplib::Request& req,
                         const std::string& fallback) {
  auto host = req.get_header_value("Host");
  if (host.empty()) {
    host = fallback;
    if (host.empty() || host == "0.0.0.0" || host == "::")
      host = "127.0.0.1";
    return host.find(':') != std::string::npos ? "[" + host + "]" : host;
  }
  if (host.front() == '[')
    return host.substr(0, host.find(']') + 1);
  return host.substr(0, host.find(':'));
}

bool all_digits(const std::string& s) {
  if (s.empty() || s.size() > 10)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

} // namespace

void fake_provider::handle_new_subscription(const httplib::Request& req,
                                            httplib::Response& res) {
  webpush::ua_keys keys;
  try {
    keys = webpush::generate_ua_keys();
  } catch (const std::exception& e) {
    reply_json(res, 500, {{"error", e.what()}});
    return;
  }
  int port = 0;
  {
    std::lock_guard<std::mutex> guard{lifecycle_mu_};
    port = port_;
  }
  auto id = crypto::random_token(12);
  push_subscription sub;
  sub.endpoint = "http://" + request_host(req, opts_.host) + ":"
                 + std::to_string(port) + "/webpush/" + id;
  sub.private_raw = std::move(keys.private_raw);
  sub.auth_secret = crypto::base64url_decode(keys.auth).value_or("");
  auto endpoint = sub.endpoint;
  {
    std::lock_guard<std::mutex> guard{subs_mu_};
    subs_.emplace(id, std::move(sub));
  }
  reply_json(res, 201,
             {{"id", id},
              {"endpoint", endpoint},
              {"expirationTime", nullptr},
              {"keys", {{"p256dh", keys.p256dh}, {"auth", keys.auth}}}});
}

void fake_provider::handle_expire_subscription(const httplib::Request& req,
                                               httplib::Response& res) {
  std::string id = req.matches[1];
  std::lock_guard<std::mutex> guard{subs_mu_};
  auto i = subs_.find(id);
  if (i == subs_.end()) {
    reply_json(res, 404, {{"error", "no such subscription"}, {"id", id}});
    return;
  }
  i->second.expired = true;
  reply_json(res, 200, {{"id", id}, {"expired", true}});
}

void fake_provider::handle_webpush(const httplib::Request& req,
                                   httplib::Response& res) {
  auto arrival = steady_clock::now();
  fault_config f;
  if (!shape_prologue(webpush_, res, f))
    return;
  std::string id = req.matches[1];
  json record{{"request_id", req.get_header_value("X-Request-Id")},
              {"subscription", id},
              {"plaintext", ""},
              {"subject", ""},
              {"ttl", req.get_header_value("TTL")},
              {"urgency", req.has_header("Urgency")
                            ? req.get_header_value("Urgency")
                            : "normal"},
              {"topic", req.get_header_value("Topic")}};
  auto answer = [&](int status, json body) {
    if (body.is_null())
      res.status = status;
    else
      reply_json(res, status, body);
    webpush_.answered(status, std::move(record), arrival);
  };
  push_subscription sub;
  {
    std::lock_guard<std::mutex> guard{subs_mu_};
    auto i = subs_.find(id);
    if (i != subs_.end())
      sub = i->second;
    else
      sub.endpoint.clear();
  }
  if (sub.endpoint.empty()) {
    answer(404, {{"error", "no such subscription"}});
    return;
  }
  if (sub.expired) {
    answer(410, {{"error", "subscription expired"}});
    return;
  }
  std::string subject;
  auto authorization = req.get_header_value("Authorization");
  auto reason = webpush::verify_vapid(authorization,
                                      webpush::origin_of(sub.endpoint),
                                      static_cast<int64_t>(std::time(nullptr)),
                                      &subject);
  if (reason.empty() && !opts_.vapid_public_key.empty()) {
    auto k = crypto::base64url_decode(vapid_key_of(authorization));
    if (!k || *k != crypto::base64url_decode(opts_.vapid_public_key))
      reason = "k is not the application server key this service pins";
  }
  if (!reason.empty()) {
    webpush_.count_unauthorized();
    reply_json(res, 403, {{"error", "invalid VAPID authorization"},
                          {"reason", reason}});
    return;
  }
  if (roll_failure(f)) {
    webpush_.count_injected();
    if (!f.retry_after.empty())
      res.set_header("Retry-After", f.retry_after);
    reply_json(res, f.fail_status, {{"error", "injected failure"}});
    return;
  }
  record["subject"] = subject;
  if (!all_digits(req.get_header_value("TTL"))) {
    answer(400, {{"error", "missing or invalid TTL header"}});
    return;
  }
  if (!iequals(req.get_header_value("Content-Encoding"), "aes128gcm")) {
    answer(415, {{"error", "Content-Encoding must be aes128gcm"}});
    return;
  }
  std::string error;
  auto plain = webpush::decrypt(req.body, sub.private_raw, sub.auth_secret,
                                error);
  if (!plain) {
    answer(400, {{"error", "cannot decrypt the payload"}, {"reason", error}});
    return;
  }
  record["plaintext"] = *plain;
  uint64_t n = 0;
  {
    std::lock_guard<std::mutex> guard{subs_mu_};
    auto i = subs_.find(id);
    if (i != subs_.end())
      n = ++i->second.messages;
  }
  res.set_header("Location",
                 sub.endpoint + "/messages/" + std::to_string(n));
  answer(201, nullptr);
}

} // namespace herald::tools
