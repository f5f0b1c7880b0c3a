#include "http/api_server.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/log.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "actors/idempotency_guard.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

const char* const statuses[] = {"accepted",  "queued",         "sending",
                                "delivered", "retry_scheduled", "failed",
                                "dead_lettered", "cancelled",  "discarded"};

} // namespace

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
  thread_ = std::thread{[this] { svr_.listen_after_bind(); }};
}

void api_server::stop() {
  accepting_ = false;
  if (thread_.joinable()) {
    svr_.stop();
    thread_.join();
  }
}

std::optional<tenant> api_server::authenticate(pooled_actor& self,
                                               const httplib::Request& req,
                                               httplib::Response& res) {
  auto key = bearer_token(req);
  if (key.empty()) {
    res.set_header("WWW-Authenticate", "Bearer");
    reply_problem(res, 401, status_title(401),
                  "missing Authorization: Bearer <API key>");
    return std::nullopt;
  }
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

nlohmann::json accepted_body(const std::string& id) {
  return {{"id", id}, {"status", "accepted"}};
}

/// A problem document as a JSON value (for per-item answers of a batch).
nlohmann::json problem_value(int status, const std::string& detail,
                             const std::vector<field_error>& errors = {}) {
  return nlohmann::json::parse(problem_json(status, status_title(status), detail,
                                            errors));
}

/// A new notification from a validated submission.
delivery_job make_job(notification n, const tenant& t) {
  delivery_job job;
  job.n = std::move(n);
  job.n.id = new_notification_id();
  job.n.tenant_id = t.id;
  job.n.status = "accepted";
  job.n.created_at_ms = now_ms();
  job.n.updated_at_ms = job.n.created_at_ms;
  job.signing_secret = t.webhook_secret;
  return job;
}

/// The tenant's limits: its own, else the node's defaults.
int32_t rate_of(const api_context& ctx, const tenant& t) {
  return t.rate_per_sec > 0 ? t.rate_per_sec : ctx.default_rate;
}

int32_t burst_of(const api_context& ctx, const tenant& t) {
  return t.burst > 0 ? t.burst : ctx.default_burst;
}

/// Takes tokens from the tenant's limiter. A limiter may stop for idleness
/// just as a request reaches it (sec::request_receiver_down): the registry
/// then spawns a fresh, full one, so asking once more is exact.
caf::expected<rate_decision> acquire(pooled_actor& self,
                                     const api_context& ctx, const tenant& t,
                                     int32_t tokens) {
  rate_request rq{t.id, tokens, rate_of(ctx, t), burst_of(ctx, t)};
  auto d = call<rate_decision>(self, ctx.timeout, ctx.limiters, atom::acquire_v, rq);
  if (!d && d.error() == caf::sec::request_receiver_down)
    d = call<rate_decision>(self, ctx.timeout, ctx.limiters, atom::acquire_v, rq);
  return d;
}

void check_channel_enabled(const tenant& t, submission& sub,
                           const std::string& prefix = "") {
  if (!t.channels.empty() && !sub.n.channel.empty()
      && std::find(t.channels.begin(), t.channels.end(), sub.n.channel)
           == t.channels.end())
    sub.errors.push_back({prefix + "channel", "channel " + sub.n.channel
                                                + " is not enabled for this tenant"});
}

} // namespace

void api_server::install_routes() {
  // Every request first: refuse new work while shutting down.
  svr_.set_pre_routing_handler([this](const httplib::Request&,
                                      httplib::Response& res)
                                  -> httplib::Server::HandlerResponse {
    if (accepting_)
      return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("Retry-After", "1");
    res.set_header("Connection", "close");
    reply_problem(res, 503, status_title(503), "the node is shutting down");
    return httplib::Server::HandlerResponse::Handled;
  });

  svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"status", "ok"}});
  });

  svr_.Get("/ready", [this](const httplib::Request&, httplib::Response& res) {
    bool db = false;
    caf::scoped_actor self{*ctx_.sys};
    self->request(ctx_.store, std::chrono::seconds(2), atom::ping_v)
      .receive([&](bool ok) { db = ok; }, [&](caf::error&) { db = false; });
    nlohmann::json body{{"ready", db && accepting_.load()},
                        {"database", db ? "reachable" : "unreachable"}};
    reply_json(res, db ? 200 : 503, body);
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
    if (!q.status.empty() && !one_of(q.status, statuses))
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
}

void api_server::submit_one(const httplib::Request& req, httplib::Response& res) {
  auto self = actors_.acquire();
  auto t = authenticate(self, req, res);
  if (!t)
    return;
  if (req.body.size() > ctx_.max_body_bytes) {
    reply_problem(res, 413, status_title(413),
                  "the request body exceeds herald.api.max-body-bytes ("
                    + std::to_string(ctx_.max_body_bytes) + " bytes)");
    return;
  }
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    reply_problem(res, 415, status_title(415), "the body must be application/json");
    return;
  }
  auto key = req.get_header_value("Idempotency-Key");
  if (req.has_header("Idempotency-Key") && !valid_idempotency_key(key)) {
    reply_problem(res, 400, status_title(400),
                  "Idempotency-Key must be 1 to 255 printable ASCII characters",
                  {{"Idempotency-Key", "1 to 255 printable ASCII characters"}});
    return;
  }
  // 1. The tenant's rate limit (its owner actor). While a denial is known
  // to hold (until the next token), it is answered without asking.
  auto rate = rate_of(ctx_, *t);
  auto burst = burst_of(ctx_, *t);
  caf::expected<rate_decision> decision{rate_decision{}};
  if (auto known = denials_.denial(t->id, rate, burst, denial_memo::clock::now())) {
    decision = *known;
  } else {
    decision = acquire(self, ctx_, *t, 1);
    if (!decision) {
      reply_error(res, decision.error());
      return;
    }
    denials_.note(t->id, rate, burst, *decision, denial_memo::clock::now());
  }
  set_rate_headers(res, *decision);
  if (!decision->allowed) {
    reply_rate_limited(res, *decision);
    return;
  }
  // 2. Validation.
  std::string parse_error;
  auto j = parse_json(req.body, &parse_error);
  if (j.is_discarded()) {
    reply_problem(res, 400, status_title(400), parse_error);
    return;
  }
  auto sub = parse_submission_json(j);
  if (!sub.malformed.empty()) {
    reply_problem(res, 400, status_title(400), sub.malformed);
    return;
  }
  check_channel_enabled(*t, sub);
  if (!sub.errors.empty()) {
    reply_problem(res, 422, status_title(422), "the notification has invalid fields",
                  sub.errors);
    return;
  }
  auto job = make_job(std::move(sub.n), *t);
  auto accepted = [&](const std::string& id) {
    res.set_header("Location", "/v1/notifications/" + id);
    reply_json(res, 202, accepted_body(id));
  };
  // 3. Durable: answered only after the group commit.
  if (key.empty()) {
    auto id = job.n.id;
    auto committed = call<bool>(self, ctx_.timeout, ctx_.writer, atom::submit_v,
                                single_job(std::move(job)));
    if (committed)
      accepted(id);
    else
      reply_error(res, committed.error());
    return;
  }
  // 3'. With a key: at most one notification per (tenant, key). The key's
  // guard claims it and, if new, hands the job to the writer, which answers
  // here once committed: one wait. This request then ends the claim.
  auto hash = request_hash(j);
  job.n.idempotency_key = key;
  job.n.idempotency_hash = hash;
  auto id = job.n.id;
  auto guard = ctx_.guards[guard_shard(t->id, key, ctx_.guards.size())];
  auto verdict = call<idem_verdict>(self, ctx_.timeout, guard, atom::submit_v,
                                    t->id, key, hash, std::move(job));
  if (!verdict && is(verdict.error(), ec::conflict)) {
    // The key's index refused the insert: taken before the guard knew it
    // (a restart, another node). The stored row answers.
    verdict = call<idem_verdict>(self, ctx_.timeout, guard, atom::resolve_v,
                                 t->id, key, hash);
    if (verdict && verdict->kind == "new") {
      // No row holds the key (a twin's insert failed meanwhile): this
      // request does not commit twice; the client tries again.
      self->send(guard, atom::abandon_v, t->id, key);
      verdict->kind = "in_flight";
    }
  } else if (!verdict) {
    // Nothing was written (or the wait ended first: then the key's index
    // still refuses a second notification).
    self->send(guard, atom::abandon_v, t->id, key);
  } else if (verdict->kind == "accepted") {
    self->send(guard, atom::complete_v, t->id, key, hash, id);
  }
  if (!verdict) {
    reply_error(res, verdict.error());
  } else if (verdict->kind == "accepted") {
    accepted(verdict->notification_id);
  } else if (verdict->kind == "replay") {
    res.set_header("Idempotent-Replayed", "true");
    accepted(verdict->notification_id);
  } else if (verdict->kind == "mismatch") {
    reply_problem(res, 422, status_title(422),
                  "this Idempotency-Key was used with a different request body",
                  {{"Idempotency-Key", "already used with a different body"}});
  } else {
    res.set_header("Retry-After", "1");
    reply_problem(res, 409, status_title(409),
                  "a request with this Idempotency-Key is still being processed");
  }
}

void api_server::submit_batch(const httplib::Request& req, httplib::Response& res) {
  auto self = actors_.acquire();
  auto t = authenticate(self, req, res);
  if (!t)
    return;
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    reply_problem(res, 415, status_title(415), "the body must be application/json");
    return;
  }
  std::string parse_error;
  auto j = parse_json(req.body, &parse_error);
  if (j.is_discarded()) {
    reply_problem(res, 400, status_title(400), parse_error);
    return;
  }
  if (!j.is_object() || !j.contains("items") || !j["items"].is_array()) {
    reply_problem(res, 400, status_title(400),
                  "the body must be an object {\"items\": [notification, ...]}");
    return;
  }
  auto& items = j["items"];
  if (items.empty() || items.size() > ctx_.max_batch_items) {
    reply_problem(res, 422, status_title(422),
                  "a batch holds 1 to " + std::to_string(ctx_.max_batch_items)
                    + " items; this one has " + std::to_string(items.size()),
                  {{"items", "1 to " + std::to_string(ctx_.max_batch_items)
                               + " items"}});
    return;
  }
  // Every item is answered on its own, in order.
  auto answers = nlohmann::json::array();
  for (size_t i = 0; i < items.size(); ++i)
    answers.push_back({{"index", i}});
  struct pending_item {
    size_t index;
    delivery_job job; // handed to the writer at the commit (unless keyed)
    std::string id;   // the new notification's id
    std::string key;
    std::string hash;
    idempotency_guard_actor guard;
  };
  std::vector<pending_item> valid;
  valid.reserve(items.size());
  size_t rejected = 0;
  auto reject = [&](size_t i, int status, const std::string& detail,
                    const std::vector<field_error>& errors = {}) {
    answers[i]["status"] = status;
    answers[i]["problem"] = problem_value(status, detail, errors);
    ++rejected;
  };
  for (size_t i = 0; i < items.size(); ++i) {
    auto prefix = "items[" + std::to_string(i) + "].";
    // The item is read in place; only a keyed one is copied, to validate and
    // hash it without its key.
    const nlohmann::json* item_ptr = &items[i];
    nlohmann::json without_key;
    std::string key;
    if (items[i].is_object() && items[i].contains("idempotency_key")) {
      auto& k = items[i]["idempotency_key"];
      if (!k.is_string() || !valid_idempotency_key(k.get<std::string>())) {
        reject(i, 422, "invalid idempotency_key",
               {{prefix + "idempotency_key", "1 to 255 printable ASCII characters"}});
        continue;
      }
      key = k.get<std::string>();
      without_key = items[i];
      without_key.erase("idempotency_key");
      item_ptr = &without_key;
    }
    const auto& item = *item_ptr;
    auto sub = parse_submission_json(item, prefix);
    if (!sub.malformed.empty()) {
      reject(i, 422, sub.malformed, {{prefix.substr(0, prefix.size() - 1),
                                      "must be a notification object"}});
      continue;
    }
    check_channel_enabled(*t, sub, prefix);
    if (!sub.errors.empty()) {
      reject(i, 422, "the notification has invalid fields", sub.errors);
      continue;
    }
    pending_item p{i, make_job(std::move(sub.n), *t), {}, key, "", {}};
    p.id = p.job.n.id;
    if (!key.empty())
      p.hash = request_hash(item);
    valid.push_back(std::move(p));
  }
  // One token per valid item; items past the granted number get 429.
  if (!valid.empty()) {
    auto decision = acquire(self, ctx_, *t, static_cast<int32_t>(valid.size()));
    if (!decision) {
      reply_error(res, decision.error());
      return;
    }
    set_rate_headers(res, *decision);
    auto granted = static_cast<size_t>(std::max(decision->granted, 0));
    if (granted < valid.size()) {
      res.set_header("Retry-After", std::to_string(std::max<int64_t>(
                                      1, ceil_seconds(decision->retry_after_ms))));
      for (size_t k = granted; k < valid.size(); ++k)
        reject(valid[k].index, 429, "the tenant's rate limit is exhausted");
      valid.resize(granted);
    }
  }
  // An item's idempotency verdict other than "new", as its answer.
  auto answer_claim = [&](size_t i, const caf::expected<idem_verdict>& v) {
    if (!v) {
      reject(i, 503, "idempotency check unavailable; retry later");
    } else if (v->kind == "replay") {
      answers[i]["status"] = 202;
      answers[i]["id"] = v->notification_id;
      answers[i]["idempotent_replayed"] = true;
    } else if (v->kind == "mismatch") {
      reject(i, 422, "this idempotency_key was used with a different request body");
    } else {
      reject(i, 409, "an item with this idempotency_key is still being processed");
    }
  };
  // Idempotency claims, item by item (a twin inside the batch gets 409).
  std::vector<pending_item> go;
  for (auto& p : valid) {
    if (p.key.empty()) {
      go.push_back(std::move(p));
      continue;
    }
    p.guard = ctx_.guards[guard_shard(t->id, p.key, ctx_.guards.size())];
    auto v = call<idem_verdict>(self, ctx_.timeout, p.guard, atom::claim_v, t->id,
                                p.key, p.hash);
    if (v && v->kind == "new") {
      p.job.n.idempotency_key = p.key;
      p.job.n.idempotency_hash = p.hash;
      go.push_back(std::move(p));
    } else {
      answer_claim(p.index, v);
    }
  }
  // All accepted items in one request to the writer: one transaction.
  auto commit = [&](std::vector<pending_item*> xs) -> caf::error {
    // A commit may have to go again only if a key is refused: without
    // keys the jobs are handed over, not copied.
    bool keyed = std::any_of(xs.begin(), xs.end(),
                             [](pending_item* p) { return bool{p->guard}; });
    std::vector<delivery_job> jobs;
    jobs.reserve(xs.size());
    for (auto* p : xs)
      jobs.push_back(keyed ? p->job : std::move(p->job));
    auto ok = call<bool>(self, ctx_.timeout, ctx_.writer, atom::submit_v,
                         std::move(jobs));
    return ok ? caf::error{} : ok.error();
  };
  std::vector<pending_item*> all;
  for (auto& p : go)
    all.push_back(&p);
  auto abandon_all = [&] {
    for (auto& p : go)
      if (p.guard)
        self->send(p.guard, atom::abandon_v, t->id, p.key);
  };
  auto err = go.empty() ? caf::error{} : commit(all);
  if (err && is(err, ec::conflict)) {
    // Keys taken before their guards knew them (a batch sent again after a
    // restart, say): nothing was written. Each guard answers its keyed
    // items from the store; those still free ("new") go again in one
    // transaction, and item by item only if that is refused too (a twin
    // committed meanwhile).
    std::vector<pending_item*> again;
    for (auto& p : go) {
      if (!p.guard) {
        again.push_back(&p);
        continue;
      }
      auto v = call<idem_verdict>(self, ctx_.timeout, p.guard, atom::resolve_v,
                                  t->id, p.key, p.hash);
      if (v && v->kind == "new")
        again.push_back(&p);
      else
        answer_claim(p.index, v);
    }
    auto accepted = [&](pending_item& p) {
      answers[p.index]["status"] = 202;
      answers[p.index]["id"] = p.id;
      if (p.guard)
        self->send(p.guard, atom::complete_v, t->id, p.key, p.hash, p.id);
    };
    err = again.empty() ? caf::error{} : commit(again);
    if (!err) {
      for (auto* p : again)
        accepted(*p);
    } else if (!is(err, ec::conflict)) {
      // Nothing of this request is durable: the whole request failed.
      for (auto* p : again)
        if (p->guard)
          self->send(p->guard, atom::abandon_v, t->id, p->key);
      reply_error(res, err);
      return;
    } else {
      for (auto* p : again) {
        auto e = commit({p});
        if (!e) {
          accepted(*p);
        } else if (p->guard && is(e, ec::conflict)) {
          auto v = call<idem_verdict>(self, ctx_.timeout, p->guard,
                                      atom::resolve_v, t->id, p->key, p->hash);
          if (v && v->kind == "new") {
            self->send(p->guard, atom::abandon_v, t->id, p->key);
            v = idem_verdict{"in_flight", ""};
          }
          answer_claim(p->index, v);
        } else {
          if (p->guard)
            self->send(p->guard, atom::abandon_v, t->id, p->key);
          reject(p->index, 503, "temporarily unable to store the item");
        }
      }
    }
    err = caf::error{};
  } else if (err) {
    // Nothing of this request is durable: the whole request failed.
    abandon_all();
    reply_error(res, err);
    return;
  } else {
    for (auto& p : go) {
      answers[p.index]["status"] = 202;
      answers[p.index]["id"] = p.id;
      if (p.guard)
        self->send(p.guard, atom::complete_v, t->id, p.key, p.hash, p.id);
    }
  }
  nlohmann::json body{{"accepted", items.size() - rejected},
                      {"rejected", rejected},
                      {"items", answers}};
  res.status = rejected == 0 ? 202 : 207;
  res.set_content(dump_json(body), "application/json");
}

} // namespace herald
