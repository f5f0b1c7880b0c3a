#include "fake_provider.hpp"

#include <ctime>
#include <iostream>
#include <optional>
#include <random>
#include <sys/socket.h>

#include "channels/webhook_signature.hpp"
#include "smtp_shape.hpp"

namespace herald::tools {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

class fake_provider::server : public httplib::Server {
public:
  // httplib listens with a backlog of 5, which drops SYNs when a benchmark
  // opens dozens of connections at once. Linux lets listen() be called again
  // on a listening socket to raise it.
  void widen_backlog() {
    ::listen(svr_sock_.load(), SOMAXCONN);
  }
};

void reply_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Records hold what clients sent, which need not be UTF-8.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace),
                  "application/json");
}

namespace {

constexpr size_t max_body_bytes = 16 * 1024 * 1024;
constexpr int64_t max_latency_ms = 10 * 60 * 1000;
constexpr int64_t max_refuse_ms = 60 * 60 * 1000;

void reply_error(httplib::Response& res, int status, const std::string& msg,
                 const std::string& field = {}) {
  json body{{"error", msg}};
  if (!field.empty())
    body["field"] = field;
  reply_json(res, status, body);
}

// Shared tuning of both servers: PLATFORM.md measured httplib's defaults at
// ~300 req/s (Nagle + delayed ACK, 8 threads, keep-alive closed after 5).
void tune(httplib::Server& srv, size_t threads, time_t keep_alive_sec) {
  srv.set_tcp_nodelay(true);
  srv.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  srv.set_keep_alive_max_count(1'000'000'000);
  // Short, so that stop() (which waits for idle keep-alive connections)
  // finishes quickly; clients reconnect transparently.
  srv.set_keep_alive_timeout(keep_alive_sec);
  srv.set_payload_max_length(max_body_bytes);
  srv.set_exception_handler(
    [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        if (ep)
          std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      reply_error(res, 500, "internal error: " + what);
    });
}

// Waits until listen_after_bind() runs: stop() is a no-op before that, so a
// refusal requested right after a (re)start would otherwise be lost.
bool await_running(const httplib::Server& srv) {
  auto deadline = steady_clock::now() + std::chrono::seconds(5);
  while (!srv.is_running()) {
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

std::optional<int64_t> bounded_int(const json& v, int64_t lo, int64_t hi) {
  if (!v.is_number_integer())
    return std::nullopt;
  auto x = v.get<int64_t>();
  if (x < lo || x > hi)
    return std::nullopt;
  return x;
}

} // namespace

fake_provider::fake_provider(fake_provider_options opts)
  : opts_(std::move(opts)) {
  if (opts_.threads == 0)
    opts_.threads = 1;
}

fake_provider::~fake_provider() {
  stop();
}

bool fake_provider::start(std::string& error) {
  control_ = std::make_unique<server>();
  tune(*control_, 4, 1);
  control_->Get("/health", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"status", "ok"}});
  });
  control_->Get("/stats", [this](const httplib::Request& req,
                                 httplib::Response& res) {
    handle_stats(req, res);
  });
  control_->Get("/control", [this](const httplib::Request&,
                                   httplib::Response& res) {
    std::lock_guard<std::mutex> guard{state_mu_};
    reply_json(res, 200, faults_json());
  });
  control_->Post("/control", [this](const httplib::Request& req,
                                    httplib::Response& res) {
    handle_control(req, res);
  });
  control_->Post("/reset", [this](const httplib::Request&,
                                  httplib::Response& res) {
    handle_reset(res);
  });
  control_->Get("/messages", [this](const httplib::Request& req,
                                    httplib::Response& res) {
    handle_messages(req, res);
  });
  control_->Post("/webpush/subscriptions",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   handle_new_subscription(req, res);
                 });
  control_->Post(R"(/webpush/subscriptions/([^/]+)/expire)",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   handle_expire_subscription(req, res);
                 });
  callbacks_ = std::make_unique<callback_sender>(sms_);
  if (opts_.control_port == 0)
    control_port_ = control_->bind_to_any_port(opts_.host);
  else if (control_->bind_to_port(opts_.host, opts_.control_port))
    control_port_ = opts_.control_port;
  else
    control_port_ = -1;
  if (control_port_ <= 0) {
    error = "cannot listen on " + opts_.host + ":"
            + std::to_string(opts_.control_port) + " (control port)";
    return false;
  }
  control_->widen_backlog();
  control_thread_ = std::thread([this] { control_->listen_after_bind(); });
  if (!await_running(*control_)) {
    error = "control server did not start";
    return false;
  }
  std::unique_lock<std::mutex> lk{lifecycle_mu_};
  port_ = opts_.port;
  if (!listen_locked(error))
    return false;
  supervisor_ = std::thread([this] { supervise(); });
  lk.unlock();
  if (opts_.smtp_port >= 0) {
    smtp_shape::hooks h;
    h.faults = [this] {
      std::lock_guard<std::mutex> guard{state_mu_};
      return faults_;
    };
    h.refusing = [this] { return refusing_.load(); };
    h.delay = [this](milliseconds d) { delay(d); };
    smtp_ = std::make_unique<smtp_shape>(opts_.host, opts_.smtp_port,
                                         std::move(h));
    if (!smtp_->start(error))
      return false;
  }
  return true;
}

int fake_provider::smtp_port() const {
  return smtp_ ? smtp_->port() : 0;
}

void fake_provider::stop() {
  if (stopping_.exchange(true))
    return;
  {
    std::lock_guard<std::mutex> guard{sleep_mu_};
    sleep_cv_.notify_all();
  }
  {
    std::lock_guard<std::mutex> guard{lifecycle_mu_};
    lifecycle_cv_.notify_all();
  }
  // Control first, so no refusal window starts while we tear down.
  if (control_ && control_->is_running())
    control_->stop();
  if (control_thread_.joinable())
    control_thread_.join();
  if (supervisor_.joinable())
    supervisor_.join();
  std::vector<std::shared_ptr<generation>> all;
  {
    std::lock_guard<std::mutex> guard{lifecycle_mu_};
    if (current_) {
      current_->srv->stop();
      retired_.push_back(std::move(current_));
    }
    all.swap(retired_);
  }
  for (auto& g : all)
    if (g->thread.joinable())
      g->thread.join();
  if (callbacks_)
    callbacks_->stop();
  if (smtp_)
    smtp_->stop();
}

// --- webhook port -------------------------------------------------------------

bool fake_provider::listen_locked(std::string& error) {
  auto g = std::make_shared<generation>();
  g->srv = std::make_unique<server>();
  tune(*g->srv, opts_.threads, 2);
  // httplib tries the routes in order: the shapes before the catch-all.
  g->srv->Post(R"(/2010-04-01/Accounts/([^/]+)/Messages\.json)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 handle_sms(req, res);
               });
  g->srv->Post(R"(/v1/projects/([^/]+)/messages:send)",
               [this](const httplib::Request& req, httplib::Response& res) {
                 handle_fcm(req, res);
               });
  g->srv->Post(R"(/webpush/([^/]+))",
               [this](const httplib::Request& req, httplib::Response& res) {
                 handle_webpush(req, res);
               });
  g->srv->Post(".*", [this](const httplib::Request& req,
                            httplib::Response& res) {
    handle_webhook(req, res);
  });
  if (port_ == 0) {
    port_ = g->srv->bind_to_any_port(opts_.host);
    if (port_ <= 0) {
      port_ = 0;
      error = "cannot listen on " + opts_.host + ":0 (webhook port)";
      return false;
    }
  } else if (!g->srv->bind_to_port(opts_.host, port_)) {
    error = "cannot listen on " + opts_.host + ":" + std::to_string(port_)
            + " (webhook port)";
    return false;
  }
  g->srv->widen_backlog();
  auto raw = g.get();
  g->thread = std::thread([raw] {
    raw->srv->listen_after_bind();
    raw->finished = true;
  });
  if (!await_running(*g->srv)) {
    // Cannot happen short of thread starvation; keep it for stop() to join.
    retired_.push_back(std::move(g));
    error = "webhook server did not start";
    return false;
  }
  current_ = std::move(g);
  return true;
}

void fake_provider::refuse_locked(milliseconds duration) {
  // Flag first: requests on already open keep-alive connections that slip in
  // after the socket closed must not be answered as if we were up.
  refusing_ = true;
  refuse_until_ = steady_clock::now() + duration;
  if (current_) {
    current_->srv->stop();
    retired_.push_back(std::move(current_));
    current_.reset();
  }
  lifecycle_cv_.notify_all();
}

void fake_provider::end_refusal_locked() {
  if (!refusing_)
    return;
  refuse_until_ = steady_clock::now();
  std::string error;
  if (listen_locked(error))
    refusing_ = false;
  else
    lifecycle_cv_.notify_all(); // the supervisor keeps trying
}

void fake_provider::reap_locked() {
  for (auto i = retired_.begin(); i != retired_.end();) {
    if ((*i)->finished) {
      (*i)->thread.join();
      i = retired_.erase(i);
    } else {
      ++i;
    }
  }
}

void fake_provider::supervise() {
  std::unique_lock<std::mutex> lk{lifecycle_mu_};
  while (!stopping_) {
    reap_locked();
    if (refusing_ && steady_clock::now() >= refuse_until_) {
      std::string error;
      if (listen_locked(error)) {
        refusing_ = false;
      } else {
        std::cerr << "fake-provider: " << error << ", retrying" << std::endl;
        refuse_until_ = steady_clock::now() + milliseconds(100);
      }
      continue;
    }
    if (refusing_)
      lifecycle_cv_.wait_until(lk, refuse_until_);
    else
      lifecycle_cv_.wait_for(lk, milliseconds(500));
  }
}

void fake_provider::delay(milliseconds d) {
  std::unique_lock<std::mutex> lk{sleep_mu_};
  sleep_cv_.wait_for(lk, d, [this] { return stopping_.load(); });
}

bool fake_provider::abort_if_refusing(httplib::Response& res) {
  if (!refusing_)
    return false;
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    ++counters_.aborted_while_refusing;
  }
  // A content provider that fails makes httplib drop the connection
  // without a complete answer: the client sees a network error, as it
  // would from a receiver that went away.
  res.status = 503;
  res.set_content_provider(
    1, "text/plain", [](size_t, size_t, httplib::DataSink&) { return false; });
  return true;
}

bool fake_provider::roll_failure(const fault_config& f) {
  if (f.fail_rate <= 0.0)
    return false;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  return uniform(rng) < f.fail_rate;
}

bool fake_provider::shape_prologue(shape_book& book, httplib::Response& res,
                                   fault_config& f) {
  if (abort_if_refusing(res))
    return false;
  book.count_received();
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    f = faults_;
  }
  if (f.latency_ms > 0)
    delay(milliseconds(f.latency_ms));
  return true;
}

void fake_provider::handle_webhook(const httplib::Request& req,
                                   httplib::Response& res) {
  if (abort_if_refusing(res))
    return;
  fault_config f;
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    ++counters_.received;
    f = faults_;
  }
  if (f.latency_ms > 0)
    delay(milliseconds(f.latency_ms));
  auto id = req.get_header_value(std::string{webhook::id_header});
  if (!opts_.secrets.empty()) {
    auto ts = req.get_header_value(std::string{webhook::timestamp_header});
    auto sig = req.get_header_value(std::string{webhook::signature_header});
    auto now = static_cast<int64_t>(std::time(nullptr));
    auto status = webhook::verify_status::missing_header;
    // Several secrets model a rotation: either may sign.
    for (const auto& secret : opts_.secrets) {
      status = webhook::check(secret, id, ts, req.body, sig, now);
      if (status == webhook::verify_status::ok)
        break;
    }
    if (status != webhook::verify_status::ok) {
      {
        std::lock_guard<std::mutex> guard{state_mu_};
        ++counters_.bad_signature;
      }
      reply_json(res, 401,
                 {{"error", "invalid signature"},
                  {"reason", webhook::to_string(status)}});
      return;
    }
  }
  if (roll_failure(f)) {
    {
      std::lock_guard<std::mutex> guard{state_mu_};
      ++counters_.failed_injected;
    }
    if (!f.retry_after.empty())
      res.set_header("Retry-After", f.retry_after);
    reply_json(res, f.fail_status, {{"error", "injected failure"}});
    return;
  }
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    ++counters_.delivered;
    if (id.empty()) {
      ++counters_.without_id;
    } else {
      auto n = ++delivered_ids_[id];
      auto rid = req.get_header_value("X-Request-Id");
      if (!rid.empty())
        request_ids_[id] = rid;
      if (n == 2)
        ++counters_.duplicates;
      if (n >= 2)
        ++counters_.duplicate_deliveries;
    }
  }
  res.status = 200;
  res.set_content(R"({"ok":true})", "application/json");
}

// --- control port -------------------------------------------------------------

json fake_provider::faults_json() const {
  json j{{"fail_rate", faults_.fail_rate},
         {"fail_status", faults_.fail_status},
         {"retry_after", faults_.retry_after},
         {"latency_ms", faults_.latency_ms},
         {"refusing", refusing_.load()}};
  return j;
}

void fake_provider::handle_stats(const httplib::Request& req,
                                 httplib::Response& res) {
  auto with_ids = req.has_param("ids") && req.get_param_value("ids") != "0";
  json shapes{{"sms", sms_.stats()},
              {"fcm", fcm_.stats()},
              {"webpush", webpush_.stats()}};
  {
    std::lock_guard<std::mutex> guard{subs_mu_};
    shapes["webpush"]["subscriptions"] = subs_.size();
  }
  if (smtp_)
    shapes["smtp"] = smtp_->stats(with_ids);
  std::lock_guard<std::mutex> guard{state_mu_};
  json j{{"received", counters_.received},
         {"delivered", counters_.delivered},
         {"unique", delivered_ids_.size()},
         {"duplicates", counters_.duplicates},
         {"duplicate_deliveries", counters_.duplicate_deliveries},
         {"bad_signature", counters_.bad_signature},
         {"failed_injected", counters_.failed_injected},
         {"aborted_while_refusing", counters_.aborted_while_refusing},
         {"without_id", counters_.without_id},
         {"refusing", refusing_.load()},
         {"faults", faults_json()},
         {"shapes", std::move(shapes)}};
  if (with_ids) {
    auto ids = json::object();
    for (const auto& [id, n] : delivered_ids_)
      ids[id] = n;
    j["ids"] = std::move(ids);
    auto rids = json::object();
    for (const auto& [id, rid] : request_ids_)
      rids[id] = rid;
    j["request_ids"] = std::move(rids);
  }
  reply_json(res, 200, j);
}

void fake_provider::handle_control(const httplib::Request& req,
                                   httplib::Response& res) {
  auto j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    reply_error(res, 400, "body must be a JSON object, e.g. "
                          R"({"fail_rate":0.5,"fail_status":503})");
    return;
  }
  fault_config next;
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    next = faults_;
  }
  std::optional<int64_t> refuse_ms;
  // Validate everything before applying anything: a rejected request
  // changes nothing.
  for (const auto& [key, v] : j.items()) {
    if (key == "fail_rate") {
      if (!v.is_number() || v.get<double>() < 0.0 || v.get<double>() > 1.0) {
        reply_error(res, 400, "fail_rate must be a number in [0, 1]", key);
        return;
      }
      next.fail_rate = v.get<double>();
    } else if (key == "fail_status") {
      auto x = bounded_int(v, 300, 599);
      if (!x) {
        reply_error(res, 400, "fail_status must be an integer in [300, 599]",
                    key);
        return;
      }
      next.fail_status = static_cast<int>(*x);
    } else if (key == "retry_after") {
      if (v.is_null()) {
        next.retry_after.clear();
      } else if (auto x = bounded_int(v, 0, 1'000'000'000)) {
        next.retry_after = std::to_string(*x);
      } else if (v.is_string()) {
        auto s = v.get<std::string>();
        bool printable = s.size() <= 128;
        for (unsigned char c : s)
          printable = printable && c >= 0x20 && c < 0x7f;
        if (!printable) {
          reply_error(res, 400,
                      "retry_after must be printable ASCII, at most 128 "
                      "chars",
                      key);
          return;
        }
        next.retry_after = std::move(s);
      } else {
        reply_error(res, 400,
                    "retry_after must be a string, a non-negative integer "
                    "or null",
                    key);
        return;
      }
    } else if (key == "latency_ms") {
      auto x = bounded_int(v, 0, max_latency_ms);
      if (!x) {
        reply_error(res, 400,
                    "latency_ms must be an integer in [0, "
                      + std::to_string(max_latency_ms) + "]",
                    key);
        return;
      }
      next.latency_ms = *x;
    } else if (key == "refuse_ms") {
      refuse_ms = bounded_int(v, 0, max_refuse_ms);
      if (!refuse_ms) {
        reply_error(res, 400,
                    "refuse_ms must be an integer in [0, "
                      + std::to_string(max_refuse_ms) + "]",
                    key);
        return;
      }
    } else {
      reply_error(res, 400,
                  "unknown key (known: fail_rate, fail_status, retry_after, "
                  "latency_ms, refuse_ms)",
                  key);
      return;
    }
  }
  {
    std::lock_guard<std::mutex> guard{state_mu_};
    faults_ = next;
  }
  if (refuse_ms) {
    std::lock_guard<std::mutex> guard{lifecycle_mu_};
    if (*refuse_ms > 0)
      refuse_locked(milliseconds(*refuse_ms));
    else
      end_refusal_locked();
  }
  std::lock_guard<std::mutex> guard{state_mu_};
  reply_json(res, 200, faults_json());
}

void fake_provider::handle_reset(httplib::Response& res) {
  {
    std::lock_guard<std::mutex> guard{lifecycle_mu_};
    end_refusal_locked();
  }
  sms_.reset();
  fcm_.reset();
  webpush_.reset();
  if (smtp_)
    smtp_->reset();
  std::lock_guard<std::mutex> guard{state_mu_};
  counters_ = counters{};
  delivered_ids_.clear();
  request_ids_.clear();
  faults_ = fault_config{};
  reply_json(res, 200, {{"reset", true}});
}

void fake_provider::handle_messages(const httplib::Request& req,
                                    httplib::Response& res) {
  auto shape = req.get_param_value("shape");
  shape_book* book = nullptr;
  if (shape == "sms")
    book = &sms_;
  else if (shape == "fcm")
    book = &fcm_;
  else if (shape == "webpush")
    book = &webpush_;
  if (book == nullptr && !(shape == "smtp" && smtp_)) {
    reply_error(res, 400,
                smtp_ ? "shape must be sms, fcm, webpush or smtp"
                      : "shape must be sms, fcm or webpush",
                "shape");
    return;
  }
  std::size_t limit = 100;
  if (req.has_param("limit")) {
    auto v = json::parse(req.get_param_value("limit"), nullptr, false);
    auto n = bounded_int(v, 1, shape_book::max_messages);
    if (!n) {
      reply_error(res, 400,
                  "limit must be an integer in [1, "
                    + std::to_string(shape_book::max_messages) + "]",
                  "limit");
      return;
    }
    limit = static_cast<std::size_t>(*n);
  }
  reply_json(res, 200,
             {{"shape", shape},
              {"messages",
               book ? book->messages(limit) : smtp_->messages(limit)}});
}

} // namespace herald::tools
