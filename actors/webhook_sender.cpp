#include "actors/webhook_sender.hpp"

#include <chrono>

#include <caf/typed_event_based_actor.hpp>

#include "channels/classify.hpp"
#include "channels/webhook_signature.hpp"
#include "core/json_text.hpp"
#include "actors/config.hpp"
#include "actors/sender_common.hpp"

namespace herald {

attempt_report webhook_outcome(const delivery_job& job, const std::string& node,
                                 const std::string& provider,
                                 const post_result& res) {
  auto out = report_for(job, node, provider);
  return apply_classified(out, classify_http(res), res);
}

std::string webhook_unsendable(const delivery_job& job) {
  if (job.n.channel != "webhook")
    return "webhook sender cannot deliver channel " + job.n.channel;
  if (!endpoint_of(job.n.to))
    return "invalid webhook URL";
  return {};
}

attempt_report webhook_refused(const delivery_job& job, const std::string& node,
                                 std::string reason) {
  return refused_report(job, node, "", std::move(reason));
}

sender_actor::behavior_type
webhook_sender(sender_actor::stateful_pointer<webhook_sender_state> self,
               std::string node, std::chrono::milliseconds timeout,
               std::shared_ptr<const liveness_gate> gate) {
  self->state.node = std::move(node);
  self->state.gate = std::move(gate);
  self->state.client = std::make_unique<webhook_client>(timeout);
  return {
    [self](atom::deliver, const delivery_job& job) -> attempt_report {
      auto& st = self->state;
      auto provider = endpoint_of(job.n.to).value_or("");
      return timed_attempt(self, st.gate.get(), job, st.node, provider,
                           [&](int64_t started_ms) {
        if (auto why = webhook_unsendable(job); !why.empty())
          return webhook_refused(job, st.node, std::move(why));
        auto body = webhook_payload(job.n);
        auto ts = started_ms / 1000;
        std::vector<std::pair<std::string, std::string>> headers{
          {"webhook-id", job.n.id},
          {"webhook-timestamp", std::to_string(ts)},
          {"webhook-signature", webhook::sign(job.signing_secret, job.n.id, ts, body)},
          {"User-Agent", "Herald/0.1"},
        };
        // The correlation id of the submitting request, for the receiver's
        // logs (core/log.hpp).
        if (!job.n.request_id.empty())
          headers.emplace_back("X-Request-Id", job.n.request_id);
        auto res = st.client->post(job.n.to, headers, body, "application/json");
        return webhook_outcome(job, st.node, provider, res);
      });
    },
  };
}

} // namespace herald
