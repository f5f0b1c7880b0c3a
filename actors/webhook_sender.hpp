#pragma once

#include <memory>
#include <string>

#include "actors/actors.hpp"
#include "actors/policy/liveness_gate.hpp"
#include "channels/webhook_client.hpp"

namespace herald {

struct webhook_sender_state {
  static inline const char* name = "webhook-sender";
  std::string node;
  std::unique_ptr<webhook_client> client; // keep-alive connections per endpoint
  std::shared_ptr<const liveness_gate> gate; // null: no cluster, always open
};

/// Delivers webhooks: a POST of the notification signed per Standard
/// Webhooks. Must be spawned `detached` (blocking HTTP). Its provider
/// supervisor gives it the jobs of one endpoint, so its client keeps one
/// warm connection.
sender_actor::behavior_type
webhook_sender(sender_actor::stateful_pointer<webhook_sender_state> self,
               std::string node, std::chrono::milliseconds timeout,
               std::shared_ptr<const liveness_gate> gate = nullptr);

/// The outcome of one attempt, classified by classify_webhook
/// (channels/classify.hpp): delivered, or failed with `retryable`, the
/// receiver's Retry-After and an error text (the client's when it has one,
/// else the classifier's reason).
attempt_report webhook_outcome(const delivery_job& job, const std::string& node,
                                 const std::string& provider,
                                 const post_result& res);

/// Why `job` cannot be sent at all (not a webhook, an invalid URL); "" if
/// it can.
std::string webhook_unsendable(const delivery_job& job);

/// The outcome of a job that cannot be sent: a permanent failure (retrying
/// cannot fix the URL).
attempt_report webhook_refused(const delivery_job& job, const std::string& node,
                                 std::string reason);

} // namespace herald
