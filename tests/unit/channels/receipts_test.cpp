// herald-test-links: herald_channels
// Delivery receipts as plain functions: Twilio status callbacks and SES/SNS
// bounce and complaint notices, what they move and what they leave alone.
#define CAF_SUITE receipts
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <nlohmann/json.hpp>

#include "channels/receipts.hpp"

using namespace herald;
using json = nlohmann::json;

namespace {

json bounce(const std::string& type, const std::string& message_id) {
  return {{"notificationType", "Bounce"},
          {"bounce", {{"bounceType", type}, {"bounceSubType", "General"},
                      {"bouncedRecipients",
                       json::array({{{"emailAddress", "a@b.example"},
                                     {"diagnosticCode", "smtp; 550 5.1.1"}}})}}},
          {"mail", {{"messageId", "ses-1"},
                    {"commonHeaders", {{"messageId", message_id}}}}}};
}

bool has(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

} // namespace

CAF_TEST(twilio undelivered and failed move the message to failed) {
  auto r = twilio_receipt({{"MessageSid", "SM1"}, {"MessageStatus", "undelivered"},
                           {"ErrorCode", "30003"}});
  CAF_CHECK_EQUAL(r.status, "failed");
  CAF_CHECK_EQUAL(r.reason, "receipt: undelivered (error 30003)");
  CAF_CHECK_EQUAL(r.message_ids, std::vector<std::string>{"SM1"});
  r = twilio_receipt({{"SmsSid", "SM2"}, {"SmsStatus", "failed"}});
  CAF_CHECK_EQUAL(r.status, "failed");
  CAF_CHECK_EQUAL(r.reason, "receipt: failed");
  CAF_CHECK_EQUAL(r.message_ids, std::vector<std::string>{"SM2"});
}

CAF_TEST(twilio delivered and interim statuses change nothing) {
  for (auto s : {"delivered", "sent", "queued", "read", ""}) {
    auto r = twilio_receipt({{"MessageSid", "SM1"}, {"MessageStatus", s}});
    CAF_CHECK_EQUAL(r.status, "");
    CAF_CHECK(!r.reason.empty());
  }
}

CAF_TEST(an SES permanent bounce bounces and a transient one fails) {
  std::string error;
  auto r = ses_receipt(bounce("Permanent", "<notif-1@x.example>").dump(), error);
  CAF_CHECK_EQUAL(error, "");
  CAF_CHECK_EQUAL(r.status, "bounced");
  CAF_CHECK_EQUAL(r.reason, "receipt: Permanent bounce (General): smtp; 550 5.1.1");
  CAF_CHECK(has(r.message_ids, "<notif-1@x.example>"));
  CAF_CHECK(has(r.message_ids, "notif-1@x.example"));
  CAF_CHECK(has(r.message_ids, "ses-1"));
  CAF_CHECK(has(r.message_ids, "<ses-1>"));
  r = ses_receipt(bounce("Transient", "<m@x>").dump(), error);
  CAF_CHECK_EQUAL(r.status, "failed");
}

CAF_TEST(an SNS envelope is unwrapped and a confirmation changes nothing) {
  std::string error;
  json env{{"Type", "Notification"},
           {"Message", bounce("Permanent", "<m@x>").dump()}};
  auto r = ses_receipt(env.dump(), error);
  CAF_CHECK_EQUAL(error, "");
  CAF_CHECK_EQUAL(r.status, "bounced");
  json confirm{{"Type", "SubscriptionConfirmation"},
               {"SubscribeURL", "https://sns.example/confirm"}};
  r = ses_receipt(confirm.dump(), error);
  CAF_CHECK_EQUAL(error, "");
  CAF_CHECK_EQUAL(r.status, "");
}

CAF_TEST(complaints bounce and delivery notices change nothing) {
  std::string error;
  json complaint{{"notificationType", "Complaint"},
                 {"complaint", {{"complaintFeedbackType", "abuse"}}},
                 {"mail", {{"messageId", "ses-9"},
                           {"headers", json::array({{{"name", "Message-ID"},
                                                     {"value", "<n@x>"}}})}}}};
  auto r = ses_receipt(complaint.dump(), error);
  CAF_CHECK_EQUAL(r.status, "bounced");
  CAF_CHECK_EQUAL(r.reason, "receipt: complaint (abuse)");
  CAF_CHECK(has(r.message_ids, "<n@x>"));
  json delivery{{"notificationType", "Delivery"}, {"mail", {{"messageId", "m"}}}};
  r = ses_receipt(delivery.dump(), error);
  CAF_CHECK_EQUAL(error, "");
  CAF_CHECK_EQUAL(r.status, "");
}

CAF_TEST(malformed notices are named) {
  std::string error;
  ses_receipt("not json", error);
  CAF_CHECK_EQUAL(error, "the body is not a JSON object");
  error.clear();
  ses_receipt(json{{"Type", "Notification"}, {"Message", "x"}}.dump(), error);
  CAF_CHECK_EQUAL(error, "the SNS Message is not a JSON object");
  error.clear();
  ses_receipt(json{{"mail", {{"messageId", "m"}}}}.dump(), error);
  CAF_CHECK_EQUAL(error, "no notificationType (Bounce, Complaint or Delivery)");
  error.clear();
  ses_receipt(json{{"notificationType", "Bounce"}}.dump(), error);
  CAF_CHECK_EQUAL(error, "no mail.messageId");
}
