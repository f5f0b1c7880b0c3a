#pragma once

// What every HTTP request leaves behind: the request counter and latency
// histogram of the metrics (by server, route pattern, method and status),
// the correlation id (X-Request-Id: the client's, else a generated one,
// echoed in the answer and carried in the thread's log lines), and a debug
// log line per request.

#include <string>
#include <string_view>

#include <httplib.h>

namespace herald {

/// The route pattern of `path` among Herald's routes (ids replaced by
/// {id}, …), "other" for anything else, so label values stay bounded.
std::string route_label(std::string_view path);

/// Called first in the server's pre-routing handler: stamps the request's
/// start, sets its correlation id (the client's X-Request-Id if it is a
/// sane token, else a new one) in the log context and the answer.
void begin_request(const httplib::Request& req, httplib::Response& res);

/// Installs the logger that records every answered request in the metrics
/// (server = "api" or "admin") and clears the thread's log context.
void observe_requests(httplib::Server& svr, std::string server);

} // namespace herald
