#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace herald {

namespace {

std::atomic<int> min_level{static_cast<int>(log_level::info)};
std::mutex out_mtx;

const char* level_name(log_level lvl) {
  switch (lvl) {
    case log_level::debug:
      return "DEBUG";
    case log_level::info:
      return "INFO";
    case log_level::warn:
      return "WARN";
    case log_level::error:
      return "ERROR";
  }
  return "?";
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

bool log_enabled(log_level lvl) {
  return static_cast<int>(lvl) >= min_level.load(std::memory_order_relaxed);
}

void log_line(log_level lvl, std::string_view component, const std::string& msg) {
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
  std::lock_guard<std::mutex> guard{out_mtx};
  std::fprintf(stderr, "%s %-5s %.*s: %s\n", stamp, level_name(lvl),
               static_cast<int>(component.size()), component.data(),
               msg.c_str());
}

} // namespace herald
