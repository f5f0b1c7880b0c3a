#include "http/api_server.hpp"

#include <algorithm>
#include <functional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/observe.hpp"
#include "http/problem.hpp"

namespace herald {

api_server::api_server(api_context ctx, int threads)
  : ctx_(std::move(ctx)), actors_(*ctx_.sys) {
  // httplib has one body limit per server: the larger one; the single-item
  // route checks its own smaller limit.
  tune_server(svr_, threads, std::max(ctx_.max_body_bytes, ctx_.max_batch_bytes));
  install_routes();
}

api_server::~api_server() {
  stop();
}

int api_server::bind(const std::string& host, uint16_t port) {
  return bind_server(svr_, host, port);
}

void api_server::start() {
  start_server(svr_, thread_);
}

void api_server::stop() {
  accepting_ = false;
  if (thread_.joinable()) {
    svr_.stop();
    thread_.join();
  }
}

namespace {

/// The request's API key; answers 401 and returns "" if there is none.
std::string api_key_of(const httplib::Request& req, httplib::Response& res) {
  auto key = bearer_token(req);
  if (key.empty()) {
    res.set_header("WWW-Authenticate", "Bearer");
    reply_problem(res, 401, status_title(401),
                  "missing Authorization: Bearer <API key>");
  }
  return key;
}

} // namespace

std::optional<tenant> api_server::authenticate(pooled_actor& self,
                                               const httplib::Request& req,
                                               httplib::Response& res) {
  auto key = api_key_of(req, res);
  if (key.empty())
    return std::nullopt;
  std::optional<tenant> result;
  ask<tenant>(self, ctx_.timeout, res, ctx_.auth,
              [&](tenant& t) { result = std::move(t); }, atom::auth_v, key);
  return result;
}

namespace {

int64_t ceil_seconds(int64_t ms) {
  return (std::max<int64_t>(ms, 0) + 999) / 1000;
}

/// RateLimit-* headers (IETF httpapi ratelimit-headers draft): the limit is
/// the bucket capacity, the reset the seconds until it is full again.
void set_rate_headers(httplib::Response& res, const rate_decision& d) {
  res.set_header("RateLimit-Limit", std::to_string(d.limit));
  res.set_header("RateLimit-Remaining", std::to_string(d.remaining));
  res.set_header("RateLimit-Reset", std::to_string(ceil_seconds(d.reset_ms)));
}

void reply_rate_limited(httplib::Response& res, const rate_decision& d) {
  res.set_header("Retry-After",
                 std::to_string(std::max<int64_t>(1, ceil_seconds(d.retry_after_ms))));
  reply_problem(res, 429, status_title(429),
                "the tenant's rate limit is exhausted; retry after the "
                "Retry-After seconds");
}

/// The 202 body: a notification to a recipient who opted out or has no
/// address for the channel is stored as skipped, and says so.
nlohmann::json accepted_body(const std::string& id,
                             const std::string& skipped = {}) {
  if (!skipped.empty())
    return {{"id", id}, {"status", "skipped"}, {"reason", skipped}};
  return {{"id", id}, {"status", "accepted"}};
}

/// A problem document as a JSON value (for per-item answers of a batch).
nlohmann::json problem_value(int status, const std::string& detail,
                             const std::vector<field_error>& errors = {}) {
  return nlohmann::json::parse(problem_json(status, status_title(status), detail,
                                            errors));
}

} // namespace

void api_server::install_routes() {
  // Every request first: refuse new work while shutting down.
  svr_.set_pre_routing_handler([this](const httplib::Request& req,
                                      httplib::Response& res)
                                  -> httplib::Server::HandlerResponse {
    begin_request(req, res);
    if (accepting_)
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Retry-After", "1");
    res.set_header("Connection", "close");
    reply_problem(res, 503, status_title(503), "the node is shutting down");
    return httplib::Server::HandlerResponse::Handled;
  });

  observe_requests(svr_, "api");

  svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"status", "ok"}});
  });

  svr_.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    bool db = false;
    caf::scoped_actor self{*ctx_.sys};
    self->request(ctx_.store, std::chrono::seconds(2), atom::ping_v)
      .receive([&](bool ok) { db = ok; }, [&](caf::error&) { db = false; });
    // A cluster node is ready once it has joined (or is alone by config).
    bool joined = true;
    std::string cluster = "single node";
    if (ctx_.cluster) {
      joined = false;
      cluster = "unreachable";
      self->request(ctx_.cluster, std::chrono::seconds(2), atom::get_v)
        .receive(
          [&](cluster_view& v) {
            joined = v.ready;
            cluster = v.ready ? "joined" : "joining";
          },
          [&](caf::error&) {});
    }
    bool ready = db && joined && accepting_.load();
    nlohmann::json body{{"ready", ready},
                        {"database", db ? "reachable" : "unreachable"},
                        {"cluster", cluster}};
    reply_json(res, ready ? 200 : 503, body);
  });

  svr_.Post("/v1/notifications",
             [this](const httplib::Request& req, httplib::Response& res) {
               submit_one(req, res);
             });

  svr_.Post("/v1/notifications/batch",
            [this](const httplib::Request& req, httplib::Response& res) {
              submit_batch(req, res);
            });

  svr_.Get(R"(/v1/notifications/([^/]+))", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto id = req.matches[1].str();
    if (!is_uuid(id)) {
      reply_problem(res, 404, status_title(404), "no such notification");
      return;
    }
    ask<notification>(self, ctx_.timeout, res, ctx_.store,
        [&](notification& n) { reply_json(res, 200, to_json(n)); },
        atom::get_v, t->id, id);
  });

  svr_.Get(R"(/v1/notifications/([^/]+)/attempts)",
           [this](const httplib::Request& req, httplib::Response& res) {
             auto self = actors_.acquire();
             auto t = authenticate(self, req, res);
             if (!t)
               return;
             auto id = req.matches[1].str();
             if (!is_uuid(id)) {
               reply_problem(res, 404, status_title(404),
                             "no such notification");
               return;
             }
             ask<std::vector<attempt>>(self, ctx_.timeout, res, ctx_.store,
                 [&](std::vector<attempt>& xs) {
                   auto items = nlohmann::json::array();
                   for (auto& a : xs)
                     items.push_back(to_json(a));
                   reply_json(res, 200, {{"items", items}});
                 },
                 atom::attempts_v, t->id, id);
           });

  svr_.Get("/v1/notifications", [this](const httplib::Request& req,
                                       httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    notification_query q;
    q.tenant_id = t->id;
    std::vector<field_error> errors;
    q.status = req.get_param_value("status");
    notification_status known;
    if (!q.status.empty() && !from_string(q.status, known))
      errors.push_back({"status", "unknown status"});
    read_page_params(req, q.channel, q.cursor, q.limit, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid query parameters",
                    errors);
      return;
    }
    ask<notification_page>(self, ctx_.timeout, res, ctx_.store,
        [&](notification_page& page) {
          auto items = nlohmann::json::array();
          for (auto& n : page.items)
            items.push_back(to_json(n));
          nlohmann::json body{{"items", items}};
          body["next_cursor"] = page.next_cursor.empty()
                                  ? nlohmann::json(nullptr)
                                  : nlohmann::json(page.next_cursor);
          reply_json(res, 200, body);
        },
        atom::list_v, q);
  });

  install_dlq_routes();
  install_template_routes();
  install_recipient_routes();
  install_receipt_routes();
}

namespace {

/// One item's answer in a batch (its status and problem, or its id).
void answer_item(nlohmann::json& answer, const std::string& prefix,
                 const item_result& r, const std::string& channel,
                 const std::string& skipped) {
  auto problem = [&](int status, const std::string& detail,
                     const std::vector<field_error>& errors = {}) {
    answer["status"] = status;
    answer["problem"] = problem_value(status, detail, errors);
  };
  switch (r.status) {
    case submit_status::accepted:
      answer["status"] = 202;
      answer["id"] = r.id;
      if (!skipped.empty())
        answer["skipped"] = skipped;
      break;
    case submit_status::replayed:
      answer["status"] = 202;
      answer["id"] = r.id;
      answer["idempotent_replayed"] = true;
      break;
    case submit_status::key_mismatch:
      problem(422, "this idempotency_key was used with a different request body");
      break;
    case submit_status::in_flight:
      problem(409, "an item with this idempotency_key is still being processed");
      break;
    case submit_status::rate_limited:
      problem(429, "the tenant's rate limit is exhausted");
      break;
    case submit_status::channel_disabled:
      problem(422, "the notification has invalid fields",
              {{prefix + "channel",
                "channel " + channel + " is not enabled for this tenant"}});
      break;
    case submit_status::guard_unavailable:
      problem(503, "idempotency check unavailable; retry later");
      break;
    case submit_status::store_failed:
      problem(503, "temporarily unable to store the item");
      break;
  }
}

} // namespace

caf::expected<ingest_result> api_server::ingest(pooled_actor& self,
                                                ingest_request rq) {
  // One request for the whole protocol; the ingest actor bounds each of
  // its own steps by the same timeout, so this wait covers a few of them.
  if (ctx_.ingest.empty())
    return make_error(ec::unavailable,
                      "this node takes no submissions (herald.node.roles "
                      "has no ingest)");
  auto n = next_ingest_.fetch_add(1, std::memory_order_relaxed);
  auto& hdl = ctx_.ingest[n % ctx_.ingest.size()];
  return call<ingest_result>(self, ctx_.timeout * 3, hdl, atom::submit_v,
                             std::move(rq));
}

void api_server::submit_one(const httplib::Request& req, httplib::Response& res) {
  auto api_key = api_key_of(req, res);
  if (api_key.empty())
    return;
  auto self = actors_.acquire();
  // What the HTTP layer finds wrong is answered after the key is checked
  // (401 first) and, from the body on, after the tenant's token is taken,
  // as a request with no items.
  ingest_request rq;
  rq.api_key = std::move(api_key);
  rq.batch = false;
  std::function<void()> refusal;
  std::string skipped; // why the notification is stored as skipped ("" = not)
  auto key = req.get_header_value("Idempotency-Key");
  nlohmann::json j;
  if (req.body.size() > ctx_.max_body_bytes) {
    rq.tokens = 0;
    refusal = [&] {
      reply_problem(res, 413, status_title(413),
                    "the request body exceeds herald.api.max-body-bytes ("
                      + std::to_string(ctx_.max_body_bytes) + " bytes)");
    };
  } else if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    rq.tokens = 0;
    refusal = [&] {
      reply_problem(res, 415, status_title(415),
                    "the body must be application/json");
    };
  } else if (req.has_header("Idempotency-Key") && !valid_idempotency_key(key)) {
    rq.tokens = 0;
    refusal = [&] {
      reply_problem(res, 400, status_title(400),
                    "Idempotency-Key must be 1 to 255 printable ASCII characters",
                    {{"Idempotency-Key", "1 to 255 printable ASCII characters"}});
    };
  } else {
    std::string parse_error;
    j = parse_json(req.body, &parse_error);
    submission sub;
    if (!j.is_discarded())
      sub = parse_submission_json(j);
    sub.n.request_id = log_request_id();
    if (j.is_discarded()) {
      refusal = [&, parse_error] {
        reply_problem(res, 400, status_title(400), parse_error);
      };
    } else if (!sub.malformed.empty()) {
      refusal = [&, msg = sub.malformed] {
        reply_problem(res, 400, status_title(400), msg);
      };
    } else if (!sub.errors.empty()) {
      refusal = [&, errors = sub.errors] {
        reply_problem(res, 422, status_title(422),
                      "the notification has invalid fields", errors);
      };
    } else {
      auto rr = prepare_submission(self, rq.api_key, sub);
      if (rr.status != 0) {
        refusal = [&res, rr] {
          if (rr.status == 503)
            res.set_header("Retry-After", "1");
          reply_problem(res, rr.status, status_title(rr.status),
                        rr.detail.empty() ? "the notification cannot be addressed or rendered"
                                          : rr.detail,
                        rr.errors);
        };
      } else {
        ingest_item item;
        if (sub.n.status == notification_status::skipped)
          skipped = sub.n.last_error;
        item.n = std::move(sub.n);
        if (!key.empty()) {
          item.key = key;
          item.hash = request_hash(j);
        }
        rq.items.push_back(std::move(item));
      }
    }
  }
  auto channel = rq.items.empty() ? std::string{} : rq.items[0].n.channel;
  auto result = ingest(self, std::move(rq));
  if (!result) {
    reply_error(res, result.error());
    return;
  }
  if (result->rated) {
    set_rate_headers(res, result->rate);
    if (!result->rate.allowed) {
      reply_rate_limited(res, result->rate);
      return;
    }
  }
  if (refusal) {
    refusal();
    return;
  }
  if (result->items.size() != 1) {
    reply_problem(res, 503, status_title(503), "the submission was not answered");
    return;
  }
  auto accepted = [&](const std::string& id) {
    res.set_header("Location", "/v1/notifications/" + id);
    reply_json(res, 202, accepted_body(id, skipped));
  };
  const auto& r = result->items[0];
  switch (r.status) {
    case submit_status::accepted:
      accepted(r.id);
      break;
    case submit_status::replayed:
      res.set_header("Idempotent-Replayed", "true");
      accepted(r.id);
      break;
    case submit_status::key_mismatch:
      reply_problem(res, 422, status_title(422),
                    "this Idempotency-Key was used with a different request body",
                    {{"Idempotency-Key", "already used with a different body"}});
      break;
    case submit_status::in_flight:
      res.set_header("Retry-After", "1");
      reply_problem(res, 409, status_title(409),
                    "a request with this Idempotency-Key is still being processed");
      break;
    case submit_status::channel_disabled:
      reply_problem(res, 422, status_title(422),
                    "the notification has invalid fields",
                    {{"channel", "channel " + channel
                                   + " is not enabled for this tenant"}});
      break;
    case submit_status::rate_limited:
      reply_rate_limited(res, result->rate);
      break;
    case submit_status::guard_unavailable:
    case submit_status::store_failed:
      res.set_header("Retry-After", "1");
      reply_problem(res, 503, status_title(503),
                    "temporarily unable to store the notification; retry later");
      break;
  }
}

void api_server::submit_batch(const httplib::Request& req, httplib::Response& res) {
  auto api_key = api_key_of(req, res);
  if (api_key.empty())
    return;
  auto self = actors_.acquire();
  ingest_request rq;
  rq.api_key = std::move(api_key);
  rq.batch = true;
  // A refusal of the whole body is answered after the key is checked (an
  // ingest request with no items), and takes no token.
  std::function<void()> refusal;
  std::string parse_error;
  nlohmann::json j;
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    refusal = [&] {
      reply_problem(res, 415, status_title(415), "the body must be application/json");
    };
  } else if (j = parse_json(req.body, &parse_error); j.is_discarded()) {
    refusal = [&] { reply_problem(res, 400, status_title(400), parse_error); };
  } else if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    refusal = [&] {
      reply_problem(res, 400, status_title(400),
                    "the body must be an object {\"items\": [notification, ...]}");
    };
  } else if (j["items"].empty() || j["items"].size() > ctx_.max_batch_items) {
    auto count = j["items"].size();
    refusal = [&, count] {
      reply_problem(res, 422, status_title(422),
                    "a batch holds 1 to " + std::to_string(ctx_.max_batch_items)
                      + " items; this one has " + std::to_string(count),
                    {{"items", "1 to " + std::to_string(ctx_.max_batch_items)
                                 + " items"}});
    };
  }
  // Every item is answered on its own, in order. Items the codec refuses
  // are answered here; the others go to the ingest actor (`sent` maps its
  // answers back).
  auto answers = nlohmann::json::array();
  std::vector<size_t> sent;
  std::vector<std::string> channels;
  std::vector<std::string> skips; // per item sent: why it is skipped ("" = not)
  size_t rejected = 0;
  if (!refusal) {
    auto& items = j["items"];
    for (size_t i = 0; i < items.size(); ++i)
      answers.push_back({{"index", i}});
    auto reject = [&](size_t i, int status, const std::string& detail,
                      const std::vector<field_error>& errors = {}) {
      answers[i]["status"] = status;
      answers[i]["problem"] = problem_value(status, detail, errors);
      ++rejected;
    };
    rq.items.reserve(items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      auto prefix = "items[" + std::to_string(i) + "].";
      // The item is read in place; only a keyed one is copied, to validate
      // and hash it without its key.
      const nlohmann::json* item_ptr = &items[i];
      nlohmann::json without_key;
      std::string key;
      if (items[i].is_object() && items[i].contains("idempotency_key")) {
        auto& k = items[i]["idempotency_key"];
        if (!k.is_string() || !valid_idempotency_key(k.get<std::string>())) {
          reject(i, 422, "invalid idempotency_key",
                 {{prefix + "idempotency_key",
                   "1 to 255 printable ASCII characters"}});
          continue;
        }
        key = k.get<std::string>();
        without_key = items[i];
        without_key.erase("idempotency_key");
        item_ptr = &without_key;
      }
      const auto& item = *item_ptr;
      auto sub = parse_submission_json(item, prefix);
      sub.n.request_id = log_request_id();
      if (!sub.malformed.empty()) {
        reject(i, 422, sub.malformed, {{prefix.substr(0, prefix.size() - 1),
                                        "must be a notification object"}});
        continue;
      }
      if (!sub.errors.empty()) {
        reject(i, 422, "the notification has invalid fields", sub.errors);
        continue;
      }
      if (!sub.template_code.empty() || !sub.recipient_id.empty()) {
        auto rr = prepare_submission(self, rq.api_key, sub);
        if (rr.status != 0) {
          for (auto& e : rr.errors)
            e.field = prefix + e.field;
          reject(i, rr.status,
                 rr.detail.empty() ? "the notification cannot be addressed or rendered" : rr.detail,
                 rr.errors);
          continue;
        }
      }
      ingest_item x;
      x.n = std::move(sub.n);
      if (!key.empty()) {
        x.key = std::move(key);
        x.hash = request_hash(item);
      }
      channels.push_back(x.n.channel);
      skips.push_back(x.n.status == notification_status::skipped ? x.n.last_error
                                                                  : std::string{});
      rq.items.push_back(std::move(x));
      sent.push_back(i);
    }
  }
  auto result = ingest(self, std::move(rq));
  if (!result) {
    reply_error(res, result.error());
    return;
  }
  if (refusal) {
    refusal();
    return;
  }
  if (result->items.size() != sent.size()) {
    reply_problem(res, 503, status_title(503), "the batch was not answered");
    return;
  }
  if (result->rated)
    set_rate_headers(res, result->rate);
  bool limited = false;
  for (size_t k = 0; k < sent.size(); ++k) {
    const auto& r = result->items[k];
    auto i = sent[k];
    answer_item(answers[i], "items[" + std::to_string(i) + "].", r, channels[k],
                skips[k]);
    if (r.status != submit_status::accepted && r.status != submit_status::replayed)
      ++rejected;
    limited = limited || r.status == submit_status::rate_limited;
  }
  if (limited)
    res.set_header("Retry-After", std::to_string(std::max<int64_t>(
                                    1, ceil_seconds(result->rate.retry_after_ms))));
  nlohmann::json body{{"accepted", answers.size() - rejected},
                      {"rejected", rejected},
                      {"items", answers}};
  res.status = rejected == 0 ? 202 : 207;
  res.set_content(dump_json(body), "application/json");
}

} // namespace herald
