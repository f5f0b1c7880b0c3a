#include "actors/webhook_sender.hpp"

#include <chrono>

#include <caf/typed_event_based_actor.hpp>

#include "channels/webhook_signature.hpp"
#include "http/codec.hpp"

namespace herald {

delivery_outcome webhook_outcome(const delivery_job& job, const std::string& node,
                                 const std::string& provider,
                                 const post_result& res) {
  delivery_outcome out;
  out.id = job.n.id;
  out.tenant_id = job.n.tenant_id;
  out.fence = job.fence;
  out.node = node;
  out.provider = provider;
  out.http_status = res.http_status;
  if (res.http_status >= 200 && res.http_status < 300) {
    out.outcome = "delivered";
  } else {
    out.outcome = "failed";
    if (!res.error.empty())
      out.error = res.error;
    else
      out.error = "HTTP " + std::to_string(res.http_status);
  }
  return out;
}

sender_actor::behavior_type
webhook_sender(sender_actor::stateful_pointer<webhook_sender_state> self,
               std::string node, std::chrono::milliseconds timeout) {
  self->state.node = std::move(node);
  self->state.client = std::make_unique<webhook_client>(timeout);
  return {
    [self](atom::deliver, const delivery_job& job) -> delivery_outcome {
      auto& st = self->state;
      auto started = std::chrono::steady_clock::now();
      auto started_ms = now_ms();
      auto endpoint = endpoint_of(job.n.to);
      post_result res;
      if (job.n.channel != "webhook") {
        res.error = "webhook sender cannot deliver channel " + job.n.channel;
      } else if (!endpoint) {
        res.error = "invalid webhook URL";
      } else {
        auto body = webhook_payload(job.n);
        auto ts = started_ms / 1000;
        std::vector<std::pair<std::string, std::string>> headers{
          {"webhook-id", job.n.id},
          {"webhook-timestamp", std::to_string(ts)},
          {"webhook-signature", webhook::sign(job.signing_secret, job.n.id, ts, body)},
          {"User-Agent", "Herald/0.1"},
        };
        res = st.client->post(job.n.to, headers, body, "application/json");
      }
      auto out = webhook_outcome(job, st.node, endpoint ? *endpoint : "", res);
      out.started_at_ms = started_ms;
      out.duration_us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
      return out;
    },
  };
}

} // namespace herald
