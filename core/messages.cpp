#include "core/messages.hpp"

#include <iterator>

namespace herald {

std::string to_string(idem_kind x) {
  switch (x) {
    case idem_kind::unknown:
      return "unknown";
    case idem_kind::fresh:
      return "new";
    case idem_kind::replay:
      return "replay";
    case idem_kind::mismatch:
      return "mismatch";
    case idem_kind::in_flight:
      return "in_flight";
  }
  return "?";
}

namespace {

constexpr const char* status_names[] = {
  "accepted",  "queued",          "sending",
  "delivered", "retry_scheduled", "failed",
  "dead_lettered", "cancelled",   "discarded",
  "skipped",
  "bounced",
};

} // namespace

std::string to_string(notification_status x) {
  auto i = static_cast<size_t>(x);
  return i < std::size(status_names) ? status_names[i] : "?";
}

bool from_string(std::string_view text, notification_status& x) {
  for (size_t i = 0; i < std::size(status_names); ++i)
    if (text == status_names[i]) {
      x = static_cast<notification_status>(i);
      return true;
    }
  return false;
}

std::string to_string(attempt_result x) {
  switch (x) {
    case attempt_result::delivered:
      return "delivered";
    case attempt_result::failed:
      return "failed";
    case attempt_result::deferred:
      return "deferred";
  }
  return "?";
}

std::string to_string(submit_status x) {
  switch (x) {
    case submit_status::accepted:
      return "accepted";
    case submit_status::replayed:
      return "replayed";
    case submit_status::key_mismatch:
      return "key_mismatch";
    case submit_status::in_flight:
      return "in_flight";
    case submit_status::rate_limited:
      return "rate_limited";
    case submit_status::channel_disabled:
      return "channel_disabled";
    case submit_status::guard_unavailable:
      return "guard_unavailable";
    case submit_status::store_failed:
      return "store_failed";
  }
  return "?";
}

} // namespace herald
