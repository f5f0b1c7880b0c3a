#include "channels/receipts.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace herald {

namespace {

using json = nlohmann::json;

/// `id` as given, and with angle brackets added or removed.
void add_id(std::vector<std::string>& out, std::string id) {
  if (id.empty())
    return;
  auto other = id.size() > 2 && id.front() == '<' && id.back() == '>'
                 ? id.substr(1, id.size() - 2)
                 : "<" + id + ">";
  for (auto* x : {&id, &other})
    if (std::find(out.begin(), out.end(), *x) == out.end())
      out.push_back(*x);
}

std::string string_at(const json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>() : std::string{};
}

} // namespace

receipt twilio_receipt(const std::vector<std::pair<std::string, std::string>>& form) {
  auto field = [&](const char* name) {
    for (auto& [k, v] : form)
      if (k == name)
        return v;
    return std::string{};
  };
  receipt r;
  auto sid = field("MessageSid");
  if (sid.empty())
    sid = field("SmsSid");
  if (!sid.empty())
    r.message_ids.push_back(sid);
  auto status = field("MessageStatus");
  if (status.empty())
    status = field("SmsStatus");
  if (status == "undelivered" || status == "failed") {
    r.status = "failed";
    r.reason = "receipt: " + status;
    if (auto code = field("ErrorCode"); !code.empty())
      r.reason += " (error " + code + ")";
  } else {
    r.reason = "status " + (status.empty() ? std::string{"missing"} : status)
               + " changes nothing";
  }
  return r;
}

receipt ses_receipt(const std::string& body, std::string& error) {
  receipt r;
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) {
    error = "the body is not a JSON object";
    return r;
  }
  // An SNS envelope carries the notice as a string.
  auto type = string_at(j, "Type");
  if (type == "SubscriptionConfirmation" || type == "UnsubscribeConfirmation") {
    r.reason = "SNS " + type + " (confirm it at its SubscribeURL)";
    return r;
  }
  if (type == "Notification") {
    j = json::parse(string_at(j, "Message"), nullptr, false);
    if (!j.is_object()) {
      error = "the SNS Message is not a JSON object";
      return r;
    }
  }
  auto kind = string_at(j, "notificationType");
  if (kind.empty())
    kind = string_at(j, "eventType");
  if (kind.empty()) {
    error = "no notificationType (Bounce, Complaint or Delivery)";
    return r;
  }
  if (auto mail = j.find("mail"); mail != j.end() && mail->is_object()) {
    add_id(r.message_ids, string_at(*mail, "messageId"));
    if (auto ch = mail->find("commonHeaders"); ch != mail->end() && ch->is_object())
      add_id(r.message_ids, string_at(*ch, "messageId"));
    if (auto hs = mail->find("headers"); hs != mail->end() && hs->is_array())
      for (auto& h : *hs)
        if (h.is_object()) {
          auto name = string_at(h, "name");
          std::transform(name.begin(), name.end(), name.begin(),
                         [](unsigned char c) { return std::tolower(c); });
          if (name == "message-id")
            add_id(r.message_ids, string_at(h, "value"));
        }
  }
  if (r.message_ids.empty()) {
    error = "no mail.messageId";
    return r;
  }
  if (kind == "Bounce") {
    auto b = j.value("bounce", json::object());
    auto bounce_type = b.is_object() ? string_at(b, "bounceType") : "";
    auto sub_type = b.is_object() ? string_at(b, "bounceSubType") : "";
    r.status = bounce_type == "Permanent" ? "bounced" : "failed";
    r.reason = "receipt: " + (bounce_type.empty() ? std::string{"Undetermined"}
                                                  : bounce_type)
               + " bounce" + (sub_type.empty() ? "" : " (" + sub_type + ")");
    if (b.is_object())
      if (auto rs = b.find("bouncedRecipients"); rs != b.end() && rs->is_array()
                                                 && !rs->empty()
                                                 && (*rs)[0].is_object())
        if (auto d = string_at((*rs)[0], "diagnosticCode"); !d.empty())
          r.reason += ": " + d;
  } else if (kind == "Complaint") {
    auto c = j.value("complaint", json::object());
    auto feedback = c.is_object() ? string_at(c, "complaintFeedbackType") : "";
    r.status = "bounced";
    r.reason = "receipt: complaint" + (feedback.empty() ? "" : " (" + feedback + ")");
  } else {
    r.reason = kind + " notice changes nothing";
  }
  return r;
}

} // namespace herald
