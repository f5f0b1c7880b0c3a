#pragma once

#include <memory>
#include <string>

#include "actors/actors.hpp"
#include "channels/webhook_client.hpp"

namespace herald {

struct webhook_sender_state {
  static inline const char* name = "webhook-sender";
  std::string node;
  std::unique_ptr<webhook_client> client; // keep-alive connections per endpoint
};

/// Delivers webhooks: a POST of the notification signed per Standard
/// Webhooks. Must be spawned `detached` (blocking HTTP).
sender_actor::behavior_type
webhook_sender(sender_actor::stateful_pointer<webhook_sender_state> self,
               std::string node, std::chrono::milliseconds timeout);

/// The outcome of one attempt from the HTTP result (2xx = delivered).
delivery_outcome webhook_outcome(const delivery_job& job, const std::string& node,
                                 const std::string& provider,
                                 const post_result& res);

} // namespace herald
