#pragma once

// Herald's logger (Debian builds CAF with its logger compiled out): one line
// per event on stderr, thread-safe. The default format is one JSON object
// per line:
//   {"ts":"2026-12-06T10:00:00.123Z","level":"info","node":"node1",
//    "actor":"writer","msg":"...","request_id":"..."}
// `request_id` (the correlation id) is there when the thread logs on behalf
// of an HTTP request (set_log_request_id) or a caller passes one
// (log_with_request_id). The text format ("TIME LEVEL actor: message") is
// for reading on a terminal (herald.log.format = "text").
//
// Never log a secret: API keys, webhook secrets, tokens and passwords stay
// out of messages (tests/e2e/observability_test.cpp greps for them).

#include <sstream>
#include <string>
#include <string_view>

namespace herald {

enum class log_level { debug = 0, info, warn, error };

/// Sets the minimum level printed; parses debug|info|warn|error.
void set_log_level(std::string_view level);

/// json (default) or text.
void set_log_format(std::string_view format);

/// The node named in every line (herald.node.name).
void set_log_node(std::string node);

/// The correlation id of what this thread does now ("" = none).
void set_log_request_id(std::string id);
const std::string& log_request_id();

bool log_enabled(log_level lvl);

void log_line(log_level lvl, std::string_view component, const std::string& msg,
              std::string_view request_id);

inline void log_line(log_level lvl, std::string_view component,
                     const std::string& msg) {
  log_line(lvl, component, msg, log_request_id());
}

/// The JSON object of one line (without the newline); exposed for tests.
std::string format_log_json(std::string_view ts, log_level lvl,
                            std::string_view node, std::string_view component,
                            std::string_view msg, std::string_view request_id);

template <class... Ts>
void log(log_level lvl, std::string_view component, const Ts&... xs) {
  if (!log_enabled(lvl))
    return;
  std::ostringstream out;
  (out << ... << xs);
  log_line(lvl, component, out.str());
}

/// Logs on behalf of the request `request_id` (e.g. a delivery attempt).
template <class... Ts>
void log_with_request_id(log_level lvl, std::string_view component,
                         std::string_view request_id, const Ts&... xs) {
  if (!log_enabled(lvl))
    return;
  std::ostringstream out;
  (out << ... << xs);
  log_line(lvl, component, out.str(), request_id);
}

#define HERALD_LOG(lvl, component, ...)                                        \
  ::herald::log(::herald::log_level::lvl, component, __VA_ARGS__)

} // namespace herald
