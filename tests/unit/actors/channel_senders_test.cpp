// herald-test-links: herald_actors
// What the email and API senders make of a job and of a provider's answer,
// as plain functions: the email message (From/Reply-To of the tenant or
// the provider, parts, Message-ID), and the classification of SMTP, Twilio,
// FCM and Web Push answers (provider message ids, dead addresses).
#define CAF_SUITE channel_senders
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/api_sender.hpp"
#include "actors/email_sender.hpp"

using namespace herald;

namespace {

delivery_job job_of(const std::string& channel, const std::string& to) {
  delivery_job j;
  j.n.id = "0190a0b0-0000-7000-8000-000000000001";
  j.n.tenant_id = "t1";
  j.n.channel = channel;
  j.n.to = to;
  j.n.subject = "Hi";
  j.n.body = "text body";
  j.n.request_id = "req_1";
  j.fence = 3;
  return j;
}

email_sender_settings relay() {
  email_sender_settings s;
  s.node = "n1";
  s.provider = "relay1";
  s.from = "Herald <noreply@herald.example>";
  s.reply_to = "support@herald.example";
  return s;
}

post_result answer(int status, std::string body = "", int64_t retry_after = -1) {
  post_result r;
  r.http_status = status;
  r.body = std::move(body);
  r.retry_after_ms = retry_after;
  return r;
}

} // namespace

CAF_TEST(an email takes the tenant sender over the provider sender) {
  auto j = job_of("email", "a@b.example");
  auto m = email_of(j, relay());
  CAF_CHECK_EQUAL(m.from, "Herald <noreply@herald.example>");
  CAF_CHECK_EQUAL(m.reply_to, "support@herald.example");
  CAF_CHECK_EQUAL(m.message_id, "notif-" + j.n.id + "@herald.example");
  j.email_from = "Acme <hi@acme.example>";
  j.email_reply_to = "help@acme.example";
  m = email_of(j, relay());
  CAF_CHECK_EQUAL(m.from, "Acme <hi@acme.example>");
  CAF_CHECK_EQUAL(m.reply_to, "help@acme.example");
  CAF_CHECK_EQUAL(m.message_id, "notif-" + j.n.id + "@acme.example");
  CAF_CHECK_EQUAL(m.to, "a@b.example");
  CAF_CHECK_EQUAL(m.subject, "Hi");
  CAF_CHECK_EQUAL(m.text, "text body");
  CAF_CHECK_EQUAL(m.html, "");
  bool has_request_id = false;
  for (auto& [k, v] : m.extra_headers)
    has_request_id = has_request_id || (k == "X-Request-Id" && v == "req_1");
  CAF_CHECK(has_request_id);
}

CAF_TEST(an email html part comes from rendered) {
  auto j = job_of("email", "a@b.example");
  j.n.rendered = R"({"html":"<p>x</p>"})";
  auto m = email_of(j, relay());
  CAF_CHECK_EQUAL(m.html, "<p>x</p>");
  CAF_CHECK_EQUAL(m.text, "text body");
  // A template with an html part only: sent once, as HTML.
  j.n.body = "<p>x</p>";
  j.n.rendered = R"({"subject":"s","html":"<p>x</p>"})";
  m = email_of(j, relay());
  CAF_CHECK_EQUAL(m.html, "<p>x</p>");
  CAF_CHECK_EQUAL(m.text, "");
}

CAF_TEST(smtp replies become outcomes) {
  auto j = job_of("email", "a@b.example");
  smtp_result ok;
  ok.reply_code = 250;
  auto out = smtp_outcome(j, "n1", "relay1", ok, "m@x");
  CAF_CHECK(out.outcome == attempt_result::delivered);
  CAF_CHECK_EQUAL(out.provider_message_id, "<m@x>");
  CAF_CHECK_EQUAL(out.provider, "relay1");
  CAF_CHECK_EQUAL(out.fence, 3);
  smtp_result perm;
  perm.reply_code = 550;
  perm.enhanced_status = "5.1.1";
  perm.error = "550 5.1.1 no such user";
  out = smtp_outcome(j, "n1", "relay1", perm, "m@x");
  CAF_CHECK(out.outcome == attempt_result::failed);
  CAF_CHECK(!out.retryable);
  CAF_CHECK_EQUAL(out.error, "550 5.1.1 no such user");
  CAF_CHECK_EQUAL(out.provider_message_id, "");
  smtp_result busy;
  busy.reply_code = 451;
  out = smtp_outcome(j, "n1", "relay1", busy, "m@x");
  CAF_CHECK(out.retryable);
  smtp_result down;
  down.connection_error = true;
  down.error = "Couldn't connect to server";
  out = smtp_outcome(j, "n1", "relay1", down, "m@x");
  CAF_CHECK(out.retryable);
}

CAF_TEST(twilio answers become outcomes) {
  auto j = job_of("sms", "+15551230001");
  auto out = twilio_outcome(j, "n1", "sms1",
                            answer(201, R"({"sid":"SMabc","status":"queued"})"));
  CAF_CHECK(out.outcome == attempt_result::delivered);
  CAF_CHECK_EQUAL(out.provider_message_id, "SMabc");
  out = twilio_outcome(j, "n1", "sms1",
                       answer(400, R"({"code":21211,"message":"Invalid 'To' Phone Number","status":400})"));
  CAF_CHECK(out.outcome == attempt_result::failed);
  CAF_CHECK(!out.retryable);
  CAF_CHECK(out.error.find("21211") != std::string::npos);
  out = twilio_outcome(j, "n1", "sms1",
                       answer(429, R"({"code":20429,"message":"Too Many Requests"})", 1000));
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.retry_after_ms, 1000);
  post_result refused;
  refused.error = "Could not establish connection";
  out = twilio_outcome(j, "n1", "sms1", refused);
  CAF_CHECK(out.retryable);
}

CAF_TEST(fcm answers become outcomes and dead tokens are flagged) {
  auto j = job_of("push", "tok");
  auto out = fcm_outcome(j, "n1", "fcm1",
                         answer(200, R"({"name":"projects/p/messages/1"})"));
  CAF_CHECK(out.outcome == attempt_result::delivered);
  CAF_CHECK_EQUAL(out.provider_message_id, "projects/p/messages/1");
  CAF_CHECK(!out.address_gone);
  auto unregistered = R"({"error":{"code":404,"message":"Requested entity was not found.","status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}})";
  out = fcm_outcome(j, "n1", "fcm1", answer(404, unregistered));
  CAF_CHECK(!out.retryable);
  CAF_CHECK(out.address_gone);
  CAF_CHECK(out.error.find("UNREGISTERED") != std::string::npos);
  auto unavailable = R"({"error":{"code":503,"message":"down","status":"UNAVAILABLE"}})";
  out = fcm_outcome(j, "n1", "fcm1", answer(503, unavailable));
  CAF_CHECK(out.retryable);
  CAF_CHECK(!out.address_gone);
}

CAF_TEST(web push answers become outcomes and gone subscriptions are flagged) {
  auto j = job_of("push", R"({"endpoint":"https://p/1"})");
  auto created = answer(201);
  created.location = "https://p/1/messages/7";
  auto out = webpush_outcome(j, "n1", "wp1", created);
  CAF_CHECK(out.outcome == attempt_result::delivered);
  CAF_CHECK_EQUAL(out.provider_message_id, "https://p/1/messages/7");
  for (int status : {404, 410}) {
    out = webpush_outcome(j, "n1", "wp1", answer(status));
    CAF_CHECK(!out.retryable);
    CAF_CHECK(out.address_gone);
  }
  out = webpush_outcome(j, "n1", "wp1", answer(429, "", 2000));
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.retry_after_ms, 2000);
  CAF_CHECK(!out.address_gone);
  out = webpush_outcome(j, "n1", "wp1", answer(413));
  CAF_CHECK(!out.retryable);
  CAF_CHECK(!out.address_gone);
}

CAF_TEST(the web push payload and urgency) {
  auto j = job_of("push", "{}");
  j.n.data = R"({"k":1})";
  CAF_CHECK_EQUAL(webpush_payload(j.n),
                  R"({"body":"text body","data":{"k":1},"id":")" + j.n.id
                    + R"(","title":"Hi"})");
  CAF_CHECK_EQUAL(webpush_urgency("high"), "high");
  CAF_CHECK_EQUAL(webpush_urgency("low"), "low");
  CAF_CHECK_EQUAL(webpush_urgency("normal"), "normal");
  CAF_CHECK_EQUAL(webpush_urgency(""), "normal");
}
