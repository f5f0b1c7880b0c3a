#pragma once

// What the provider shapes of the fake (Twilio SMS, FCM, Web Push) share:
// a book per shape with its counters, the last messages it received (for
// GET /messages) and the arrival times behind "max_per_second"; and the
// queue that sends Twilio's status callbacks off the request threads.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace herald::tools {

void reply_json(httplib::Response& res, int status, const nlohmann::json& body);

/// Counters and records of one shape. Thread-safe.
class shape_book {
public:
  /// Records kept for GET /messages (the oldest go first).
  static constexpr std::size_t max_messages = 1000;

  /// `extra`: further counters shown (at 0) from the start.
  explicit shape_book(std::vector<std::string> extra = {});

  /// A request reached the shape's route.
  void count_received();

  /// Refused for its credentials (401).
  void count_unauthorized();

  /// Answered with an injected failure.
  void count_injected();

  /// Any other counter, e.g. "callbacks_sent".
  void count(const std::string& name);

  /// A request past authentication, answered with `status`: kept for
  /// /messages with "status" added, counted as delivered (2xx, its
  /// `arrival` then counts for max_per_second) or rejected.
  void answered(int status, nlohmann::json record,
                std::chrono::steady_clock::time_point arrival);

  /// {"received", "delivered", "rejected", "unauthorized", "failed_injected",
  ///  "max_per_second", extra counters…}
  nlohmann::json stats() const;

  /// The last `limit` records, oldest first.
  nlohmann::json messages(std::size_t limit) const;

  void reset();

private:
  // Requires mu_.
  std::size_t window_max_locked() const;

  mutable std::mutex mu_;
  uint64_t received_ = 0;
  uint64_t delivered_ = 0;
  uint64_t rejected_ = 0;
  uint64_t unauthorized_ = 0;
  uint64_t failed_injected_ = 0;
  std::vector<std::string> extra_names_;
  std::map<std::string, uint64_t> extra_;
  std::deque<nlohmann::json> messages_;
  /// Arrivals of accepted requests (µs on the steady clock), sorted; trimmed
  /// to the last seconds when long, with the maximum so far carried over.
  std::vector<int64_t> arrivals_us_;
  std::size_t carried_max_ = 0;
};

/// POSTs Twilio status callbacks from one thread, in order, each at its due
/// time, signed with X-Twilio-Signature.
class callback_sender {
public:
  struct job {
    std::chrono::steady_clock::time_point due;
    std::string url;
    std::vector<std::pair<std::string, std::string>> params;
    std::string auth_token;
  };

  /// `book` counts "callbacks_sent" (2xx answers) and "callbacks_failed".
  explicit callback_sender(shape_book& book);
  ~callback_sender();

  callback_sender(const callback_sender&) = delete;
  callback_sender& operator=(const callback_sender&) = delete;

  void enqueue(job j);

  /// Drops what is pending and joins the thread. Idempotent.
  void stop();

private:
  void run();

  shape_book& book_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace herald::tools
