#include "actors/email_sender.hpp"

#include <chrono>
#include <utility>

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "actors/sender_common.hpp"
#include "channels/classify.hpp"

namespace herald {

namespace {

/// The html and text parts of `rendered` (the JSON object text of a
/// notification's rendered parts), "" where absent.
std::pair<std::string, std::string> rendered_parts(const notification& n) {
  if (n.rendered.empty())
    return {};
  auto j = nlohmann::json::parse(n.rendered, nullptr, false);
  if (!j.is_object())
    return {};
  auto part = [&j](const char* name) {
    auto i = j.find(name);
    return i != j.end() && i->is_string() ? i->get<std::string>() : std::string{};
  };
  return {part("html"), part("text")};
}

} // namespace

email_message email_of(const delivery_job& job, const email_sender_settings& s) {
  email_message m;
  m.from = !job.email_from.empty() ? job.email_from : s.from;
  m.reply_to = !job.email_reply_to.empty() ? job.email_reply_to : s.reply_to;
  m.to = job.n.to;
  m.subject = job.n.subject;
  auto [html, text] = rendered_parts(job.n);
  m.html = std::move(html);
  m.text = job.n.body;
  // A template with only an HTML part renders it into the body as well
  // (http/template_routes.cpp): send it once, as HTML.
  if (!m.html.empty() && m.text == m.html && text.empty())
    m.text.clear();
  m.message_id = message_id_for(job.n.id, m.from);
  if (!job.n.request_id.empty())
    m.extra_headers.emplace_back("X-Request-Id", job.n.request_id);
  m.extra_headers.emplace_back("X-Herald-Notification-Id", job.n.id);
  return m;
}

attempt_report smtp_outcome(const delivery_job& job, const std::string& node,
                            const std::string& provider, const smtp_result& res,
                            const std::string& message_id) {
  auto out = report_for(job, node, provider);
  auto c = classify_smtp(res.reply_code, res.timed_out, res.connection_error,
                         res.enhanced_status);
  if (c.kind == delivery_class::ok) {
    out.outcome = attempt_result::delivered;
    out.provider_message_id = "<" + message_id + ">";
    return out;
  }
  out.outcome = attempt_result::failed;
  out.retryable = c.kind == delivery_class::retryable;
  out.error = res.error.empty() ? std::move(c.reason) : res.error;
  return out;
}

sender_actor::behavior_type
email_sender(sender_actor::stateful_pointer<email_sender_state> self,
             email_sender_settings settings,
             std::shared_ptr<const liveness_gate> gate) {
  auto& st = self->state;
  st.client = std::make_unique<smtp_client>(settings.smtp);
  st.settings = std::move(settings);
  st.gate = std::move(gate);
  return {
    [self](atom::deliver, const delivery_job& job) -> attempt_report {
      auto& st = self->state;
      auto& s = st.settings;
      return timed_attempt(self, st.gate.get(), job, s.node, s.provider,
                           [&](int64_t) {
        if (job.n.channel != "email")
          return refused_report(job, s.node, s.provider,
                                "email sender cannot deliver channel "
                                  + job.n.channel);
        auto m = email_of(job, s);
        auto mime = build_mime(m, std::chrono::system_clock::now());
        // The envelope sender is the provider's (bounces go to the
        // operator's address); the header From may be the tenant's.
        auto res = st.client->send(s.from, m.to, mime);
        return smtp_outcome(job, s.node, s.provider, res, m.message_id);
      });
    },
  };
}

} // namespace herald
