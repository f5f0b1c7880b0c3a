#include "http/problem.hpp"

#include "core/json_text.hpp"

#include <algorithm>

#include <memory>

#include <sys/socket.h>

#include <caf/sec.hpp>

#include "core/error.hpp"

namespace herald {

std::string status_title(int status) {
  switch (status) {
    case 400:
      return "Malformed request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not found";
    case 405:
      return "Method not allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Payload too large";
    case 415:
      return "Unsupported media type";
    case 422:
      return "Invalid fields";
    case 429:
      return "Too many requests";
    case 503:
      return "Service unavailable";
    default:
      return status >= 500 ? "Server error" : "Client error";
  }
}

void reply_problem(httplib::Response& res, int status, const std::string& title,
                   const std::string& detail,
                   const std::vector<field_error>& errors) {
  res.status = status;
  res.set_content(problem_json(status, title, detail, errors),
                  "application/problem+json");
}

void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, const caf::error& err) {
  if (is(err, ec::not_found)) {
    reply_problem(res, 404, status_title(404), error_detail(err));
  } else if (is(err, ec::unauthorized)) {
    res.set_header("WWW-Authenticate", "Bearer");
    reply_problem(res, 401, status_title(401), error_detail(err));
  } else if (is(err, ec::invalid_input)) {
    reply_problem(res, 422, status_title(422), error_detail(err));
  } else if (is(err, ec::conflict)) {
    reply_problem(res, 409, status_title(409), error_detail(err));
  } else {
    std::string detail;
    if (is(err, ec::db_unavailable))
      detail = "the database is unreachable; retry later";
    else if (err == caf::sec::request_timeout)
      detail = "the request timed out inside the node; retry later";
    else
      detail = "temporarily unable to serve the request; retry later";
    res.set_header("Retry-After", "1");
    reply_problem(res, 503, status_title(503), detail);
  }
}

void tune_server(httplib::Server& svr, int threads, size_t max_body_bytes) {
  // cpp-httplib's defaults give ~300 req/s (PLATFORM.md): Nagle + delayed
  // ACK, keep-alive closed after 5 requests, 8 threads. It holds one thread
  // per open connection, so the pool must exceed the connections expected.
  svr.set_tcp_nodelay(true);
  svr.set_keep_alive_max_count(1000000);
  // Idle keep-alive connections hold a thread each and delay shutdown (httplib
  // waits for them in stop()): a few seconds is what clients expect.
  svr.set_keep_alive_timeout(3);
  svr.set_read_timeout(30, 0);
  svr.set_payload_max_length(max_body_bytes);
  svr.new_task_queue = [threads] {
    return new httplib::ThreadPool(static_cast<size_t>(threads));
  };
  httplib::Server::HandlerWithResponse on_error = [](const httplib::Request&,
                                                     httplib::Response& res) {
    if (!res.body.empty())
      return httplib::Server::HandlerResponse::Unhandled;
    std::string detail;
    if (res.status == 404)
      detail = "no such resource";
    else if (res.status == 413)
      detail = "the request body exceeds the configured limit";
    else
      detail = status_title(res.status);
    res.set_content(problem_json(res.status, status_title(res.status), detail),
                    "application/problem+json");
    return httplib::Server::HandlerResponse::Handled;
  };
  svr.set_error_handler(on_error);
}

void start_server(httplib::Server& svr, std::thread& thread) {
  thread = std::thread{[&svr] { svr.listen_after_bind(); }};
  // listen_after_bind sets is_running first thing; a bounded wait.
  for (int i = 0; i < 5000 && !svr.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

int bind_server(httplib::Server& svr, const std::string& host, uint16_t port) {
  // The socket-options hook sees the listening socket before bind; it
  // replaces httplib's default, so it sets SO_REUSEADDR itself.
  auto fd = std::make_shared<int>(-1);
  svr.set_socket_options([fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    *fd = static_cast<int>(sock);
  });
  int bound = port == 0 ? svr.bind_to_any_port(host)
                        : (svr.bind_to_port(host, port) ? port : -1);
  if (bound >= 0 && *fd >= 0)
    ::listen(*fd, SOMAXCONN); // on Linux this raises the backlog in place
  return bound;
}

std::string bearer_token(const httplib::Request& req) {
  auto auth = req.get_header_value("Authorization");
  constexpr std::string_view prefix = "Bearer ";
  if (auth.size() <= prefix.size()
      || auth.compare(0, prefix.size(), prefix.data()) != 0)
    return {};
  return auth.substr(prefix.size());
}

bool is_json_content_type(const std::string& ct) {
  auto base = ct.substr(0, ct.find(';'));
  base.erase(std::remove(base.begin(), base.end(), ' '), base.end());
  std::transform(base.begin(), base.end(), base.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return base == "application/json";
}

void read_page_params(const httplib::Request& req, std::string& channel,
                      std::string& cursor, int32_t& limit,
                      std::vector<field_error>& errors) {
  channel = req.get_param_value("channel");
  if (!channel.empty() && !one_of(channel, channels))
    errors.push_back({"channel", "must be email, sms, push or webhook"});
  cursor = req.get_param_value("cursor");
  if (!cursor.empty() && !is_uuid(cursor))
    errors.push_back({"cursor", "not a cursor returned by this API"});
  read_limit_param(req, limit, errors);
}

void read_limit_param(const httplib::Request& req, int32_t& limit,
                      std::vector<field_error>& errors) {
  if (req.has_param("limit")) {
    auto text = req.get_param_value("limit");
    auto valid = !text.empty() && text.size() <= 4
                 && std::all_of(text.begin(), text.end(), ::isdigit);
    auto n = valid ? std::stoi(text) : 0;
    if (n < 1 || n > 200)
      errors.push_back({"limit", "must be an integer from 1 to 200"});
    else
      limit = n;
  }
}

void read_dlq_params(const httplib::Request& req, dlq_query& q,
                     std::vector<field_error>& errors) {
  read_page_params(req, q.channel, q.cursor, q.limit, errors);
  q.provider = req.get_param_value("provider");
  if (req.has_param("state")) {
    static const char* const states[] = {"parked", "retried", "discarded", "any"};
    q.state = req.get_param_value("state");
    if (!one_of(q.state, states))
      errors.push_back({"state", "must be parked, retried, discarded or any"});
    if (q.state == "any")
      q.state.clear();
  }
}

nlohmann::json dlq_page_json(const dlq_page& page, bool with_tenant) {
  auto items = nlohmann::json::array();
  for (auto& d : page.items) {
    auto j = dead_letter_json(d);
    if (with_tenant)
      j["tenant"] = d.n.tenant_id;
    items.push_back(std::move(j));
  }
  nlohmann::json body{{"items", items}};
  body["next_cursor"] = page.next_cursor.empty() ? nlohmann::json(nullptr)
                                                 : nlohmann::json(page.next_cursor);
  return body;
}

bool read_json_body(const httplib::Request& req, httplib::Response& res,
                    size_t max_bytes, nlohmann::json& out) {
  if (req.body.size() > max_bytes) {
    reply_problem(res, 413, status_title(413),
                  "the request body exceeds herald.api.max-body-bytes ("
                    + std::to_string(max_bytes) + " bytes)");
    return false;
  }
  if (!is_json_content_type(req.get_header_value("Content-Type"))) {
    reply_problem(res, 415, status_title(415), "the body must be application/json");
    return false;
  }
  std::string err;
  out = parse_json(req.body, &err);
  if (out.is_discarded()) {
    reply_problem(res, 400, status_title(400), err);
    return false;
  }
  return true;
}

void reply_change_error(httplib::Response& res, const caf::error& err,
                        const std::string& doing) {
  if (is(err, ec::conflict))
    reply_problem(res, 409, status_title(409),
                  "cannot " + doing + ": the notification is " + error_detail(err));
  else
    reply_error(res, err);
}

} // namespace herald
