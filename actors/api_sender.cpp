#include "actors/api_sender.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/sender_common.hpp"
#include "channels/classify.hpp"

namespace herald {


attempt_report twilio_outcome(const delivery_job& job, const std::string& node,
                              const std::string& provider,
                              const post_result& res) {
  auto out = report_for(job, node, provider);
  auto r = twilio::parse_response(res.body);
  apply_classified(out, classify_sms(res.http_status, r.error_code, res.retry_after_ms),
        res, r.error_code.empty() ? r.message : r.error_code + " " + r.message);
  if (out.outcome == attempt_result::delivered)
    out.provider_message_id = r.sid;
  return out;
}

attempt_report fcm_outcome(const delivery_job& job, const std::string& node,
                           const std::string& provider, const post_result& res) {
  auto out = report_for(job, node, provider);
  auto r = fcm::parse_response(res.body);
  const auto& reason = fcm::classify_reason(r);
  apply_classified(out, classify_push(res.http_status, reason, res.retry_after_ms), res,
        reason.empty() ? r.message : reason + " " + r.message);
  if (out.outcome == attempt_result::delivered)
    out.provider_message_id = r.name;
  else
    out.address_gone = fcm::token_dead(res.http_status, r);
  return out;
}

attempt_report webpush_outcome(const delivery_job& job, const std::string& node,
                               const std::string& provider,
                               const post_result& res) {
  auto out = report_for(job, node, provider);
  auto gone = res.http_status == 404 || res.http_status == 410;
  apply_classified(out, classify_http(res), res,
                   gone ? "subscription gone" : std::string{});
  out.address_gone = gone;
  if (out.outcome == attempt_result::delivered)
    out.provider_message_id = res.location; // the push service's message
  return out;
}

std::string webpush_payload(const notification& n) {
  nlohmann::json j{{"id", n.id}, {"title", n.subject}, {"body", n.body}};
  if (!n.data.empty()) {
    auto data = nlohmann::json::parse(n.data, nullptr, false);
    if (!data.is_discarded())
      j["data"] = std::move(data);
  }
  return j.dump();
}

std::string webpush_urgency(const std::string& priority) {
  if (priority == "high" || priority == "low")
    return priority;
  return "normal";
}

namespace {

attempt_report send_sms(api_sender_state& st, const delivery_job& job) {
  auto& s = st.settings;
  if (job.n.channel != "sms")
    return refused_report(job, s.node, s.provider,
                          "sms sender cannot deliver channel " + job.n.channel);
  auto rq = twilio::build_request(s.twilio, job.n.to, job.n.body);
  auto headers = rq.headers;
  if (!job.n.request_id.empty())
    headers.emplace_back("X-Request-Id", job.n.request_id);
  auto res = st.client->post(rq.url, headers, rq.body, rq.content_type);
  return twilio_outcome(job, s.node, s.provider, res);
}

attempt_report send_fcm(api_sender_state& st, const delivery_job& job) {
  auto& s = st.settings;
  if (job.n.channel != "push")
    return refused_report(job, s.node, s.provider,
                          "push sender cannot deliver channel " + job.n.channel);
  auto rq = fcm::build_request(s.fcm, job.n.to, job.n.subject, job.n.body,
                               job.n.data);
  if (!rq.error.empty())
    return refused_report(job, s.node, s.provider, rq.error);
  auto headers = rq.headers;
  if (!job.n.request_id.empty())
    headers.emplace_back("X-Request-Id", job.n.request_id);
  auto res = st.client->post(rq.url, headers, rq.body, rq.content_type);
  return fcm_outcome(job, s.node, s.provider, res);
}

attempt_report send_webpush(api_sender_state& st, const delivery_job& job,
                            int64_t started_ms) {
  auto& s = st.settings;
  if (job.n.channel != "push")
    return refused_report(job, s.node, s.provider,
                          "push sender cannot deliver channel " + job.n.channel);
  std::string error;
  auto sub = webpush::parse_subscription(job.n.to, error);
  if (!sub)
    return refused_report(job, s.node, s.provider,
                          "invalid Web Push subscription: " + error);
  if (!st.vapid)
    return refused_report(job, s.node, s.provider, "no VAPID key");
  auto body = webpush::encrypt(*sub, webpush_payload(job.n), error);
  if (!body)
    return refused_report(job, s.node, s.provider,
                          "cannot encrypt the payload: " + error);
  auto auth = st.vapid->authorization(sub->endpoint, s.vapid_subject,
                                      started_ms / 1000);
  if (auth.empty())
    return refused_report(job, s.node, s.provider,
                          "cannot sign the VAPID token for " + sub->endpoint);
  std::vector<std::pair<std::string, std::string>> headers{
    {"TTL", std::to_string(s.ttl.count())},
    {"Content-Encoding", "aes128gcm"},
    {"Urgency", webpush_urgency(job.n.priority)},
    {"Authorization", auth},
  };
  auto res = st.client->post(sub->endpoint, headers, *body,
                             "application/octet-stream");
  return webpush_outcome(job, s.node, s.provider, res);
}

} // namespace

sender_actor::behavior_type
api_sender(sender_actor::stateful_pointer<api_sender_state> self,
           api_sender_settings settings,
           std::shared_ptr<const liveness_gate> gate) {
  auto& st = self->state;
  st.client = std::make_unique<webhook_client>(settings.timeout);
  if (settings.kind == "webpush") {
    // Checked at startup (main.cpp); a key that cannot be read here makes
    // every job a permanent failure naming it.
    std::string error;
    st.vapid = webpush::vapid_signer::from_pem(settings.vapid_pem, error);
  }
  st.settings = std::move(settings);
  st.gate = std::move(gate);
  return {
    [self](atom::deliver, const delivery_job& job) -> attempt_report {
      auto& st = self->state;
      auto& s = st.settings;
      return timed_attempt(self, st.gate.get(), job, s.node, s.provider,
                           [&](int64_t started_ms) {
        if (s.kind == "twilio")
          return send_sms(st, job);
        if (s.kind == "fcm")
          return send_fcm(st, job);
        if (s.kind == "webpush")
          return send_webpush(st, job, started_ms);
        return refused_report(job, s.node, s.provider,
                              "unknown provider kind " + s.kind);
      });
    },
  };
}

} // namespace herald
