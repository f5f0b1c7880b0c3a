#pragma once

// Herald's logger (Debian builds CAF with its logger compiled out): one line
// per event on stderr, "TIME LEVEL component: message", thread-safe.

#include <sstream>
#include <string>
#include <string_view>

namespace herald {

enum class log_level { debug = 0, info, warn, error };

/// Sets the minimum level printed; parses debug|info|warn|error.
void set_log_level(std::string_view level);

bool log_enabled(log_level lvl);

void log_line(log_level lvl, std::string_view component, const std::string& msg);

template <class... Ts>
void log(log_level lvl, std::string_view component, const Ts&... xs) {
  if (!log_enabled(lvl))
    return;
  std::ostringstream out;
  (out << ... << xs);
  log_line(lvl, component, out.str());
}

#define HERALD_LOG(lvl, component, ...)                                        \
  ::herald::log(::herald::log_level::lvl, component, __VA_ARGS__)

} // namespace herald
