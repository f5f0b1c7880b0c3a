#pragma once

// Writing answers from httplib handlers: problem+json errors and the mapping
// of Herald errors to HTTP statuses.

#include <string>
#include <thread>
#include <vector>

#include <caf/error.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "http/codec.hpp"

namespace herald {

/// Sets an application/problem+json answer.
void reply_problem(httplib::Response& res, int status, const std::string& title,
                   const std::string& detail,
                   const std::vector<field_error>& errors = {});

/// Sets a JSON answer.
void reply_json(httplib::Response& res, int status, const nlohmann::json& body);

/// Answers an error from an actor: not found → 404, unauthorized → 401,
/// database unreachable or timeout → 503 + Retry-After, anything else → 503
/// too (a client never sees a 500 for what it sent).
void reply_error(httplib::Response& res, const caf::error& err);

/// Answers a failed state change (cancel, DLQ retry or discard): a conflict
/// is a 409 naming the current status ("cannot retry: the notification is
/// delivered"), anything else as reply_error.
void reply_change_error(httplib::Response& res, const caf::error& err,
                        const std::string& doing);

/// The standard title of a status code.
std::string status_title(int status);

/// Installs the server-wide settings of PLATFORM.md (TCP_NODELAY, long
/// keep-alive, a thread per connection, body limit) and an error handler that
/// turns httplib's own errors (404, 413, ...) into problem+json.
void tune_server(httplib::Server& svr, int threads, size_t max_body_bytes);

/// Binds `svr` (port 0 = any free port) with a full listen backlog: httplib
/// listens with a backlog of 5, which drops the SYNs of a burst of new
/// connections (retried by the client after 1 s, 3 s, 7 s). Returns the port
/// or -1.
int bind_server(httplib::Server& svr, const std::string& host, uint16_t port);

/// Runs `svr` (bound already) in `thread` and returns once it accepts, so
/// that a stop() right after (a signal during start-up) finds it running:
/// cpp-httplib's stop() does nothing before its accept loop has started.
void start_server(httplib::Server& svr, std::thread& thread);

/// The bearer token of an Authorization header, "" if none.
std::string bearer_token(const httplib::Request& req);

/// True for application/json, with or without parameters (charset).
bool is_json_content_type(const std::string& content_type);

/// The channels of API.md.
inline constexpr const char* channels[] = {"email", "sms", "push", "webhook"};

/// The parameters every listing shares: channel (one of `channels`), cursor
/// (an id returned by the API) and limit (1..200); problems are added to
/// `errors` naming the parameter, and the outputs keep their defaults.
void read_page_params(const httplib::Request& req, std::string& channel,
                      std::string& cursor, int32_t& limit,
                      std::vector<field_error>& errors);

/// The parameters of a dead-letter listing (GET /v1/dlq, GET /admin/dlq):
/// those of read_page_params plus provider and state (parked, retried,
/// discarded, any). The tenant is the caller's business.
void read_dlq_params(const httplib::Request& req, dlq_query& q,
                     std::vector<field_error>& errors);

/// A page of dead letters as the DLQ listings answer it; with_tenant: each
/// item names its tenant (the admin view).
nlohmann::json dlq_page_json(const dlq_page& page, bool with_tenant);

/// Reads a JSON request body of at most `max_bytes`; otherwise answers
/// 413, 415 or 400 and returns false.
bool read_json_body(const httplib::Request& req, httplib::Response& res,
                    size_t max_bytes, nlohmann::json& out);

/// The `limit` parameter alone (1..200), for listings with other cursors.
void read_limit_param(const httplib::Request& req, int32_t& limit,
                      std::vector<field_error>& errors);

/// True if `x` is one of `xs`.
template <size_t N>
bool one_of(const std::string& x, const char* const (&xs)[N]) {
  for (auto y : xs)
    if (x == y)
      return true;
  return false;
}

} // namespace herald
