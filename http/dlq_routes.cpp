// Cancel and the dead-letter queue of the REST API (API.md): every route is
// tenant-scoped by the API key; ids of other tenants do not exist (404).
//
//   DELETE /v1/notifications/{id}   cancel one not delivered yet
//   GET    /v1/dlq                  parked dead letters, newest first
//   GET    /v1/dlq/{id}             one, with its status transitions
//   POST   /v1/dlq/{id}/retry       back to work with a fresh attempt budget
//   POST   /v1/dlq/{id}/discard     given up for good
//   POST   /v1/dlq/replay           many at once, paced (replay_request)

#include <type_traits>

#include "core/error.hpp"
#include "http/api_server.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

/// 404 for anything that is not one of our ids (no store call needed).
bool check_id(const std::string& id, httplib::Response& res, const char* what) {
  if (is_uuid(id))
    return true;
  reply_problem(res, 404, status_title(404), std::string{"no such "} + what);
  return false;
}

} // namespace

void api_server::install_dlq_routes() {
  svr_.Get("/v1/dlq", [this](const httplib::Request& req, httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    dlq_query q;
    q.tenant_id = t->id;
    std::vector<field_error> errors;
    read_dlq_params(req, q, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid query parameters",
                    errors);
      return;
    }
    ask<dlq_page>(self, ctx_.timeout, res, ctx_.store,
        [&](dlq_page& page) { reply_json(res, 200, dlq_page_json(page, false)); },
        atom::list_v, q);
  });

  svr_.Get(R"(/v1/dlq/([^/]+))", [this](const httplib::Request& req,
                                        httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto id = req.matches[1].str();
    if (!check_id(id, res, "dead letter"))
      return;
    ask<dead_letter>(self, ctx_.timeout, res, ctx_.store,
        [&](dead_letter& d) { reply_json(res, 200, dead_letter_json(d)); },
        atom::get_v, atom::dlq_v, t->id, id);
  });

  // cancel, retry and discard: the same shape, another store message.
  auto change = [this](auto op, const char* what, const char* doing,
                       int ok_status, const char* reason) {
    return [this, op, what, doing, ok_status,
            reason](const httplib::Request& req, httplib::Response& res) {
      auto self = actors_.acquire();
      auto t = authenticate(self, req, res);
      if (!t)
        return;
      auto id = req.matches[1].str();
      if (!check_id(id, res, what))
        return;
      auto n = call<notification>(self, ctx_.timeout, ctx_.store, op, t->id,
                                  id, std::string{reason});
      if (!n) {
        reply_change_error(res, n.error(), doing);
        return;
      }
      // A cancelled retry waiting on this node's timer is dropped at once;
      // elsewhere the fence keeps any late outcome out.
      if constexpr (std::is_same_v<decltype(op), atom::cancel>)
        if (ctx_.dispatcher)
          self->send(ctx_.dispatcher, atom::cancel_v, id);
      reply_json(res, ok_status, herald::to_json(*n));
    };
  };
  svr_.Delete(R"(/v1/notifications/([^/]+))",
              change(atom::cancel_v, "notification", "cancel", 200,
                     "cancelled by the API"));
  svr_.Post(R"(/v1/dlq/([^/]+)/retry)",
            change(atom::retry_v, "dead letter", "retry", 202,
                   "retried from the DLQ by the API"));
  svr_.Post(R"(/v1/dlq/([^/]+)/discard)",
            change(atom::discard_v, "dead letter", "discard", 200,
                   "discarded from the DLQ by the API"));

  svr_.Post("/v1/dlq/replay", [this](const httplib::Request& req,
                                     httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    if (req.body.size() > ctx_.max_body_bytes) {
      reply_problem(res, 413, status_title(413), "the request body is too large");
      return;
    }
    // An empty body replays everything parked, at the node's pace.
    json body = json::object();
    if (!req.body.empty()) {
      if (!is_json_content_type(req.get_header_value("Content-Type"))) {
        reply_problem(res, 415, status_title(415),
                      "the body must be application/json");
        return;
      }
      std::string err;
      body = parse_json(req.body, &err);
      if (!err.empty() || !body.is_object()) {
        reply_problem(res, 400, status_title(400),
                      err.empty() ? "the body must be a JSON object" : err);
        return;
      }
    }
    replay_request r;
    r.tenant_id = t->id;
    r.rate_per_sec = ctx_.replay_rate;
    r.reason = "replayed from the DLQ by the API";
    std::vector<field_error> errors;
    static const char* const known[] = {"channel", "provider", "from",
                                        "to",      "limit",    "rate_per_sec"};
    for (auto& [k, v] : body.items())
      if (!one_of(k, known))
        errors.push_back({k, "unknown field"});
    auto text = [&](const char* name, std::string& out) {
      if (!body.contains(name) || body[name].is_null())
        return;
      if (!body[name].is_string())
        errors.push_back({name, "must be a string"});
      else
        out = body[name].get<std::string>();
    };
    auto time = [&](const char* name, int64_t& out) {
      std::string s;
      text(name, s);
      if (s.empty())
        return;
      if (auto ms = parse_rfc3339(s))
        out = *ms;
      else
        errors.push_back({name, "must be an RFC 3339 time"});
    };
    auto number = [&](const char* name, int32_t& out, int32_t hi) {
      if (!body.contains(name) || body[name].is_null())
        return;
      auto& v = body[name];
      if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > hi)
        errors.push_back({name, "must be an integer from 1 to " + std::to_string(hi)});
      else
        out = v.get<int32_t>();
    };
    text("channel", r.channel);
    if (!r.channel.empty() && !one_of(r.channel, channels))
      errors.push_back({"channel", "must be email, sms, push or webhook"});
    text("provider", r.provider);
    time("from", r.from_ms);
    time("to", r.to_ms);
    if (r.from_ms != 0 && r.to_ms != 0 && r.from_ms >= r.to_ms)
      errors.push_back({"to", "must be later than from"});
    number("limit", r.limit, 100000);
    number("rate_per_sec", r.rate_per_sec, 100000);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid replay request", errors);
      return;
    }
    ask<replay_result>(self, ctx_.timeout, res, ctx_.store,
        [&](replay_result& x) {
          json out{{"count", x.count}, {"rate_per_sec", r.rate_per_sec}};
          out["first_due_at"] = x.count > 0 ? json(format_rfc3339(x.first_due_ms))
                                            : json(nullptr);
          out["last_due_at"] = x.count > 0 ? json(format_rfc3339(x.last_due_ms))
                                           : json(nullptr);
          reply_json(res, 202, out);
        },
        atom::replay_v, r);
  });
}

} // namespace herald
