#include "http/admin_server.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/crypto.hpp"
#include "channels/webhook_signature.hpp"
#include "core/api_key.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/dashboard.hpp"
#include "http/observe.hpp"
#include "actors/node_stats.hpp"
#include "http/problem.hpp"
#include "core/metrics.hpp"
#include "core/time.hpp"

namespace herald {

namespace {

nlohmann::json actor_json(const actor_info& info) {
  if (!info.error.empty())
    return {{"kind", info.kind},
            {"key", info.key},
            {"node", info.node},
            {"id", info.id},
            {"error", info.error}};
  nlohmann::json j{{"kind", info.kind},
                   {"key", info.key},
                   {"node", info.node},
                   {"id", info.id},
                   {"mailbox", info.mailbox},
                   {"restarts", info.restarts},
                   {"state", nlohmann::json::parse(info.state, nullptr, false)}};
  if (info.parent != 0)
    j["parent"] = info.parent;
  return j;
}

/// The actors that a parent reports in its state ("children": the
/// dispatcher's pools and retry scheduler, the limiter registry's
/// limiters) as items of their own, after the others: kind, key, id,
/// mailbox and restarts as the child told its parent, node and the
/// parent's id ("parent").
std::vector<actor_info> with_children(std::vector<actor_info> xs) {
  auto n = xs.size();
  for (size_t i = 0; i < n; ++i) {
    auto state = nlohmann::json::parse(xs[i].state, nullptr, false);
    if (!state.is_object() || !state.contains("children")
        || !state["children"].is_array())
      continue;
    for (auto& c : state["children"]) {
      if (!c.is_object())
        continue;
      actor_info x;
      x.kind = c.value("kind", "");
      x.key = c.value("key", "");
      x.node = xs[i].node;
      x.id = c.value("id", int64_t{0});
      x.parent = xs[i].id;
      x.restarts = c.value("restarts", int64_t{0});
      x.mailbox = c.value("mailbox", int64_t{-1});
      x.state = c.contains("state") ? c["state"].dump() : "{}";
      xs.push_back(std::move(x));
    }
  }
  return xs;
}

bool valid_id(const std::string& id) {
  return !id.empty() && id.size() <= 64
         && std::all_of(id.begin(), id.end(), [](unsigned char c) {
              return std::isalnum(c) || c == '-' || c == '_';
            });
}

nlohmann::json tenant_json(const tenant& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"rate_per_sec", t.rate_per_sec},
          {"burst", t.burst},
          {"channels", t.channels},
          {"idempotency_retention_hours", t.idempotency_retention_hours},
          {"email_from", t.email_from},
          {"email_reply_to", t.email_reply_to},
          {"created_at", format_rfc3339(t.created_at_ms)},
          {"updated_at", format_rfc3339(t.updated_at_ms)}};
}

/// Validates the body of PUT /admin/tenants/{id} into `t`.
std::vector<field_error> parse_tenant(const nlohmann::json& j, tenant& t) {
  std::vector<field_error> errors;
  for (auto& [k, v] : j.items()) {
    if (k == "name") {
      if (!v.is_string() || v.get<std::string>().size() > 200)
        errors.push_back({k, "must be a string of at most 200 characters"});
      else
        t.name = v.get<std::string>();
    } else if (k == "rate_per_sec" || k == "burst") {
      if (!v.is_number_integer() || v.get<int64_t>() < 0
          || v.get<int64_t>() > 1000000)
        errors.push_back({k, "must be an integer from 0 to 1000000"});
      else
        (k == "burst" ? t.burst : t.rate_per_sec) = v.get<int32_t>();
    } else if (k == "idempotency_retention_hours") {
      // 0 = the node default; API.md promises at least 24 h.
      if (!v.is_number_integer()
          || (v.get<int64_t>() != 0
              && (v.get<int64_t>() < 24 || v.get<int64_t>() > 24 * 366)))
        errors.push_back({k, "must be 0 (node default) or 24 to 8784 hours"});
      else
        t.idempotency_retention_hours = v.get<int32_t>();
    } else if (k == "email_from" || k == "email_reply_to") {
      // A mailbox ("Name <a@b.example>" or "a@b.example"); it becomes a
      // mail header, so no line breaks or control characters.
      auto ok = v.is_string() && v.get<std::string>().size() <= 320;
      if (ok) {
        auto s = v.get<std::string>();
        ok = std::none_of(s.begin(), s.end(), [](unsigned char c) {
               return c < 0x20 || c == 0x7F;
             })
             && (s.empty() || s.find('@') != std::string::npos);
      }
      if (!ok)
        errors.push_back({k, "must be a mailbox such as \"Acme <no-reply@acme.example>\" "
                             "(at most 320 characters, no line breaks; \"\" = the provider's)"});
      else
        (k == "email_from" ? t.email_from : t.email_reply_to) = v.get<std::string>();
    } else if (k == "channels") {
      static const std::vector<std::string> known{"email", "sms", "push",
                                                  "webhook"};
      bool ok = v.is_array();
      if (ok)
        for (auto& c : v)
          ok = ok && c.is_string()
               && std::find(known.begin(), known.end(), c.get<std::string>())
                    != known.end();
      if (!ok)
        errors.push_back(
          {k, "must be a list of email, sms, push and webhook"});
      else
        t.channels = v.get<std::vector<std::string>>();
    } else {
      errors.push_back({k, "unknown field"});
    }
  }
  return errors;
}

/// ?scope=node (default) or cluster; answers 422 and returns false for
/// anything else.
bool read_scope(const httplib::Request& req, httplib::Response& res,
                bool& cluster_wide) {
  auto scope = req.get_param_value("scope");
  if (!scope.empty() && scope != "node" && scope != "cluster") {
    reply_problem(res, 422, status_title(422), "invalid scope",
                  {{"scope", "node (default) or cluster"}});
    return false;
  }
  cluster_wide = scope == "cluster";
  return true;
}

} // namespace

admin_server::admin_server(admin_context ctx) : ctx_(std::move(ctx)) {
  tune_server(svr_, 8, 64 * 1024);
  install_routes();
}

admin_server::~admin_server() {
  stop();
}

int admin_server::bind(const std::string& host, uint16_t port) {
  return bind_server(svr_, host, port);
}

void admin_server::start() {
  start_server(svr_, thread_);
}

void admin_server::stop() {
  if (thread_.joinable()) {
    svr_.stop();
    thread_.join();
  }
}

std::vector<actor_info> admin_server::actors_of(bool cluster_wide) {
  std::vector<actor_info> out;
  caf::scoped_actor self{*ctx_.sys};
  if (cluster_wide && ctx_.cluster) {
    self->request(ctx_.cluster, ctx_.timeout, atom::list_v, atom::actors_v)
      .receive([&](std::vector<actor_info>& xs) { out = std::move(xs); },
               [&](caf::error& err) {
                 actor_info x;
                 x.kind = "cluster";
                 x.node = ctx_.node;
                 x.error = ctx_.sys->render(err);
                 out.push_back(std::move(x));
               });
    return with_children(std::move(out));
  }
  for (auto& a : ctx_.actors) {
    self->request(a, std::chrono::seconds(2), atom::inspect_v)
      .receive(
        [&](actor_info& info) {
          if (info.node.empty())
            info.node = ctx_.node;
          info.id = static_cast<int64_t>(a.id());
          out.push_back(std::move(info));
        },
        [&](caf::error& err) {
          actor_info x;
          x.node = ctx_.node;
          x.id = static_cast<int64_t>(a.id());
          x.error = ctx_.sys->render(err);
          out.push_back(std::move(x));
        });
  }
  return with_children(std::move(out));
}

bool admin_server::authorized(const httplib::Request& req,
                              httplib::Response& res) {
  auto token = bearer_token(req);
  if (!token.empty() && crypto::constant_time_equal(token, ctx_.token))
    return true;
  res.set_header("WWW-Authenticate", "Bearer");
  reply_problem(res, 401, status_title(401), "missing or wrong admin token");
  return false;
}

void admin_server::install_routes() {
  svr_.set_pre_routing_handler([](const httplib::Request& req,
                                  httplib::Response& res) {
    begin_request(req, res);
    return httplib::Server::HandlerResponse::Unhandled;
  });
  observe_requests(svr_, "admin");

  svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"status", "ok"}});
  });

  // Prometheus text format (version 0.0.4), behind the admin token like
  // every admin path: Prometheus sends it (authorization: credentials).
  svr_.Get("/metrics", [this](const httplib::Request& req,
                              httplib::Response& res) {
    if (!authorized(req, res))
      return;
    res.status = 200;
    res.set_content(metrics().render(now_ms()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });

  svr_.Put(R"(/admin/tenants/([^/]+))", [this](const httplib::Request& req,
                                               httplib::Response& res) {
    if (!authorized(req, res))
      return;
    tenant t;
    t.id = req.matches[1].str();
    if (!valid_id(t.id)) {
      reply_problem(res, 422, status_title(422), "invalid tenant id",
                    {{"id", "1 to 64 letters, digits, '-' or '_'"}});
      return;
    }
    t.name = t.id;
    auto j = nlohmann::json::parse(req.body.empty() ? "{}" : req.body, nullptr,
                                   false);
    if (j.is_discarded() || !j.is_object()) {
      reply_problem(res, 400, status_title(400), "the body must be a JSON object");
      return;
    }
    if (auto errors = parse_tenant(j, t); !errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid tenant fields", errors);
      return;
    }
    // Only used if the tenant is new: an update keeps its secret.
    t.webhook_secret = webhook::new_webhook_secret();
    ask<tenant_put_result>(*ctx_.sys, ctx_.timeout, res, ctx_.auth,
        [&](tenant_put_result& r) {
          auto body = tenant_json(r.value);
          if (r.created)
            body["webhook_secret"] = r.value.webhook_secret;
          reply_json(res, r.created ? 201 : 200, body);
        },
        atom::put_v, t);
  });

  svr_.Get(R"(/admin/tenants/([^/]+))", [this](const httplib::Request& req,
                                               httplib::Response& res) {
    if (!authorized(req, res))
      return;
    ask<tenant>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
        [&](tenant& t) { reply_json(res, 200, tenant_json(t)); }, atom::get_v,
        atom::tenant_v, req.matches[1].str());
  });

  svr_.Post(R"(/admin/tenants/([^/]+)/keys)", [this](const httplib::Request& req,
                                                     httplib::Response& res) {
    if (!authorized(req, res))
      return;
    auto tenant_id = req.matches[1].str();
    auto k = issue_api_key();
    ask<bool>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
        [&](bool created) {
          if (!created) {
            reply_problem(res, 404, status_title(404), "no such tenant");
            return;
          }
          reply_json(res, 201,
                     {{"key_id", k.key_id}, {"key", k.key},
                      {"tenant_id", tenant_id}});
        },
        atom::create_v, tenant_id, k.key_id, k.hash);
  });

  svr_.Delete(R"(/admin/tenants/([^/]+)/keys/([^/]+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                if (!authorized(req, res))
                  return;
                ask<bool>(*ctx_.sys, ctx_.timeout, res, ctx_.auth,
                    [&](bool found) {
                      if (found)
                        res.status = 204;
                      else
                        reply_problem(res, 404, status_title(404),
                                      "no such key");
                    },
                    atom::revoke_v, req.matches[1].str(), req.matches[2].str());
              });

  // This node's actors; ?scope=cluster: every node's (members that do not
  // answer in time are listed with their error).
  svr_.Get("/admin/actors", [this](const httplib::Request& req,
                                   httplib::Response& res) {
    if (!authorized(req, res))
      return;
    bool cluster_wide = false;
    if (!read_scope(req, res, cluster_wide))
      return;
    auto items = nlohmann::json::array();
    for (auto& info : actors_of(cluster_wide))
      items.push_back(actor_json(info));
    reply_json(res, 200, {{"items", items}});
  });

  // One actor by kind and key on this node (/admin/actors/{kind}/{key}) or
  // on any node (/admin/actors/{node}/{kind}/{key}); the key may be empty
  // and may hold slashes (a provider's URL). Every match is listed.
  svr_.Get(R"(/admin/actors/(.+))", [this](const httplib::Request& req,
                                          httplib::Response& res) {
    if (!authorized(req, res))
      return;
    auto path = req.matches[1].str();
    auto cut = [](std::string& rest) {
      auto slash = rest.find('/');
      auto head = rest.substr(0, slash);
      rest = slash == std::string::npos ? "" : rest.substr(slash + 1);
      return head;
    };
    auto rest = path;
    auto first = cut(rest);
    auto infos = actors_of(true);
    std::string node = ctx_.node;
    bool named_node = std::any_of(infos.begin(), infos.end(),
                                  [&](const actor_info& x) {
                                    return x.node == first;
                                  });
    if (named_node && first != "" && !rest.empty()) {
      node = first;
    } else {
      rest = path;
    }
    auto kind = cut(rest);
    auto key = rest;
    auto items = nlohmann::json::array();
    for (auto& info : infos)
      if (info.node == node && info.kind == kind && info.key == key)
        items.push_back(actor_json(info));
    if (items.empty()) {
      reply_problem(res, 404, status_title(404),
                    "no actor of kind " + kind + " with key \"" + key
                      + "\" on node " + node);
      return;
    }
    reply_json(res, 200, {{"items", items}});
  });

  // The cluster as this node sees it.
  svr_.Get("/admin/cluster", [this](const httplib::Request& req,
                                    httplib::Response& res) {
    if (!authorized(req, res))
      return;
    cluster_view v;
    if (!ctx_.cluster) {
      // A single node: alone by config.
      v.node = ctx_.node;
      v.ready = true;
      member_status me;
      me.name = ctx_.node;
      me.roles = ctx_.roles;
      me.state = "up";
      me.heartbeat_age_ms = 0;
      me.ring_share = 1.0;
      me.self = true;
      v.members.push_back(me);
    } else {
      caf::error failed;
      caf::scoped_actor self{*ctx_.sys};
      self->request(ctx_.cluster, ctx_.timeout, atom::get_v)
        .receive([&](cluster_view& x) { v = std::move(x); },
                 [&](caf::error& err) { failed = err; });
      if (failed) {
        reply_problem(res, 503, status_title(503),
                      "the cluster actor did not answer: "
                        + ctx_.sys->render(failed));
        return;
      }
    }
    auto members = nlohmann::json::array();
    for (auto& m : v.members)
      members.push_back({{"name", m.name},
                         {"address", m.address},
                         {"roles", m.roles},
                         {"state", m.state},
                         {"since", m.since_ms > 0 ? format_rfc3339(m.since_ms)
                                                  : std::string{}},
                         {"heartbeat_age_ms", m.heartbeat_age_ms},
                         {"ring_share", m.ring_share},
                         {"credits", m.credits},
                         {"self", m.self}});
    reply_json(res, 200, {{"node", v.node},
                          {"ready", v.ready},
                          {"epoch", v.epoch},
                          {"members", members}});
  });

  svr_.Get("/admin/breakers", [this](const httplib::Request& req,
                                     httplib::Response& res) {
    if (!authorized(req, res))
      return;
    if (!ctx_.dispatcher) { // no worker role: no senders, no breakers
      reply_json(res, 200, {{"items", nlohmann::json::array()}});
      return;
    }
    ask<std::vector<breaker_info>>(*ctx_.sys, ctx_.timeout, res,
        ctx_.dispatcher,
        [&](std::vector<breaker_info>& xs) {
          auto items = nlohmann::json::array();
          for (auto& b : xs)
            items.push_back({{"provider", b.provider},
                             {"channel", b.channel},
                             {"state", b.state},
                             {"last_trip", b.last_trip},
                             {"open_for_ms", b.open_for_ms},
                             {"open_timeout_ms", b.open_timeout_ms},
                             {"trips", b.trips},
                             {"consecutive_failures", b.consecutive_failures},
                             {"window_calls", b.window_calls},
                             {"window_failures", b.window_failures},
                             {"rejected", b.rejected},
                             {"deferred", b.deferred},
                             {"queued", b.queued},
                             {"busy", b.busy},
                             {"restarts", b.restarts}});
          reply_json(res, 200, {{"items", items}});
        },
        atom::breakers_v);
  });

  // The provider is a URL origin (http://host:port): its slashes arrive
  // percent-decoded, hence (.+) up to the last "/reset".
  svr_.Post(R"(/admin/breakers/(.+)/reset)", [this](const httplib::Request& req,
                                                    httplib::Response& res) {
    if (!authorized(req, res))
      return;
    auto provider = req.matches[1].str();
    if (!ctx_.dispatcher) {
      reply_problem(res, 404, status_title(404),
                    "no breaker for provider " + provider
                      + " (this node has no worker role)");
      return;
    }
    ask<bool>(*ctx_.sys, ctx_.timeout, res, ctx_.dispatcher,
        [&](bool found) {
          if (found)
            reply_json(res, 200, {{"provider", provider}, {"state", "closed"}});
          else
            reply_problem(res, 404, status_title(404),
                          "no breaker for provider " + provider);
        },
        atom::reset_v, provider);
  });

  install_dashboard_routes();
}

void admin_server::install_dashboard_routes() {
  // The dashboard: one page, no build step; it asks for the admin token
  // once and keeps it in the browser's session storage.
  svr_.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_header("Cache-Control", "no-store");
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                   "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'");
    res.set_content(dashboard_html(), "text/html; charset=utf-8");
  });

  // Browsers ask for it on every page load; no icon, no console error.
  svr_.Get("/favicon.ico", [](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
  });

  // Figures of this node, or (?scope=cluster) of every node up, for the
  // dashboard's rates: actors/node_stats.hpp.
  svr_.Get("/admin/stats", [this](const httplib::Request& req,
                                  httplib::Response& res) {
    if (!authorized(req, res))
      return;
    bool cluster_wide = false;
    if (!read_scope(req, res, cluster_wide))
      return;
    auto items = nlohmann::json::array();
    auto add = [&items](const std::string& text) {
      auto j = parse_json(text);
      if (!j.is_discarded())
        items.push_back(std::move(j));
    };
    if (!ctx_.cluster) {
      add(node_stats_json(ctx_.node, ctx_.roles, now_ms()));
    } else if (cluster_wide) {
      if (!ask<std::vector<std::string>>(
            *ctx_.sys, ctx_.timeout * 2, res, ctx_.cluster,
            [&](std::vector<std::string>& xs) {
              for (auto& x : xs)
                add(x);
            },
            atom::list_v, atom::stats_v))
        return;
    } else {
      if (!ask<std::string>(*ctx_.sys, ctx_.timeout, res, ctx_.cluster,
                            [&](std::string& x) { add(x); }, atom::stats_v))
        return;
    }
    reply_json(res, 200, {{"items", items}});
  });

  // The dead-letter queue of every tenant (?tenant= narrows it), with the
  // query parameters of GET /v1/dlq, and its retry and discard by tenant.
  svr_.Get("/admin/dlq", [this](const httplib::Request& req,
                                httplib::Response& res) {
    if (!authorized(req, res))
      return;
    dlq_query q;
    q.tenant_id = req.get_param_value("tenant");
    std::vector<field_error> errors;
    read_dlq_params(req, q, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid query parameters",
                    errors);
      return;
    }
    ask<dlq_page>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
        [&](dlq_page& page) { reply_json(res, 200, dlq_page_json(page, true)); },
        atom::list_v, q);
  });
  auto change = [this](auto op, const char* doing, int ok_status,
                       const char* reason) {
    return [this, op, doing, ok_status, reason](const httplib::Request& req,
                                                httplib::Response& res) {
      if (!authorized(req, res))
        return;
      auto tenant = req.matches[1].str();
      auto id = req.matches[2].str();
      if (!is_uuid(id)) {
        reply_problem(res, 404, status_title(404), "no such dead letter");
        return;
      }
      caf::error failed;
      notification n;
      caf::scoped_actor self{*ctx_.sys};
      self->request(ctx_.store, ctx_.timeout, op, tenant, id, std::string{reason})
        .receive([&](notification& x) { n = std::move(x); },
                 [&](caf::error& err) { failed = std::move(err); });
      if (failed) {
        reply_change_error(res, failed, doing);
        return;
      }
      reply_json(res, ok_status, to_json(n));
    };
  };
  svr_.Post(R"(/admin/dlq/([^/]+)/([^/]+)/retry)",
            change(atom::retry_v, "retry", 202,
                   "retried from the DLQ by an operator"));
  svr_.Post(R"(/admin/dlq/([^/]+)/([^/]+)/discard)",
            change(atom::discard_v, "discard", 200,
                   "discarded from the DLQ by an operator"));
}

} // namespace herald
