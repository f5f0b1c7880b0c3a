#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace herald {

namespace {

std::atomic<int> min_level{static_cast<int>(log_level::info)};
std::atomic<bool> json_format{true};
std::mutex out_mtx;
std::string node_name; // set once at start-up, before other threads log
thread_local std::string current_request_id;

const char* level_name(log_level lvl) {
  switch (lvl) {
    case log_level::debug:
      return "debug";
    case log_level::info:
      return "info";
    case log_level::warn:
      return "warn";
    case log_level::error:
      return "error";
  }
  return "?";
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xf];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

} // namespace

void set_log_level(std::string_view level) {
  auto lvl = log_level::info;
  if (level == "debug")
    lvl = log_level::debug;
  else if (level == "warn")
    lvl = log_level::warn;
  else if (level == "error")
    lvl = log_level::error;
  min_level = static_cast<int>(lvl);
}

void set_log_format(std::string_view format) {
  json_format = format != "text";
}

void set_log_node(std::string node) {
  node_name = std::move(node);
}

void set_log_request_id(std::string id) {
  current_request_id = std::move(id);
}

const std::string& log_request_id() {
  return current_request_id;
}

bool log_enabled(log_level lvl) {
  return static_cast<int>(lvl) >= min_level.load(std::memory_order_relaxed);
}

std::string format_log_json(std::string_view ts, log_level lvl,
                            std::string_view node, std::string_view component,
                            std::string_view msg, std::string_view request_id) {
  std::string out;
  out.reserve(96 + msg.size());
  out += "{\"ts\":";
  append_json_string(out, ts);
  out += ",\"level\":\"";
  out += level_name(lvl);
  out += "\",\"node\":";
  append_json_string(out, node);
  out += ",\"actor\":";
  append_json_string(out, component);
  out += ",\"msg\":";
  append_json_string(out, msg);
  if (!request_id.empty()) {
    out += ",\"request_id\":";
    append_json_string(out, request_id);
  }
  out += '}';
  return out;
}

void log_line(log_level lvl, std::string_view component, const std::string& msg,
              std::string_view request_id) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  if (json_format.load(std::memory_order_relaxed)) {
    auto line = format_log_json(stamp, lvl, node_name, component, msg,
                                request_id);
    line += '\n';
    std::lock_guard<std::mutex> guard{out_mtx};
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  std::string upper = level_name(lvl);
  for (auto& c : upper)
    c = static_cast<char>(c - 'a' + 'A');
  std::lock_guard<std::mutex> guard{out_mtx};
  if (request_id.empty())
    std::fprintf(stderr, "%s %-5s %.*s: %s\n", stamp, upper.c_str(),
                 static_cast<int>(component.size()), component.data(),
                 msg.c_str());
  else
    std::fprintf(stderr, "%s %-5s %.*s: %s [request %.*s]\n", stamp,
                 upper.c_str(), static_cast<int>(component.size()),
                 component.data(), msg.c_str(),
                 static_cast<int>(request_id.size()), request_id.data());
}

} // namespace herald
