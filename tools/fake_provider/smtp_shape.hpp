#pragma once

// The SMTP shape of the fake: a plain-text ESMTP sink fast enough to
// benchmark Herald's email channel (the aiosmtpd sink in tests/scripts tops
// out near 4,000 messages/s on one core). One thread accepts; each
// connection gets its own thread with blocking I/O, which is the simplest
// thing that keeps up with a pool of senders that each hold one connection
// (bench/RESULTS.md, issue 17: ~75 µs of CPU per message, against ~270 µs
// for aiosmtpd).
//
//   S: 220 greeting
//   C: EHLO x            S: 250-... PIPELINING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES
//   C: MAIL FROM:<a>     S: 250 2.1.0
//   C: RCPT TO:<b>       S: 250 2.1.5          (repeatable)
//   C: DATA              S: 354
//   C: ...CRLF.CRLF      S: 250 2.0.0 | 451 4.3.0 (injected failure)
//   C: RSET | NOOP | HELO | QUIT
// No TLS, no AUTH. Dot-stuffing is undone. Replies to pipelined commands go
// out in one write once the buffered input is used up.
//
// Faults (POST /control on the fake): fail_rate answers the end of DATA with
// 451 4.3.0 (fail_status does not apply: SMTP has its own codes);
// latency_ms delays that answer; while refuse_ms lasts, new connections are
// reset (RST) at once and open ones get 421 4.3.2 and are closed.
//
// Counted per message (end of DATA): received, delivered (250), duplicates
// by the X-Herald-Notification-Id header (ids delivered more than once, as
// webhook-id duplicates are), max_per_second; and connections opened.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_provider.hpp"
#include "shapes.hpp"

namespace herald::tools {

class smtp_shape {
public:
  /// What the shape reads from the fake: the current faults, whether a
  /// refusal window lasts, and a sleep that stop() cuts short.
  struct hooks {
    std::function<fault_config()> faults;
    std::function<bool()> refusing;
    std::function<void(std::chrono::milliseconds)> delay;
  };

  /// Messages larger than this (advertised with SIZE) are answered 552.
  static constexpr std::size_t max_message_bytes = 32 * 1024 * 1024;

  smtp_shape(std::string host, int port, hooks h);
  ~smtp_shape();

  smtp_shape(const smtp_shape&) = delete;
  smtp_shape& operator=(const smtp_shape&) = delete;

  /// Binds and starts accepting. On failure returns false and says why.
  bool start(std::string& error);

  /// Closes the listener and every connection, joins all threads.
  /// Idempotent.
  void stop();

  int port() const {
    return port_;
  }

  /// The book's counters plus "connections", "unique", "duplicates",
  /// "duplicate_deliveries", "without_id", "aborted_while_refusing"; with
  /// `with_ids` also "ids" (notification id → times delivered).
  nlohmann::json stats(bool with_ids) const;

  /// The last `limit` messages: {"mail_from", "rcpt_to", "notification_id",
  /// "size", "data" (dot-stuffing undone), "status"}, oldest first.
  nlohmann::json messages(std::size_t limit) const;

  void reset();

private:
  void accept_loop();
  void serve(int fd);
  // The end of DATA: counts, applies faults; the reply line to send.
  std::string finish_message(std::string from, nlohmann::json rcpts,
                             std::string data, bool too_big);

  std::string host_;
  int port_;
  hooks hooks_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};

  // A connection's thread; fd is -1 once the thread closed it.
  struct connection {
    int fd;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };
  // Joins the threads that ended; requires conns_mu_.
  void reap_locked();

  std::mutex conns_mu_;
  std::vector<connection> conns_;

  shape_book book_{{"connections", "duplicates", "duplicate_deliveries",
                    "without_id", "aborted_while_refusing"}};
  mutable std::mutex ids_mu_;
  std::unordered_map<std::string, uint32_t> delivered_ids_;
};

} // namespace herald::tools
