// herald-test-links: herald_channels
// (webpush keys and Twilio signatures; the node runs as a process)
#define CAF_SUITE channels

// End-to-end tests of the email, SMS and push channels (issue 17) and of
// templates and recipients on them (issue 18): the real `herald` binary, a
// real PostgreSQL (HERALD_TEST_DB_URL), two real SMTP servers
// (tests/scripts/smtp_sink.py on aiosmtpd) as relay1 and relay2, and
// tools/fake-provider speaking Twilio, FCM HTTP v1 and Web Push (it
// decrypts each Web Push payload with the subscription's private key and
// checks the VAPID token). Every test uses a fresh tenant.

#include <caf/test/unit_test.hpp>

#include <cstdlib>
#include <set>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "channels/twilio.hpp"
#include "core/crypto.hpp"
#include "support/node_harness.hpp"
#include "support/process.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace std::chrono_literals;
using herald::test::eventually;
using nlohmann::json;
using namespace herald::test::harness;

// Fails the test with `why` unless `cond` holds.
#define REQUIRE_THAT(cond, why)                                                \
  do {                                                                         \
    if (!(cond))                                                               \
      CAF_FAIL(#cond << ": " << (why));                                        \
  } while (false)

namespace {

std::string db_url() {
  auto x = env("HERALD_TEST_DB_URL");
  if (x.empty())
    CAF_FAIL("HERALD_TEST_DB_URL is not set: the e2e channel tests need a real "
             "PostgreSQL (scripts/test.sh exports it; for a local run: bash "
             "scripts/pg.sh start /tmp/herald-pg-channels 55471)");
  return x;
}

const std::string admin_token = "e2e-channels-admin-" + random_suffix();
const std::string twilio_token = "twilio-token-" + random_suffix();
const std::string ses_secret = "ses-secret-" + random_suffix();

/// A VAPID key made with the openssl command line, as an operator would.
std::string vapid_key_file() {
  auto path = scratch() + "/vapid-" + random_suffix() + ".pem";
  auto cmd = "openssl ecparam -name prime256v1 -genkey -noout -out " + path
             + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0)
    CAF_FAIL("openssl could not make a VAPID key");
  return path;
}

struct fixture {
  smtp_sink relay1;
  smtp_sink relay2;
  // Status callbacks at once (no delay): they may overtake the record of
  // the delivery, which the receipt route must survive.
  fake_provider fake{{}, {"--twilio-auth-token=" + twilio_token,
                          "--twilio-callback-delay-ms=0"}};
  int api_port = 0;
  option_map opts;
  std::unique_ptr<herald_node> node;
  tenant t;

  fixture() {
    CAF_REQUIRE(relay1.ok());
    CAF_REQUIRE(relay2.ok());
    CAF_REQUIRE(fake.ok());
    auto ports = free_ports(1);
    CAF_REQUIRE_EQUAL(ports.size(), 1u);
    api_port = ports[0];
    auto fake_url = "http://127.0.0.1:" + std::to_string(fake.port);
    opts = {
      {"herald.node.name", quote("channels-" + random_suffix())},
      {"herald.api.host", quote("127.0.0.1")},
      {"herald.api.port", std::to_string(api_port)},
      {"herald.admin.host", quote("127.0.0.1")},
      {"herald.admin.port", "0"},
      {"herald.admin.token", quote(admin_token)},
      {"herald.db.url", quote(db_url())},
      {"herald.log.level", quote("warn")},
      {"herald.retry.base-delay", "200ms"},
      {"herald.retry.max-delay", "1s"},
      {"herald.retry.max-attempts", "3"},
      {"herald.channels.email.providers", R"(["relay1", "relay2"])"},
      {"herald.channels.sms.providers", R"(["sms1"])"},
      {"herald.channels.push.providers", R"(["fcm1", "wp1"])"},
      {"herald.providers.relay1.kind", quote("smtp")},
      {"herald.providers.relay1.url", quote(relay1.url())},
      {"herald.providers.relay1.from", quote("Herald <noreply@herald.example>")},
      {"herald.providers.relay1.reply-to", quote("support@herald.example")},
      {"herald.providers.relay1.receipt-secret", quote(ses_secret)},
      {"herald.providers.relay1.breaker.failure-threshold", "2"},
      {"herald.providers.relay1.breaker.open-timeout", "1min"},
      {"herald.providers.relay1.timeout", "3s"},
      {"herald.providers.relay2.kind", quote("smtp")},
      {"herald.providers.relay2.url", quote(relay2.url())},
      {"herald.providers.relay2.from", quote("Herald <noreply@herald.example>")},
      {"herald.providers.sms1.kind", quote("twilio")},
      {"herald.providers.sms1.base-url", quote(fake_url)},
      {"herald.providers.sms1.account-sid", quote("ACtest")},
      {"herald.providers.sms1.auth-token", quote(twilio_token)},
      {"herald.providers.sms1.from", quote("+15005550006")},
      {"herald.providers.sms1.status-callback",
       quote("http://127.0.0.1:" + std::to_string(api_port)
             + "/v1/receipts/twilio/sms1")},
      {"herald.providers.fcm1.kind", quote("fcm")},
      {"herald.providers.fcm1.base-url", quote(fake_url)},
      {"herald.providers.fcm1.project", quote("demo")},
      {"herald.providers.fcm1.token", quote("fcm-token")},
      {"herald.providers.wp1.kind", quote("webpush")},
      {"herald.providers.wp1.vapid-private-key-file", quote(vapid_key_file())},
      {"herald.providers.wp1.vapid-subject", quote("mailto:ops@herald.example")},
    };
  }

  ~fixture() {
    if (node)
      node->stop();
    relay1.terminate();
    relay2.terminate();
    fake.terminate();
  }

  /// Starts the node with `opts` (tests may change them first) and makes a
  /// tenant.
  void start(json tenant_fields = json::object()) {
    node = std::make_unique<herald_node>(opts);
    REQUIRE_THAT(node->start(), node->error());
    t = make_tenant(*node, admin_token, "ch-" + random_suffix(), tenant_fields);
    REQUIRE_THAT(t.error.empty(), t.error);
  }

  reply submit(const json& body) {
    auto c = node->api();
    return request(*c, "POST", "/v1/notifications", t.key, body);
  }

  json get(const std::string& id) {
    auto c = node->api();
    return request(*c, "GET", "/v1/notifications/" + id, t.key).body;
  }

  json attempts(const std::string& id) {
    auto c = node->api();
    return request(*c, "GET", "/v1/notifications/" + id + "/attempts", t.key)
      .body;
  }

  /// Waits until the notification's status is `status`; its last view.
  json await_status(const std::string& id, const std::string& status,
                    std::chrono::milliseconds timeout = 20s) {
    json last;
    auto ok = eventually(
      [&] {
        last = get(id);
        return text_field(last, "status") == status;
      },
      timeout, 50ms);
    if (!ok)
      CAF_FAIL("notification " << id << " did not become " << status
                                << "; last: " << last.dump());
    return last;
  }

  /// Submits and requires 202; the id.
  std::string accepted(const json& body) {
    auto r = submit(body);
    REQUIRE_THAT(r.status == 202, r.describe());
    return r.field("id");
  }

  /// The sink's message whose X-Herald-Notification-Id is `id`, awaited.
  json message_at(const smtp_sink& sink, const std::string& id) {
    json found;
    eventually(
      [&] {
        for (auto& m : sink.messages())
          if (m["headers"].value("X-Herald-Notification-Id", "") == id) {
            found = m;
            return true;
          }
        return false;
      },
      10s, 50ms);
    return found;
  }

  /// The fake provider's received messages of a shape (sms, fcm, webpush).
  json fake_messages(const std::string& shape) {
    auto r = receiver_call(fake, "/messages?shape=" + shape + "&limit=1000");
    return r.value("messages", json::array());
  }

  json recipient(const std::string& id) {
    auto c = node->api();
    return request(*c, "GET", "/v1/recipients/" + id, t.key).body;
  }
};

/// `s` without trailing line breaks (a decoded MIME part may end in one).
std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r'))
    s.pop_back();
  return s;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(channels_tests, fixture)

CAF_TEST(an email arrives at the SMTP server with both parts and its headers) {
  start();
  auto id = accepted({{"channel", "email"},
                      {"to", "ana@example.org"},
                      {"subject", "Olá — confirmação"},
                      {"body", "Hello Ana,\nyour order shipped."},
                      {"html", "<p>Hello <b>Ana</b>, your order shipped.</p>"}});
  auto n = await_status(id, "delivered");
  auto m = message_at(relay1, id);
  CAF_REQUIRE(!m.is_null());
  auto& h = m["headers"];
  CAF_CHECK_EQUAL(h.value("Subject", ""), "Olá — confirmação");
  CAF_CHECK_EQUAL(h.value("From", ""), "Herald <noreply@herald.example>");
  CAF_CHECK_EQUAL(h.value("Reply-To", ""), "support@herald.example");
  CAF_CHECK_EQUAL(h.value("To", ""), "ana@example.org");
  CAF_CHECK_EQUAL(h.value("Message-ID", ""), "<notif-" + id + "@herald.example>");
  CAF_CHECK(!h.value("X-Request-Id", "").empty());
  CAF_CHECK_EQUAL(m["rcpt_tos"], json::array({"ana@example.org"}));
  CAF_CHECK_EQUAL(m.value("mail_from", ""), "noreply@herald.example");
  auto text = m.value("text", "");
  CAF_CHECK(text.find("your order shipped.") != std::string::npos);
  CAF_CHECK(text.find("Hello Ana,") != std::string::npos);
  CAF_CHECK_EQUAL(trimmed(m.value("html", "")),
                  "<p>Hello <b>Ana</b>, your order shipped.</p>");
  CAF_CHECK_EQUAL(text_field(n, "provider_message_id"),
                  "<notif-" + id + "@herald.example>");
  CAF_CHECK_EQUAL(text_field(n, "html"), "<p>Hello <b>Ana</b>, your order shipped.</p>");
  auto a = attempts(id);
  CAF_REQUIRE_EQUAL(a["items"].size(), 1u);
  CAF_CHECK_EQUAL(text_field(a["items"][0], "provider"), "relay1");
  CAF_CHECK_EQUAL(relay2.stats().value("messages", -1), 0);
}

CAF_TEST(a tenant sends under its own From and Reply-To over one connection) {
  start({{"email_from", "Acme <hello@acme.example>"},
         {"email_reply_to", "help@acme.example"}});
  auto connections = relay1.stats().value("connections", 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(accepted({{"channel", "email"},
                            {"to", "bob@example.org"},
                            {"subject", "n" + std::to_string(i)},
                            {"body", "hi"}}));
  for (auto& id : ids)
    await_status(id, "delivered");
  for (auto& id : ids) {
    auto m = message_at(relay1, id);
    CAF_CHECK_EQUAL(m["headers"].value("From", ""), "Acme <hello@acme.example>");
    CAF_CHECK_EQUAL(m["headers"].value("Reply-To", ""), "help@acme.example");
    CAF_CHECK_EQUAL(m["headers"].value("Message-ID", ""),
                    "<notif-" + id + "@acme.example>");
    // Bounces go to the operator's address, not the tenant's.
    CAF_CHECK_EQUAL(m.value("mail_from", ""), "noreply@herald.example");
  }
  // Senders keep their connection: at most one per sender (8) for the five.
  auto opened = relay1.stats().value("connections", 0) - connections;
  CAF_CHECK(opened >= 1);
  CAF_CHECK(opened <= 5);
}

CAF_TEST(SMTP replies are classified: 5xx dead letters at once and 4xx retries) {
  start();
  auto perm = accepted({{"channel", "email"}, {"to", "fail-550-5.1.1@example.org"},
                        {"body", "x"}});
  auto temp = accepted({{"channel", "email"}, {"to", "fail-451-4.3.0@example.org"},
                        {"body", "x"}});
  auto p = await_status(perm, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(p, "attempts"), 1);
  CAF_CHECK(text_field(p, "last_error").find("550") != std::string::npos);
  // Retried within the budget (3), then dead-lettered as exhausted.
  auto t4 = await_status(temp, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(t4, "attempts"), 3);
  CAF_CHECK(text_field(t4, "last_error").find("451") != std::string::npos);
  auto c = node->api();
  auto dl = request(*c, "GET", "/v1/dlq/" + temp, t.key);
  CAF_CHECK_EQUAL(dl.status, 200);
  CAF_CHECK(dl.text.find("exhausted") != std::string::npos);
}

CAF_TEST(while the first relay is down email fails over to the second) {
  // One sender: calls to relay1 go one at a time, so exactly the two that
  // trip its breaker are made.
  opts["herald.providers.relay1.pool-size"] = "1";
  start();
  CAF_REQUIRE_EQUAL(relay1.terminate(), 0);
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i)
    ids.push_back(accepted({{"channel", "email"},
                            {"to", "carol@example.org"},
                            {"body", "failover " + std::to_string(i)}}));
  for (auto& id : ids)
    await_status(id, "delivered", 30s);
  for (auto& id : ids)
    CAF_CHECK(!message_at(relay2, id).is_null());
  // relay1's breaker opened after two failed calls; while it is open no
  // call is made to it (nothing counted): the other jobs and the retries of
  // the two went to relay2.
  size_t failed_at_relay1 = 0;
  for (auto& id : ids) {
    auto xs = attempts(id);
    for (auto& a : xs["items"])
      if (text_field(a, "provider") == "relay1") {
        CAF_CHECK_EQUAL(text_field(a, "outcome"), "failed");
        ++failed_at_relay1;
      }
  }
  CAF_CHECK_EQUAL(failed_at_relay1, 2u);
  auto b = breaker_of(*node, admin_token, "relay1");
  CAF_REQUIRE(!b.is_null());
  CAF_CHECK_EQUAL(text_field(b, "state"), "open");
}

CAF_TEST(an SES bounce notice moves a delivered email to bounced) {
  start();
  auto id = accepted({{"channel", "email"}, {"to", "dave@example.org"},
                      {"body", "x"}});
  auto n = await_status(id, "delivered");
  auto mid = text_field(n, "provider_message_id");
  CAF_REQUIRE(!mid.empty());
  json notice{{"notificationType", "Bounce"},
              {"bounce", {{"bounceType", "Permanent"},
                          {"bounceSubType", "General"},
                          {"bouncedRecipients",
                           json::array({{{"emailAddress", "dave@example.org"},
                                         {"diagnosticCode", "smtp; 550 5.1.1 user unknown"}}})}}},
              {"mail", {{"messageId", "0100018c-ses-id"},
                        {"commonHeaders", {{"messageId", mid}}}}}};
  json envelope{{"Type", "Notification"}, {"Message", notice.dump()}};
  auto c = node->api();
  auto wrong = request(*c, "POST", "/v1/receipts/ses/relay1", "nope", envelope);
  CAF_CHECK_EQUAL(wrong.status, 401);
  auto unknown = request(*c, "POST", "/v1/receipts/ses/relay9", ses_secret, envelope);
  CAF_CHECK_EQUAL(unknown.status, 404);
  // relay2 did not deliver it: its route (no secret configured) refuses.
  auto other = request(*c, "POST", "/v1/receipts/ses/relay2", ses_secret, envelope);
  CAF_CHECK_EQUAL(other.status, 401);
  CAF_CHECK_EQUAL(text_field(get(id), "status"), "delivered");
  auto ok = request(*c, "POST", "/v1/receipts/ses/relay1", ses_secret, envelope);
  REQUIRE_THAT(ok.status == 200, ok.describe());
  CAF_CHECK_EQUAL(ok.body["updated"], json::array({id}));
  auto b = get(id);
  CAF_CHECK_EQUAL(text_field(b, "status"), "bounced");
  CAF_CHECK(text_field(b, "last_error").find("Permanent bounce") != std::string::npos);
  // A second notice changes nothing.
  auto again = request(*c, "POST", "/v1/receipts/ses/relay1", ses_secret, envelope);
  CAF_CHECK_EQUAL(again.status, 200);
  CAF_CHECK_EQUAL(again.body["updated"], json::array());
  auto bad = request(*c, "POST", "/v1/receipts/ses/relay1", ses_secret,
                     json{{"hello", 1}});
  CAF_CHECK_EQUAL(bad.status, 400);
}

CAF_TEST(SMS goes through the Twilio shape and a signed status callback marks it failed) {
  start();
  auto ok = accepted({{"channel", "sms"}, {"to", "+15551230001"},
                      {"body", "Your code is 123456"}});
  auto undelivered = accepted({{"channel", "sms"}, {"to", "+15005550006"},
                               {"body", "will not arrive"}});
  auto invalid = accepted({{"channel", "sms"}, {"to", "+15005550001"},
                           {"body", "bad number"}});
  auto n = await_status(ok, "delivered");
  CAF_CHECK_EQUAL(text_field(n, "provider_message_id").substr(0, 2), "SM");
  bool seen = false;
  for (auto& m : fake_messages("sms"))
    seen = seen
           || (m.value("to", "") == "+15551230001"
               && m.value("body", "") == "Your code is 123456"
               && m.value("from", "") == "+15005550006");
  CAF_CHECK(seen);
  // The fake posts a signed status callback "undelivered" (error 30003).
  auto f = await_status(undelivered, "failed");
  CAF_CHECK(text_field(f, "last_error").find("30003") != std::string::npos);
  auto d = await_status(invalid, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(d, "attempts"), 1);
  CAF_CHECK(text_field(d, "last_error").find("21211") != std::string::npos);
  // A callback without a valid signature is refused and changes nothing.
  httplib::Client c{"127.0.0.1", api_port};
  auto body = "MessageSid=" + text_field(n, "provider_message_id")
              + "&MessageStatus=failed&ErrorCode=30008";
  auto r = c.Post("/v1/receipts/twilio/sms1", {{"X-Twilio-Signature", "AAAA"}},
                  body, "application/x-www-form-urlencoded");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->status, 401);
  CAF_CHECK_EQUAL(text_field(get(ok), "status"), "delivered");
}

CAF_TEST(a retryable Twilio answer is retried) {
  opts["herald.channels.sms.retry.max-attempts"] = "2";
  start();
  auto id = accepted({{"channel", "sms"}, {"to", "+15005550003"},
                      {"body", "rate limited"}});
  auto n = await_status(id, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(n, "attempts"), 2);
  CAF_CHECK(text_field(n, "last_error").find("20429") != std::string::npos);
}

CAF_TEST(the outbound quota holds a provider to its rate under load) {
  opts["herald.providers.sms1.rate-per-sec"] = "20";
  opts["herald.providers.sms1.burst"] = "1";
  start();
  receiver_call(fake, "/reset", json::object());
  std::vector<json> items;
  for (int i = 0; i < 60; ++i)
    items.push_back({{"channel", "sms"}, {"to", "+1555000" + std::to_string(1000 + i)},
                     {"body", "q"}});
  auto c = node->api();
  std::string error;
  auto t0 = steady_clock::now();
  auto ids = submit_batches(*c, t.key, items, error);
  REQUIRE_THAT(error.empty(), error);
  for (auto& id : ids)
    await_status(id, "delivered", 30s);
  auto took = duration_cast<milliseconds>(steady_clock::now() - t0).count();
  auto stats = receiver_call(fake, "/stats");
  auto sms = stats["shapes"]["sms"];
  CAF_CHECK_EQUAL(sms.value("delivered", 0), 60);
  // 20/s with a bucket of one: never more than 21 in any second, and the
  // 60 take at least (60 - 1) / 20 s.
  CAF_CHECK_LESS_OR_EQUAL(sms.value("max_per_second", 1000), 21);
  CAF_CHECK_GREATER_OR_EQUAL(took, 2900);
}

CAF_TEST(FCM push delivers and a dead token is removed from the recipient) {
  start();
  auto c = node->api();
  auto put = request(*c, "PUT", "/v1/recipients/u1", t.key,
                     {{"email", "u1@example.org"},
                      {"devices", json::array({{{"id", "tablet"}, {"kind", "fcm"},
                                                {"token", "tok-tablet"}},
                                               {{"id", "browser"}, {"kind", "webpush"},
                                                {"subscription",
                                                 {{"endpoint", "https://push.example/s1"},
                                                  {"keys", {{"p256dh", "BNc"},
                                                            {"auth", "tA"}}}}}},
                                               {{"id", "phone"}, {"kind", "fcm"},
                                                {"token", "dead-abc"}}})}});
  REQUIRE_THAT(put.status == 201, put.describe());
  auto good = accepted({{"channel", "push"}, {"to", "tok-live-1"},
                        {"subject", "Ride"}, {"body", "Your ride is here"},
                        {"data", {{"ride", 42}}}});
  auto n = await_status(good, "delivered");
  CAF_CHECK(text_field(n, "provider_message_id").find("projects/demo/messages/")
            == 0);
  bool seen = false;
  for (auto& m : fake_messages("fcm"))
    seen = seen || (m.value("token", "") == "tok-live-1"
                    && m.value("title", "") == "Ride"
                    && m.value("body", "") == "Your ride is here"
                    && m["data"].value("ride", "") == "42");
  CAF_CHECK(seen);
  auto dead = accepted({{"channel", "push"}, {"recipient", "u1"}, {"body", "x"}});
  auto d = await_status(dead, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(d, "attempts"), 1);
  CAF_CHECK(text_field(d, "last_error").find("UNREGISTERED") != std::string::npos);
  // Only the dead device goes; the others stay, in their order.
  CAF_CHECK(eventually([&] { return recipient("u1")["devices"].size() == 2; }, 5s));
  auto left = recipient("u1")["devices"];
  CAF_REQUIRE_EQUAL(left.size(), 2u);
  CAF_CHECK_EQUAL(text_field(left[0], "id"), "tablet");
  CAF_CHECK_EQUAL(text_field(left[1], "id"), "browser");
  // With no device left the next push is skipped, never sent.
  auto c2 = node->api();
  auto emptied = request(*c2, "PUT", "/v1/recipients/u1", t.key,
                         {{"email", "u1@example.org"}});
  REQUIRE_THAT(emptied.status == 200, emptied.describe());
  auto r = submit({{"channel", "push"}, {"recipient", "u1"}, {"body", "x"}});
  CAF_CHECK_EQUAL(r.status, 202);
  CAF_CHECK_EQUAL(r.field("status"), "skipped");
  auto unavailable = accepted({{"channel", "push"}, {"to", "unavailable-1"},
                               {"body", "x"}});
  auto u = await_status(unavailable, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(u, "attempts"), 3); // retried to the budget
}

CAF_TEST(Web Push is encrypted for the subscription and an expired one is removed) {
  start();
  auto control = make_client(fake.control_port);
  auto made = request(*control, "POST", "/webpush/subscriptions", "",
                      json::object());
  REQUIRE_THAT(made.status == 201, made.describe());
  auto sub = made.body;
  sub.erase("id");
  sub.erase("expirationTime");
  auto sub_id = sub["endpoint"].get<std::string>();
  sub_id = sub_id.substr(sub_id.rfind('/') + 1);
  auto c = node->api();
  auto put = request(*c, "PUT", "/v1/recipients/w1", t.key,
                     {{"devices", json::array({{{"id", "browser"},
                                                {"kind", "webpush"},
                                                {"subscription", sub}}})}});
  REQUIRE_THAT(put.status == 201, put.describe());
  auto id = accepted({{"channel", "push"}, {"recipient", "w1"},
                      {"body", "New message from Ana"},
                      {"data", {{"thread", "t-9"}}}, {"priority", "high"}});
  auto n = await_status(id, "delivered");
  // The push service's Location names the message.
  CAF_CHECK_EQUAL(text_field(n, "provider_message_id").find(text_field(sub, "endpoint")
                                                             + "/messages/"),
                  0u);
  json got;
  for (auto& m : fake_messages("webpush"))
    if (m.value("subscription", "") == sub_id)
      got = m;
  CAF_REQUIRE(!got.is_null());
  // The fake decrypted it with the subscription's private key and checked
  // the VAPID token: the plaintext is what a service worker gets.
  auto payload = json::parse(got.value("plaintext", ""), nullptr, false);
  CAF_REQUIRE(payload.is_object());
  CAF_CHECK_EQUAL(payload.value("id", ""), id);
  CAF_CHECK_EQUAL(payload.value("body", ""), "New message from Ana");
  CAF_CHECK_EQUAL(payload["data"].value("thread", ""), "t-9");
  CAF_CHECK_EQUAL(got.value("subject", ""), "mailto:ops@herald.example");
  CAF_CHECK_EQUAL(got.value("urgency", ""), "high");
  // Expired: 410 Gone, permanent, and the subscription leaves the profile.
  receiver_call(fake, "/webpush/subscriptions/" + sub_id + "/expire",
                json::object());
  auto gone = accepted({{"channel", "push"}, {"recipient", "w1"}, {"body", "x"}});
  auto g = await_status(gone, "dead_lettered");
  CAF_CHECK_EQUAL(int_field(g, "attempts"), 1);
  CAF_CHECK(eventually([&] { return recipient("w1")["devices"].empty(); }, 5s));
}

CAF_TEST(a template rendered for a recipient arrives at the SMTP server) {
  start();
  auto c = node->api();
  auto tmpl = request(*c, "POST", "/v1/templates", t.key,
                      {{"code", "welcome"},
                       {"default_locale", "en"},
                       {"locales",
                        {{"en", {{"email", {{"subject", "Welcome, {{name}}"},
                                            {"text", "Hi {{name}}!"},
                                            {"html", "<p>Hi {{name}}!</p>"}}}}},
                         {"pt-BR", {{"email", {{"subject", "Bem-vinda, {{name}}"},
                                               {"text", "Olá {{name}}!"},
                                               {"html", "<p>Olá {{name}}!</p>"}}}}}}}});
  REQUIRE_THAT(tmpl.status == 201, tmpl.describe());
  auto put = request(*c, "PUT", "/v1/recipients/r42", t.key,
                     {{"email", "rita@example.org"}, {"locale", "pt-BR"}});
  REQUIRE_THAT(put.status == 201, put.describe());
  auto id = accepted({{"channel", "email"}, {"recipient", "r42"},
                      {"template", "welcome"},
                      {"variables", {{"name", "Rita <3"}}}});
  await_status(id, "delivered");
  auto m = message_at(relay1, id);
  CAF_REQUIRE(!m.is_null());
  CAF_CHECK_EQUAL(m["headers"].value("Subject", ""), "Bem-vinda, Rita <3");
  CAF_CHECK_EQUAL(m["headers"].value("To", ""), "rita@example.org");
  CAF_CHECK_EQUAL(trimmed(m.value("text", "")), "Olá Rita <3!");
  CAF_CHECK_EQUAL(trimmed(m.value("html", "")), "<p>Olá Rita &lt;3!</p>");
}

CAF_TEST_FIXTURE_SCOPE_END()
