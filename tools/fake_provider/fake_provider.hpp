#pragma once

// A webhook receiver for tests, the demo and benchmarks: counts deliveries by
// webhook-id, verifies Standard Webhooks signatures, and injects faults on
// request (failure statuses, latency, refused connections). Control and
// statistics live on a second port so faults never hide them.
//
// The webhook port also speaks the providers' HTTP shapes, with the same
// faults (handlers in sms_shape.cpp, push_shape.cpp, webpush_shape.cpp):
//   POST /2010-04-01/Accounts/{sid}/Messages.json   Twilio SMS
//   POST /v1/projects/{project}/messages:send       FCM HTTP v1
//   POST /webpush/{subscription id}                 a Web Push service
// Everything else POSTed there is a webhook delivery. Web Push
// subscriptions come from the control port (POST /webpush/subscriptions).
// With smtp_port set, an SMTP sink listens on a third port (smtp_shape.hpp).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "shapes.hpp"

namespace herald::tools {

struct fake_provider_options {
  std::string host = "127.0.0.1";
  int port = 0;         // 0 = any free port
  int control_port = 0; // 0 = any free port
  int smtp_port = -1;   // 0 = any free port, -1 = no SMTP listener
  std::vector<std::string> secrets; // empty = do not check signatures
  std::size_t threads = 128;        // one per concurrent keep-alive connection
  // Twilio shape: the credentials it accepts, and how long after the answer
  // it sends a status callback.
  std::string twilio_account_sid = "ACtest";
  std::string twilio_auth_token = "twilio-token";
  int64_t twilio_callback_delay_ms = 0;
  // FCM shape: the bearer token it accepts.
  std::string fcm_token = "fcm-token";
  // Web Push shape: the only VAPID key (k, base64url) it accepts; "" = any
  // key with a valid signature.
  std::string vapid_public_key;
};

class smtp_shape;

/// Faults to inject; set with POST /control, cleared with POST /reset.
struct fault_config {
  double fail_rate = 0.0;  // fraction of requests answered with fail_status
  int fail_status = 503;
  std::string retry_after; // Retry-After on injected failures; "" = none
  int64_t latency_ms = 0;  // added before every answer
};

class fake_provider {
public:
  explicit fake_provider(fake_provider_options opts);
  ~fake_provider();

  fake_provider(const fake_provider&) = delete;
  fake_provider& operator=(const fake_provider&) = delete;

  /// Binds both ports and starts serving. On failure returns false and says
  /// why in `error`.
  bool start(std::string& error);

  /// Stops everything and joins all threads. Idempotent.
  void stop();

  int webhook_port() const {
    return port_;
  }

  int control_port() const {
    return control_port_;
  }

  /// 0 without an SMTP listener.
  int smtp_port() const;

private:
  // httplib's Server with access to its listening socket.
  class server;

  // One listening incarnation of the webhook port. A refusal window stops it
  // for real (the socket closes, connects get RST) and a new one binds the
  // same port afterwards; the old one drains its keep-alive connections in
  // its own thread.
  struct generation {
    std::unique_ptr<server> srv;
    std::thread thread;
    std::atomic<bool> finished{false};
  };

  struct counters {
    uint64_t received = 0;
    uint64_t delivered = 0;
    uint64_t duplicates = 0;           // ids delivered more than once
    uint64_t duplicate_deliveries = 0; // 2xx answers beyond the first per id
    uint64_t bad_signature = 0;
    uint64_t failed_injected = 0;
    uint64_t aborted_while_refusing = 0;
    uint64_t without_id = 0;
  };

  void handle_webhook(const httplib::Request& req, httplib::Response& res);
  void handle_sms(const httplib::Request& req, httplib::Response& res);
  void handle_fcm(const httplib::Request& req, httplib::Response& res);
  void handle_messages(const httplib::Request& req, httplib::Response& res);
  void handle_webpush(const httplib::Request& req, httplib::Response& res);
  void handle_new_subscription(const httplib::Request& req,
                               httplib::Response& res);
  void handle_expire_subscription(const httplib::Request& req,
                                  httplib::Response& res);

  // What every request on the webhook port goes through first: refused
  // while a refusal window lasts (true = answered).
  bool abort_if_refusing(httplib::Response& res);
  // Whether this request gets the injected failure.
  static bool roll_failure(const fault_config& f);
  // A shape's start: refusal, counting, the fault snapshot and the latency.
  // false = answered (refusing).
  bool shape_prologue(shape_book& book, httplib::Response& res,
                      fault_config& f);
  void handle_stats(const httplib::Request& req, httplib::Response& res);
  void handle_control(const httplib::Request& req, httplib::Response& res);
  void handle_reset(httplib::Response& res);

  nlohmann::json faults_json() const; // requires state_mu_

  // Lifecycle of the webhook listener; all *_locked need lifecycle_mu_.
  bool listen_locked(std::string& error);
  void refuse_locked(std::chrono::milliseconds duration);
  void end_refusal_locked();
  void supervise();
  void reap_locked();

  // Sleeps for the injected latency, cut short by stop().
  void delay(std::chrono::milliseconds d);

  fake_provider_options opts_;
  int port_ = 0;
  int control_port_ = 0;

  // Counters, delivered ids and faults.
  mutable std::mutex state_mu_;
  counters counters_;
  std::unordered_map<std::string, uint32_t> delivered_ids_;
  /// webhook-id → the X-Request-Id it came with (Herald's correlation id).
  std::unordered_map<std::string, std::string> request_ids_;
  fault_config faults_;

  // The provider shapes (each book locks itself).
  shape_book sms_{{"callbacks_sent", "callbacks_failed"}};
  shape_book fcm_;
  shape_book webpush_;
  std::unique_ptr<callback_sender> callbacks_;
  std::unique_ptr<smtp_shape> smtp_; // null without --smtp-port

  // A subscription of the fake Web Push service: the user agent's keys it
  // keeps to decrypt what is pushed.
  struct push_subscription {
    std::string endpoint;
    std::string private_raw; // P-256 scalar, 32 bytes
    std::string auth_secret; // 16 bytes
    bool expired = false;    // answered 410 Gone
    uint64_t messages = 0;   // accepted so far (for Location)
  };
  mutable std::mutex subs_mu_;
  std::unordered_map<std::string, push_subscription> subs_;

  // Webhook listener generations and refusal windows.
  std::mutex lifecycle_mu_;
  std::condition_variable lifecycle_cv_;
  std::shared_ptr<generation> current_;
  std::vector<std::shared_ptr<generation>> retired_;
  std::chrono::steady_clock::time_point refuse_until_;
  std::atomic<bool> refusing_{false};
  std::atomic<bool> stopping_{false};
  std::thread supervisor_;

  std::unique_ptr<server> control_;
  std::thread control_thread_;

  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
};

} // namespace herald::tools
