#include "http/api_server.hpp"

#include <algorithm>

#include "actors/error.hpp"
#include "actors/log.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

const char* const statuses[] = {"accepted",  "queued",         "sending",
                                "delivered", "retry_scheduled", "failed",
                                "dead_lettered", "cancelled",  "discarded"};
const char* const channels[] = {"email", "sms", "push", "webhook"};

template <size_t N>
bool one_of(const std::string& x, const char* const (&xs)[N]) {
  return std::any_of(std::begin(xs), std::end(xs),
                     [&](const char* y) { return x == y; });
}

bool is_json_content_type(const std::string& ct) {
  auto base = ct.substr(0, ct.find(';'));
  base.erase(std::remove(base.begin(), base.end(), ' '), base.end());
  std::transform(base.begin(), base.end(), base.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return base == "application/json";
}

} // namespace

api_server::api_server(api_context ctx, int threads, size_t max_body_bytes)
  : ctx_(std::move(ctx)), max_body_bytes_(max_body_bytes) {
  tune_server(svr_, threads, max_body_bytes);
  install_routes();
}

api_server::~api_server() {
  stop();
}

int api_server::bind(const std::string& host, uint16_t port) {
  if (port == 0)
    return svr_.bind_to_any_port(host);
  return svr_.bind_to_port(host, port) ? port : -1;
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

std::optional<tenant> api_server::authenticate(const httplib::Request& req,
                                               httplib::Response& res) {
  auto key = bearer_token(req);
  if (key.empty()) {
    res.set_header("WWW-Authenticate", "Bearer");
    reply_problem(res, 401, status_title(401),
                  "missing Authorization: Bearer <API key>");
    return std::nullopt;
  }
  std::optional<tenant> result;
  ask<tenant>(*ctx_.sys, ctx_.timeout, res, ctx_.auth,
      [&](tenant& t) { result = std::move(t); }, atom::auth_v, key);
  return result;
}

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

  svr_.Post("/v1/notifications", [this](const httplib::Request& req,
                                        httplib::Response& res) {
    auto t = authenticate(req, res);
    if (!t)
      return;
    if (!is_json_content_type(req.get_header_value("Content-Type"))) {
      reply_problem(res, 415, status_title(415),
                    "the body must be application/json");
      return;
    }
    auto sub = parse_submission(req.body);
    if (!sub.malformed.empty()) {
      reply_problem(res, 400, status_title(400), sub.malformed);
      return;
    }
    if (!t->channels.empty() && !sub.n.channel.empty()
        && std::find(t->channels.begin(), t->channels.end(), sub.n.channel)
             == t->channels.end())
      sub.errors.push_back({"channel", "channel " + sub.n.channel
                                         + " is not enabled for this tenant"});
    if (!sub.errors.empty()) {
      reply_problem(res, 422, status_title(422),
                    "the notification has invalid fields", sub.errors);
      return;
    }
    delivery_job job;
    job.n = std::move(sub.n);
    job.n.id = new_notification_id();
    job.n.tenant_id = t->id;
    job.n.status = "accepted";
    job.n.created_at_ms = now_ms();
    job.n.updated_at_ms = job.n.created_at_ms;
    job.signing_secret = t->webhook_secret;
    auto id = job.n.id;
    ask<bool>(*ctx_.sys, ctx_.timeout, res, ctx_.writer,
        [&](bool&) {
          res.set_header("Location", "/v1/notifications/" + id);
          reply_json(res, 202, {{"id", id}, {"status", "accepted"}});
        },
        atom::submit_v, std::vector<delivery_job>{std::move(job)});
  });

  svr_.Get(R"(/v1/notifications/([^/]+))", [this](const httplib::Request& req,
                                                   httplib::Response& res) {
    auto t = authenticate(req, res);
    if (!t)
      return;
    auto id = req.matches[1].str();
    if (!is_uuid(id)) {
      reply_problem(res, 404, status_title(404), "no such notification");
      return;
    }
    ask<notification>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
        [&](notification& n) { reply_json(res, 200, to_json(n)); },
        atom::get_v, t->id, id);
  });

  svr_.Get(R"(/v1/notifications/([^/]+)/attempts)",
           [this](const httplib::Request& req, httplib::Response& res) {
             auto t = authenticate(req, res);
             if (!t)
               return;
             auto id = req.matches[1].str();
             if (!is_uuid(id)) {
               reply_problem(res, 404, status_title(404),
                             "no such notification");
               return;
             }
             ask<std::vector<attempt>>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
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
    auto t = authenticate(req, res);
    if (!t)
      return;
    notification_query q;
    q.tenant_id = t->id;
    std::vector<field_error> errors;
    q.status = req.get_param_value("status");
    if (!q.status.empty() && !one_of(q.status, statuses))
      errors.push_back({"status", "unknown status"});
    q.channel = req.get_param_value("channel");
    if (!q.channel.empty() && !one_of(q.channel, channels))
      errors.push_back({"channel", "must be email, sms, push or webhook"});
    q.cursor = req.get_param_value("cursor");
    if (!q.cursor.empty() && !is_uuid(q.cursor))
      errors.push_back({"cursor", "not a cursor returned by this API"});
    if (req.has_param("limit")) {
      auto text = req.get_param_value("limit");
      auto valid = !text.empty() && text.size() <= 4
                   && std::all_of(text.begin(), text.end(), ::isdigit);
      auto n = valid ? std::stoi(text) : 0;
      if (n < 1 || n > 200)
        errors.push_back({"limit", "must be an integer from 1 to 200"});
      else
        q.limit = n;
    }
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid query parameters",
                    errors);
      return;
    }
    ask<notification_page>(*ctx_.sys, ctx_.timeout, res, ctx_.store,
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
}

} // namespace herald
