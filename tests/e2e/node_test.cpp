// herald-test-links: herald_channels
// (only for CAF, httplib and nlohmann::json: the node runs as a process)
#define CAF_SUITE node

// End-to-end tests of one Herald node: the real `herald` binary and the
// fake-provider binary as child processes, a real PostgreSQL
// (HERALD_TEST_DB_URL), clients speaking HTTP on loopback. Every test uses
// tenants with fresh random ids, so tests (and runs) can share the database.
//
// The database outage test also needs HERALD_TEST_PG_DIR and
// HERALD_TEST_PG_PORT: it stops and restarts that server with scripts/pg.sh.

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/node_harness.hpp"
#include "support/process.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace std::chrono_literals;
using herald::test::child_process;
using herald::test::eventually;
using nlohmann::json;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// -- environment and processes -----------------------------------------------
//
// Config files, clients and the node and receiver processes are shared with
// the other e2e suites (support/node_harness.hpp).

using herald::test::harness::env;
using herald::test::harness::fake_provider;
using herald::test::harness::herald_node;
using herald::test::harness::make_client;
using herald::test::harness::option_map;
using herald::test::harness::quote;
using herald::test::harness::random_suffix;
using herald::test::harness::render_ini;
using herald::test::harness::write_file;
using herald::test::harness::endpoint_of;
using herald::test::harness::receiver_call;
using herald::test::harness::bearer;
using herald::test::harness::body_of;
using herald::test::harness::describe;
using herald::test::harness::int_field;
using herald::test::harness::media_type;
using herald::test::harness::text_field;

std::string required_env(const char* name, const char* why) {
  auto x = env(name);
  if (x.empty())
    CAF_FAIL(name << " is not set: " << why
                  << " (scripts/test.sh exports it; for a local run: "
                     "bash scripts/pg.sh start /tmp/herald-pg-e2e 55450)");
  return x;
}

std::string db_url() {
  return required_env("HERALD_TEST_DB_URL",
                      "the e2e node tests need a real PostgreSQL");
}

/// Starts `node`; on failure the test log shows why (the node's stderr).
bool started(herald_node& node) {
  if (node.start())
    return true;
  CAF_MESSAGE(node.error());
  return false;
}

/// The receiver's counters (GET /stats; with `ids`, also what it received).
json stats_of(const fake_provider& receiver, bool ids = false) {
  return receiver_call(receiver, ids ? "/stats?ids=1" : "/stats");
}

/// Sets the receiver's faults (POST /control); false if it did not answer
/// with them.
bool set_faults(const fake_provider& receiver, const json& faults) {
  return !receiver_call(receiver, "/control", faults).empty();
}

// -- node configuration -------------------------------------------------------

const std::string admin_token = "e2e-admin-" + random_suffix();

option_map default_options(const std::string& node_name) {
  return {
    {"herald.node.name", quote(node_name)},
    {"herald.api.host", quote("127.0.0.1")},
    {"herald.api.port", "0"},
    {"herald.api.threads", "48"},
    {"herald.api.max-body-bytes", "4096"},
    {"herald.api.request-timeout", "3s"},
    {"herald.admin.host", quote("127.0.0.1")},
    {"herald.admin.port", "0"},
    {"herald.admin.token", quote(admin_token)},
    {"herald.db.url", quote(db_url())},
    {"herald.delivery.sweep-interval", "200ms"},
    {"herald.delivery.lease-ttl", "10s"},
    {"herald.channels.webhook.timeout", "5s"},
    {"herald.log.level", quote("warn")},
  };
}

// -- HTTP helpers -------------------------------------------------------------

/// Checks an error answer: the status and an RFC 9457 problem document.
/// Returns the document (null on failure).
json check_problem(const httplib::Result& r, int status,
                   const std::string& what) {
  if (!r) {
    CAF_CHECK(static_cast<bool>(r));
    CAF_MESSAGE(what << ": " << describe(r));
    return nullptr;
  }
  auto doc = body_of(*r);
  bool ok = r->status == status
            && media_type(*r) == "application/problem+json" && doc.is_object()
            && int_field(doc, "status") == status && !text_field(doc, "type").empty()
            && !text_field(doc, "title").empty() && !text_field(doc, "detail").empty();
  if (!ok) {
    CAF_MESSAGE(what << ": expected " << status
                     << " with a problem document, got " << r->status << " "
                     << r->get_header_value("Content-Type") << " " << r->body);
  }
  CAF_CHECK_EQUAL(r->status, status);
  CAF_CHECK_EQUAL(media_type(*r), "application/problem+json");
  CAF_CHECK(ok);
  return ok ? doc : json(nullptr);
}

/// The field names of a 422 problem document.
std::set<std::string> error_fields(const json& doc) {
  std::set<std::string> out;
  if (!doc.is_object() || !doc.contains("errors") || !doc["errors"].is_array())
    return out;
  for (auto& e : doc["errors"]) {
    auto field = text_field(e, "field");
    if (!field.empty() && !text_field(e, "message").empty())
      out.insert(field);
    else
      out.insert("<entry without field or message: " + e.dump() + ">");
  }
  return out;
}

std::string join(const std::set<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

struct tenant_info {
  std::string id;
  std::string secret;
  std::string key;
  std::string key_id;
};

/// Issues an API key for `tenant_id`; empty pair on failure.
std::pair<std::string, std::string> issue_key(const herald_node& node,
                                              const std::string& tenant_id) {
  auto admin = node.admin();
  auto res = admin->Post("/admin/tenants/" + tenant_id + "/keys",
                         bearer(admin_token), "{}", "application/json");
  if (!res || res->status != 201) {
    CAF_MESSAGE("issuing a key failed: " << describe(res));
    return {};
  }
  auto j = body_of(*res);
  return {text_field(j, "key_id"), text_field(j, "key")};
}

tenant_info create_tenant(const herald_node& node, json fields = json::object()) {
  tenant_info t;
  t.id = "e2e-" + random_suffix();
  fields["name"] = "e2e tenant " + t.id;
  auto admin = node.admin();
  auto res = admin->Put("/admin/tenants/" + t.id, bearer(admin_token),
                        fields.dump(), "application/json");
  CAF_REQUIRE(res);
  if (res->status != 201)
    CAF_MESSAGE("PUT tenant: " << describe(res));
  CAF_REQUIRE_EQUAL(res->status, 201);
  t.secret = text_field(body_of(*res), "webhook_secret");
  CAF_REQUIRE_EQUAL(t.secret.rfind("whsec_", 0), 0u);
  std::tie(t.key_id, t.key) = issue_key(node, t.id);
  CAF_REQUIRE(!t.key.empty());
  return t;
}

httplib::Result submit(httplib::Client& c, const std::string& key,
                       const std::string& body,
                       const std::string& content_type = "application/json") {
  return c.Post("/v1/notifications", bearer(key), body, content_type);
}

json webhook_notification(const std::string& url, int n = 0) {
  return {{"channel", "webhook"},
          {"to", url},
          {"body", "hello " + std::to_string(n)},
          {"data", {{"n", n}, {"e2e", true}}}};
}

/// Submits and expects 202; the new id ("" on failure).
std::string submit_ok(httplib::Client& c, const std::string& key,
                      const json& body) {
  auto res = submit(c, key, body.dump());
  if (!res || res->status != 202) {
    CAF_MESSAGE("submit of " << body.dump() << " failed: " << describe(res));
    CAF_CHECK(res && res->status == 202);
    return {};
  }
  auto j = body_of(*res);
  auto id = text_field(j, "id");
  CAF_CHECK_EQUAL(text_field(j, "status"), "accepted");
  CAF_CHECK_EQUAL(media_type(*res), "application/json");
  CAF_CHECK_EQUAL(res->get_header_value("Location"), "/v1/notifications/" + id);
  CAF_CHECK_EQUAL(id.size(), 36u);
  return id;
}

json get_notification(httplib::Client& c, const std::string& key,
                      const std::string& id, int* status = nullptr) {
  auto res = c.Get("/v1/notifications/" + id, bearer(key));
  if (status)
    *status = res ? res->status : 0;
  if (!res || res->status != 200)
    return nullptr;
  return body_of(*res);
}

/// Polls GET /v1/notifications/{id} until its status is one of `targets`;
/// returns the last document seen (null if none).
json await_status(httplib::Client& c, const std::string& key,
                  const std::string& id, const std::set<std::string>& targets,
                  milliseconds timeout = 20s) {
  json last;
  eventually(
    [&] {
      auto j = get_notification(c, key, id);
      if (j.is_object())
        last = j;
      return targets.count(text_field(last, "status")) > 0;
    },
    timeout, 50ms);
  if (targets.count(text_field(last, "status")) == 0)
    CAF_MESSAGE("notification " << id << " did not reach "
                                << join(targets) << "; last seen: "
                                << (last.is_null() ? "nothing" : last.dump()));
  return last;
}

/// GET /v1/notifications with `query`, following next_cursor to the end.
/// Returns the ids in the order given; false in `ok` on any error.
std::vector<std::string> list_all(httplib::Client& c, const std::string& key,
                                  const std::string& query, bool& ok,
                                  size_t* pages = nullptr) {
  std::vector<std::string> ids;
  std::string cursor;
  ok = true;
  for (int page = 0; page < 1000; ++page) {
    auto path = "/v1/notifications?" + query;
    if (!cursor.empty())
      path += "&cursor=" + cursor;
    auto res = c.Get(path, bearer(key));
    if (!res || res->status != 200) {
      CAF_MESSAGE("GET " << path << ": " << describe(res));
      ok = false;
      return ids;
    }
    auto j = body_of(*res);
    if (!j.is_object() || !j.contains("items") || !j["items"].is_array()
        || !j.contains("next_cursor")) {
      CAF_MESSAGE("GET " << path << ": malformed page " << res->body);
      ok = false;
      return ids;
    }
    if (pages)
      *pages = static_cast<size_t>(page + 1);
    for (auto& item : j["items"])
      ids.push_back(text_field(item, "id"));
    if (j["next_cursor"].is_null())
      return ids;
    cursor = j["next_cursor"].get<std::string>();
  }
  ok = false;
  return ids;
}

// -- fixtures -----------------------------------------------------------------

/// One node, one receiver (without secrets: it accepts every signature) and
/// one tenant with a key.
struct node_fixture {
  herald_node node{default_options("e2e-" + random_suffix())};
  fake_provider receiver;
  tenant_info t;
  std::unique_ptr<httplib::Client> api;

  node_fixture() {
    CAF_REQUIRE(receiver.ok());
    CAF_REQUIRE(started(node));
    t = create_tenant(node);
    api = node.api();
  }

  ~node_fixture() {
    // Our idle keep-alive connection first, then the node, then the
    // receiver (the node's keep-alive connections to it are gone by then).
    api.reset();
    if (node.proc().running())
      CAF_CHECK_EQUAL(node.stop(), 0);
    CAF_CHECK_EQUAL(receiver.terminate(), 0);
  }
};

} // namespace

// -- 1. submit -> delivered ----------------------------------------------------

CAF_TEST(submitted webhooks are delivered signed and recorded) {
  herald_node node{default_options("e2e-" + random_suffix())};
  CAF_REQUIRE(started(node));
  auto t = create_tenant(node);
  // This receiver verifies the Standard Webhooks signature with the
  // tenant's secret: anything else counts as bad_signature.
  fake_provider receiver{{t.secret}};
  CAF_REQUIRE(receiver.ok());
  auto api = node.api();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = submit_ok(*api, t.key, webhook_notification(receiver.url(), i));
    CAF_REQUIRE(!id.empty());
    ids.push_back(id);
  }
  CAF_CHECK_EQUAL(std::set<std::string>(ids.begin(), ids.end()).size(), 5u);
  for (size_t i = 0; i < ids.size(); ++i) {
    auto n = await_status(*api, t.key, ids[i], {"delivered"});
    CAF_CHECK_EQUAL(text_field(n, "status"), "delivered");
    CAF_CHECK_EQUAL(text_field(n, "id"), ids[i]);
    CAF_CHECK_EQUAL(int_field(n, "attempts"), 1);
    CAF_CHECK_EQUAL(text_field(n, "channel"), "webhook");
    CAF_CHECK_EQUAL(text_field(n, "to"), receiver.url());
    CAF_CHECK_EQUAL(text_field(n, "body"), "hello " + std::to_string(i));
    CAF_CHECK(n.is_object() && n.value("data", json{})
                                 == json({{"n", i}, {"e2e", true}}));
    auto res = api->Get("/v1/notifications/" + ids[i] + "/attempts",
                        bearer(t.key));
    CAF_REQUIRE(res);
    CAF_CHECK_EQUAL(res->status, 200);
    auto items = body_of(*res).value("items", json::array());
    CAF_REQUIRE_EQUAL(items.size(), 1u);
    CAF_CHECK_EQUAL(text_field(items[0], "outcome"), "delivered");
    CAF_CHECK_EQUAL(text_field(items[0], "provider"), endpoint_of(receiver));
    CAF_CHECK_EQUAL(int_field(items[0], "http_status"), 200);
    CAF_CHECK_EQUAL(text_field(items[0], "node"), node.name());
    CAF_CHECK(!items[0].contains("error"));
  }
  auto s = stats_of(receiver, true);
  CAF_CHECK_EQUAL(int_field(s, "bad_signature"), 0);
  CAF_CHECK_EQUAL(int_field(s, "received"), 5);
  CAF_CHECK_EQUAL(int_field(s, "delivered"), 5);
  CAF_CHECK_EQUAL(int_field(s, "unique"), 5);
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
  std::set<std::string> seen;
  auto counts = s.value("ids", json::object());
  for (auto& [id, count] : counts.items()) {
    seen.insert(id);
    CAF_CHECK_EQUAL(count.get<int64_t>(), 1);
  }
  CAF_CHECK(seen == std::set<std::string>(ids.begin(), ids.end()));
  api.reset();
  CAF_CHECK_EQUAL(node.stop(), 0);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
}

// -- 2. bad input --------------------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(bad_input, node_fixture)

CAF_TEST(missing unknown malformed and revoked keys get 401) {
  auto good = webhook_notification(receiver.url()).dump();
  auto id = submit_ok(*api, t.key, webhook_notification(receiver.url()));
  CAF_REQUIRE(!id.empty());
  // No key at all.
  auto r = submit(*api, "", good);
  check_problem(r, 401, "submit without Authorization");
  if (r)
    CAF_CHECK_EQUAL(r->get_header_value("WWW-Authenticate").rfind("Bearer", 0),
                    0u);
  check_problem(api->Get("/v1/notifications/" + id), 401, "GET without key");
  check_problem(api->Get("/v1/notifications"), 401, "list without key");
  // Not a bearer token.
  check_problem(api->Post("/v1/notifications",
                          {{"Authorization", "Basic dXNlcjpwYXNz"}}, good,
                          "application/json"),
                401, "Basic auth");
  // Malformed keys.
  for (auto bad : {"garbage", "key_", "key_0123.abc", "key_zzzzzzzzzzzzzzzz.abc",
                   "Bearer"}) {
    check_problem(submit(*api, bad, good), 401,
                  std::string{"malformed key "} + bad);
  }
  // Well-formed but unknown key id.
  check_problem(submit(*api, "key_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                       good),
                401, "unknown key");
  // Known key id, wrong secret part.
  check_problem(submit(*api, t.key_id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                       good),
                401, "known key id with a wrong secret");
  check_problem(api->Get("/v1/notifications/" + id,
                         bearer(t.key_id + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
                401, "GET with a wrong secret");
  // Revocation takes effect at once, on submit and on GET, although the key
  // was just used (and may sit in a cache).
  auto [key_id2, key2] = issue_key(node, t.id);
  CAF_REQUIRE(!key2.empty());
  auto id2 = submit_ok(*api, key2, webhook_notification(receiver.url(), 2));
  CAF_REQUIRE(!id2.empty());
  int status = 0;
  get_notification(*api, key2, id2, &status);
  CAF_CHECK_EQUAL(status, 200);
  auto admin = node.admin();
  auto del = admin->Delete("/admin/tenants/" + t.id + "/keys/" + key_id2,
                           bearer(admin_token));
  CAF_REQUIRE(del);
  CAF_CHECK_EQUAL(del->status, 204);
  check_problem(submit(*api, key2, good), 401, "submit with a revoked key");
  check_problem(api->Get("/v1/notifications/" + id2, bearer(key2)), 401,
                "GET with a revoked key");
  check_problem(api->Get("/v1/notifications/" + id2 + "/attempts", bearer(key2)),
                401, "attempts with a revoked key");
  check_problem(api->Get("/v1/notifications", bearer(key2)), 401,
                "list with a revoked key");
  // The tenant's other key is untouched.
  get_notification(*api, t.key, id2, &status);
  CAF_CHECK_EQUAL(status, 200);
  CAF_CHECK(!submit_ok(*api, t.key, webhook_notification(receiver.url(), 3))
               .empty());
  // Unknown key ids of the tenant: 404, not 204.
  auto del2 = admin->Delete("/admin/tenants/" + t.id + "/keys/key_0123456789abcdef",
                            bearer(admin_token));
  CAF_REQUIRE(del2);
  CAF_CHECK_EQUAL(del2->status, 404);
  // The admin API itself wants its token.
  check_problem(admin->Put("/admin/tenants/" + t.id, "{}", "application/json"),
                401, "admin without token");
  check_problem(admin->Post("/admin/tenants/" + t.id + "/keys",
                            bearer("wrong-" + admin_token), "{}",
                            "application/json"),
                401, "admin with a wrong token");
}

CAF_TEST(revoking a key under another tenant is 404 and revokes nothing) {
  auto other = create_tenant(node);
  // t's key id, but the path names the other tenant: no such key there.
  auto admin = node.admin();
  auto del = admin->Delete("/admin/tenants/" + other.id + "/keys/" + t.key_id,
                           bearer(admin_token));
  CAF_REQUIRE(del);
  CAF_CHECK_EQUAL(del->status, 404);
  // t's key must keep working: nothing was revoked.
  auto r = submit(*api, t.key, webhook_notification(receiver.url()).dump());
  CAF_REQUIRE(r);
  if (r->status != 202)
    CAF_MESSAGE("BUG: the key of tenant " << t.id
                << " stopped working after DELETE /admin/tenants/" << other.id
                << "/keys/" << t.key_id << " answered 404: " << describe(r));
  CAF_CHECK_EQUAL(r->status, 202);
}

CAF_TEST(malformed bodies wrong content types and oversized bodies) {
  // 400: not JSON, or JSON that is not an object.
  for (std::string bad : {R"({"channel":)", "not json", "", "[1,2]",
                          R"("a string")", "42", "null", "true",
                          "{\"channel\":\"webhook\",\"to\":\"\xff\xfe\"}"}) {
    check_problem(submit(*api, t.key, bad), 400, "malformed body <" + bad + ">");
  }
  // 415: the body is fine, the declared type is not.
  auto good = webhook_notification(receiver.url()).dump();
  for (std::string ct : {"text/plain", "application/x-www-form-urlencoded",
                         "application/jsonx", "application/problem+json"}) {
    check_problem(submit(*api, t.key, good, ct), 415, "content type " + ct);
  }
  // A well-formed multipart form (httplib parses those itself).
  check_problem(submit(*api, t.key,
                       "--x\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\n"
                         + good + "\r\n--x--\r\n",
                       "multipart/form-data; boundary=x"),
                415, "multipart/form-data");
  // No Content-Type at all.
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/notifications";
  req.headers = bearer(t.key);
  req.body = good;
  check_problem(api->send(req), 415, "no content type");
  // Parameters and case do not matter.
  CAF_CHECK(!submit_ok(*api, t.key, webhook_notification(receiver.url()))
               .empty());
  auto r = submit(*api, t.key, good, "Application/JSON; charset=utf-8");
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->status, 202);
  // 413: herald.api.max-body-bytes is 4096 in these tests. A body of exactly
  // 4096 bytes is still accepted, one byte more is not.
  auto padded = [&](size_t size) {
    auto j = webhook_notification(receiver.url());
    j["body"] = "";
    auto base = j.dump().size();
    j["body"] = std::string(size - base, 'x');
    auto text = j.dump();
    CAF_REQUIRE_EQUAL(text.size(), size);
    return text;
  };
  r = submit(*api, t.key, padded(4096));
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->status, 202);
  check_problem(submit(*api, t.key, padded(4097)), 413, "body of 4097 bytes");
  check_problem(submit(*api, t.key, padded(64 * 1024)), 413, "body of 64 KiB");
  // The node is fine afterwards.
  CAF_CHECK(!submit_ok(*api, t.key, webhook_notification(receiver.url()))
               .empty());
}

CAF_TEST(invalid fields get 422 naming each field and write nothing) {
  auto url = receiver.url();
  struct bad_case {
    json body;
    std::set<std::string> fields;
  };
  std::vector<bad_case> cases{
    {{{"channel", "fax"}, {"to", "x"}, {"body", "b"}}, {"channel"}},
    {{{"to", url}, {"body", "b"}}, {"channel"}},
    {{{"channel", "webhook"}, {"body", "b"}}, {"to"}},
    {{{"channel", "sms"}, {"to", "12345"}, {"body", "b"}}, {"to"}},
    {{{"channel", "sms"}, {"to", "+0123456789"}, {"body", "b"}}, {"to"}},
    {{{"channel", "sms"}, {"to", "+4915112345678"}, {"body", "b"}, {"subject", "hi"}},
     {"subject"}},
    {{{"channel", "webhook"}, {"to", url}, {"colour", "red"}}, {"colour"}},
    {{{"channel", "webhook"}, {"to", url}, {"send_at", "tomorrow"}}, {"send_at"}},
    {{{"channel", "webhook"}, {"to", url}, {"send_at", "2026-13-01T00:00:00Z"}},
     {"send_at"}},
    {{{"channel", "webhook"}, {"to", "ftp://example.com/x"}}, {"to"}},
    {{{"channel", "email"}, {"to", "not-an-address"}, {"body", "b"}}, {"to"}},
    {{{"channel", "webhook"}, {"to", url}, {"priority", "urgent"}}, {"priority"}},
    // Several at once: every one is named.
    {{{"channel", "sms"},
      {"to", "nope"},
      {"subject", "s"},
      {"body", "b"},
      {"x", 1},
      {"send_at", "later"}},
     {"to", "subject", "x", "send_at"}},
  };
  for (auto& c : cases) {
    auto doc = check_problem(submit(*api, t.key, c.body.dump()), 422,
                             "invalid " + c.body.dump());
    auto fields = error_fields(doc);
    if (fields != c.fields)
      CAF_MESSAGE("for " << c.body.dump() << " expected fields "
                         << join(c.fields) << ", got " << join(fields));
    CAF_CHECK(fields == c.fields);
  }
  // Nothing of the above was stored.
  bool ok = false;
  auto ids = list_all(*api, t.key, "limit=200", ok);
  CAF_CHECK(ok);
  CAF_CHECK_EQUAL(ids.size(), 0u);
}

CAF_TEST(another tenants ids and unknown ids are 404) {
  auto other = create_tenant(node);
  auto mine = submit_ok(*api, t.key, webhook_notification(receiver.url()));
  auto theirs = submit_ok(*api, other.key, webhook_notification(receiver.url()));
  CAF_REQUIRE(!mine.empty() && !theirs.empty());
  int status = 0;
  get_notification(*api, t.key, mine, &status);
  CAF_CHECK_EQUAL(status, 200);
  // Never 403: ids of others do not exist.
  check_problem(api->Get("/v1/notifications/" + theirs, bearer(t.key)), 404,
                "another tenant's notification");
  check_problem(api->Get("/v1/notifications/" + theirs + "/attempts",
                         bearer(t.key)),
                404, "another tenant's attempts");
  check_problem(api->Get("/v1/notifications/" + mine, bearer(other.key)), 404,
                "my notification seen by the other tenant");
  // Unknown and malformed ids.
  for (std::string id : {"0190f0e0-0000-7000-8000-000000000000",
                         "00000000-0000-0000-0000-000000000000", "not-a-uuid",
                         "1", "0190f0e0-0000-7000-8000-00000000000g"}) {
    check_problem(api->Get("/v1/notifications/" + id, bearer(t.key)), 404,
                  "unknown id " + id);
    check_problem(api->Get("/v1/notifications/" + id + "/attempts",
                           bearer(t.key)),
                  404, "attempts of unknown id " + id);
  }
  // Listings show only the tenant's own notifications.
  bool ok = false;
  auto ids = list_all(*api, t.key, "limit=200", ok);
  CAF_CHECK(ok);
  CAF_CHECK(ids == std::vector<std::string>{mine});
  ids = list_all(*api, other.key, "limit=200", ok);
  CAF_CHECK(ok);
  CAF_CHECK(ids == std::vector<std::string>{theirs});
}

CAF_TEST(listing filters and paginates newest first) {
  // Interleaved: webhook (delivered by the receiver) and sms (no provider is
  // configured for sms, so those are dead-lettered at once).
  std::vector<std::string> all;
  std::vector<std::string> webhooks;
  std::vector<std::string> sms;
  for (int i = 0; i < 7; ++i) {
    json body = i % 2 == 0
                  ? webhook_notification(receiver.url(), i)
                  : json{{"channel", "sms"},
                         {"to", "+4915112345678"},
                         {"body", "sms " + std::to_string(i)}};
    auto id = submit_ok(*api, t.key, body);
    CAF_REQUIRE(!id.empty());
    all.push_back(id);
    (i % 2 == 0 ? webhooks : sms).push_back(id);
  }
  for (auto& id : webhooks)
    CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, id, {"delivered"}), "status"),
                    "delivered");
  for (auto& id : sms)
    CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, id, {"failed", "dead_lettered"}),
                        "status"),
                    "dead_lettered");
  auto newest_first = [](std::vector<std::string> xs) {
    std::reverse(xs.begin(), xs.end());
    return xs;
  };
  // All pages of 3: 3 + 3 + 1, no gaps, no duplicates, newest first.
  bool ok = false;
  size_t pages = 0;
  auto ids = list_all(*api, t.key, "limit=3", ok, &pages);
  CAF_CHECK(ok);
  CAF_CHECK(ids == newest_first(all));
  CAF_CHECK_EQUAL(pages, 3u);
  // Page sizes 1 and 200.
  CAF_CHECK(list_all(*api, t.key, "limit=1", ok) == newest_first(all) && ok);
  CAF_CHECK(list_all(*api, t.key, "limit=200", ok) == newest_first(all) && ok);
  // Timestamps agree with the order.
  auto res = api->Get("/v1/notifications?limit=200", bearer(t.key));
  CAF_REQUIRE(res && res->status == 200);
  auto items = body_of(*res)["items"];
  for (size_t i = 1; i < items.size(); ++i)
    CAF_CHECK_GREATER_OR_EQUAL(text_field(items[i - 1], "created_at"),
                               text_field(items[i], "created_at"));
  // Filters, also across pages.
  CAF_CHECK(list_all(*api, t.key, "channel=sms&limit=2", ok) == newest_first(sms)
            && ok);
  CAF_CHECK(list_all(*api, t.key, "channel=webhook&limit=3", ok)
              == newest_first(webhooks)
            && ok);
  CAF_CHECK(list_all(*api, t.key, "status=delivered&limit=2", ok)
              == newest_first(webhooks)
            && ok);
  CAF_CHECK(list_all(*api, t.key, "status=dead_lettered", ok)
              == newest_first(sms)
            && ok);
  CAF_CHECK(list_all(*api, t.key, "status=delivered&channel=sms", ok).empty()
            && ok);
  CAF_CHECK(list_all(*api, t.key, "status=accepted", ok).empty() && ok);
  // Bad parameters: 422 naming the parameter.
  std::vector<std::pair<std::string, std::string>> bad{
    {"status=bogus", "status"}, {"channel=fax", "channel"},
    {"limit=0", "limit"},       {"limit=201", "limit"},
    {"limit=abc", "limit"},     {"limit=-1", "limit"},
    {"cursor=zzz", "cursor"},
  };
  for (auto& [query, field] : bad) {
    auto doc = check_problem(api->Get("/v1/notifications?" + query, bearer(t.key)),
                             422, "list ?" + query);
    CAF_CHECK(error_fields(doc) == std::set<std::string>{field});
  }
}

CAF_TEST(a channel not enabled for the tenant is 422) {
  auto admin = node.admin();
  auto put = admin->Put("/admin/tenants/" + t.id, bearer(admin_token),
                        R"({"channels":["email"]})", "application/json");
  CAF_REQUIRE(put);
  CAF_CHECK_EQUAL(put->status, 200);
  auto updated = body_of(*put);
  CAF_CHECK(!updated.contains("webhook_secret"));
  CAF_CHECK(updated.value("channels", json{}) == json::array({"email"}));
  // Takes effect at once (the key was used and is cached by now).
  auto doc = check_problem(submit(*api, t.key,
                                  webhook_notification(receiver.url()).dump()),
                           422, "webhook on an email-only tenant");
  CAF_CHECK(error_fields(doc) == std::set<std::string>{"channel"});
  CAF_CHECK(!submit_ok(*api, t.key,
                       {{"channel", "email"},
                        {"to", "someone@example.com"},
                        {"subject", "hi"},
                        {"body", "hello"}})
               .empty());
  // An empty list enables every channel again.
  put = admin->Put("/admin/tenants/" + t.id, bearer(admin_token),
                   R"({"channels":[]})", "application/json");
  CAF_REQUIRE(put);
  CAF_CHECK_EQUAL(put->status, 200);
  CAF_CHECK(!submit_ok(*api, t.key, webhook_notification(receiver.url())).empty());
}

// -- 6. a receiver that answers 400 --------------------------------------------

CAF_TEST(a receiver answering 400 dead letters the notification after one attempt) {
  CAF_REQUIRE(set_faults(receiver, {{"fail_rate", 1.0}, {"fail_status", 400}}));
  auto id = submit_ok(*api, t.key, webhook_notification(receiver.url()));
  CAF_REQUIRE(!id.empty());
  // A permanent failure: dead-lettered at once, recorded, not dropped.
  auto n = await_status(*api, t.key, id, {"failed", "dead_lettered"});
  CAF_CHECK_EQUAL(text_field(n, "status"), "dead_lettered");
  CAF_CHECK_EQUAL(int_field(n, "attempts"), 1);
  CAF_CHECK(text_field(n, "last_error").find("400") != std::string::npos);
  auto res = api->Get("/v1/notifications/" + id + "/attempts", bearer(t.key));
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 200);
  auto items = body_of(*res).value("items", json::array());
  CAF_REQUIRE_EQUAL(items.size(), 1u);
  CAF_CHECK_EQUAL(text_field(items[0], "outcome"), "failed");
  CAF_CHECK_EQUAL(int_field(items[0], "http_status"), 400);
  CAF_CHECK(!text_field(items[0], "error").empty());
  CAF_CHECK_EQUAL(text_field(items[0], "provider"), endpoint_of(receiver));
  CAF_CHECK_EQUAL(text_field(items[0], "node"), node.name());
  // A permanent failure is not retried.
  auto s = stats_of(receiver);
  CAF_CHECK_EQUAL(int_field(s, "received"), 1);
  CAF_CHECK_EQUAL(int_field(s, "failed_injected"), 1);
  CAF_CHECK_EQUAL(int_field(s, "delivered"), 0);
  // It is listed under its status.
  bool ok = false;
  CAF_CHECK(list_all(*api, t.key, "status=dead_lettered", ok)
              == std::vector<std::string>{id}
            && ok);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- admin: the live actors ----------------------------------------------------

CAF_TEST_FIXTURE_SCOPE(admin, node_fixture)

CAF_TEST(the admin API lists the live actors with their state) {
  auto admin = node.admin();
  auto denied = admin->Get("/admin/actors");
  CAF_REQUIRE(denied);
  CAF_CHECK_EQUAL(denied->status, 401);
  // One notification, so one transaction of one row on this fresh node.
  CAF_REQUIRE(!submit_ok(*api, t.key, webhook_notification(receiver.url()))
                 .empty());
  auto res = admin->Get("/admin/actors", bearer(admin_token));
  CAF_REQUIRE(res);
  CAF_REQUIRE_EQUAL(res->status, 200);
  auto items = body_of(*res).value("items", json::array());
  std::map<std::string, int> kinds;
  int64_t inserts = 0;
  int64_t rows = 0;
  for (auto& a : items) {
    auto st = a.value("state", json{});
    if (a.contains("error") || !st.is_object())
      CAF_MESSAGE("an actor without its state: " << a.dump());
    CAF_CHECK(!a.contains("error"));
    CAF_CHECK(st.is_object());
    CAF_CHECK(a.value("id", 0) > 0);
    CAF_CHECK_EQUAL(text_field(a, "node"), node.name());
    auto kind = text_field(a, "kind");
    ++kinds[kind];
    if (kind == "store-worker") {
      inserts += int_field(st, "inserts");
      rows += int_field(st, "insert_rows");
      CAF_CHECK(int_field(st, "insert_max_us") >= 0);
      CAF_CHECK(int_field(st, "insert_us") >= int_field(st, "insert_max_us"));
    }
    if (kind == "writer") {
      CAF_CHECK_EQUAL(int_field(st, "commits"), 1);
      CAF_CHECK_EQUAL(int_field(st, "rows"), 1);
    }
  }
  for (auto kind : {"node-supervisor", "store", "writer", "dispatcher", "auth",
                    "limiter-registry", "janitor"}) {
    if (kinds[kind] != 1)
      CAF_MESSAGE(kind << " is listed " << kinds[kind] << " times");
    CAF_CHECK_EQUAL(kinds[kind], 1);
  }
  CAF_CHECK(kinds["idempotency-guard"] >= 1);
  CAF_CHECK_EQUAL(kinds["ingest"], 4); // herald.api.ingest-actors
  // Children reported by their parents are listed too: the dispatcher's
  // pool and retry scheduler, the tenant's rate limiter (the submission
  // above started it).
  CAF_CHECK_EQUAL(kinds["sender-pool"], 1);
  CAF_CHECK_EQUAL(kinds["retry-scheduler"], 1);
  CAF_CHECK_EQUAL(kinds["rate-limiter"], 1);
  CAF_CHECK(kinds["store-worker"] >= 2); // readers and the writer's
  CAF_CHECK_EQUAL(inserts, 1);
  CAF_CHECK_EQUAL(rows, 1);
}

CAF_TEST_FIXTURE_SCOPE_END()

// -- 2b. roles -------------------------------------------------------------------

CAF_TEST(an ingest only node stores and a worker only node delivers) {
  // Two nodes on one database: the first takes submissions and delivers
  // nothing (no dispatcher: rows are stored unleased), the second takes no
  // submissions and claims the rows with its sweeper.
  auto in_opts = default_options("e2e-in-" + random_suffix());
  in_opts["herald.node.roles"] = R"(["ingest"])";
  herald_node ingest_node{in_opts};
  CAF_REQUIRE(started(ingest_node));
  auto t = create_tenant(ingest_node);
  fake_provider receiver;
  CAF_REQUIRE(receiver.ok());
  auto api = ingest_node.api();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(submit_ok(*api, t.key, webhook_notification(receiver.url(), i)));
    CAF_REQUIRE(!ids.back().empty());
  }
  auto admin = ingest_node.admin();
  auto breakers = admin->Get("/admin/breakers", bearer(admin_token));
  CAF_REQUIRE(breakers);
  CAF_CHECK_EQUAL(breakers->status, 200);
  CAF_CHECK_EQUAL(body_of(*breakers).value("items", json::array()).size(), 0u);
  auto actors = admin->Get("/admin/actors", bearer(admin_token));
  CAF_REQUIRE(actors && actors->status == 200);
  for (auto& a : body_of(*actors).value("items", json::array()))
    CAF_CHECK_NOT_EQUAL(text_field(a, "kind"), "dispatcher");
  // Nothing is delivered while no worker runs.
  for (auto& id : ids)
    CAF_CHECK_EQUAL(text_field(get_notification(*api, t.key, id), "status"), "accepted");
  CAF_CHECK_EQUAL(int_field(stats_of(receiver), "received"), 0);

  auto work_opts = default_options("e2e-work-" + random_suffix());
  work_opts["herald.node.roles"] = R"(["worker"])";
  herald_node worker_node{work_opts};
  CAF_REQUIRE(started(worker_node));
  auto worker_api = worker_node.api();
  auto refused = submit(*worker_api, t.key,
                        webhook_notification(receiver.url()).dump());
  CAF_REQUIRE(refused);
  CAF_CHECK_EQUAL(refused->status, 503);
  for (auto& id : ids) {
    auto n = await_status(*api, t.key, id, {"delivered"});
    CAF_CHECK_EQUAL(text_field(n, "status"), "delivered");
  }
  CAF_CHECK_EQUAL(int_field(stats_of(receiver), "delivered"), 3);
  api.reset();
  worker_api.reset();
  CAF_CHECK_EQUAL(worker_node.stop(), 0);
  CAF_CHECK_EQUAL(ingest_node.stop(), 0);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
}

// -- 3. config errors -----------------------------------------------------------

namespace {

/// Starts herald with `opts` (+ `args`) and expects it to exit non-zero
/// quickly, naming `option` on stderr without ever listening.
void expect_config_error(const option_map& opts, std::vector<std::string> args,
                         const std::string& option, const std::string& what) {
  auto path = write_file("bad-" + random_suffix() + ".ini", render_ini(opts));
  args.insert(args.begin(), "--config-file=" + path);
  child_process proc{HERALD_BINARY, args};
  auto rc = proc.wait_exit(10s);
  auto err = proc.stderr_text();
  bool ok = rc > 0 && rc < 128 && err.find(option) != std::string::npos
            && proc.stdout_text().find("listening") == std::string::npos;
  if (!ok)
    CAF_MESSAGE(what << ": exit code " << rc << ", stderr: " << err
                     << ", stdout: " << proc.stdout_text());
  CAF_CHECK_GREATER(rc, 0);
  CAF_CHECK_LESS(rc, 128); // an exit, not a crash (or -1: still running)
  CAF_CHECK(err.find(option) != std::string::npos);
}

} // namespace

CAF_TEST(config errors stop the node naming the option) {
  auto base = default_options("e2e-" + random_suffix());
  {
    auto opts = base;
    opts["herald.api.bogus"] = "1";
    expect_config_error(opts, {}, "herald.api.bogus", "unknown key in the file");
  }
  {
    auto opts = base;
    opts["herald.bogus.thing"] = quote("x");
    expect_config_error(opts, {}, "herald.bogus.thing",
                        "unknown section in the file");
  }
  {
    auto opts = base;
    opts["herald.api.port"] = quote("abc");
    expect_config_error(opts, {}, "herald.api.port", "string for a port");
  }
  {
    auto opts = base;
    opts["herald.api.request-timeout"] = "3";
    expect_config_error(opts, {}, "herald.api.request-timeout",
                        "duration without a unit");
  }
  {
    auto opts = base;
    opts["herald.delivery.queue-capacity"] = quote("many");
    expect_config_error(opts, {}, "herald.delivery.queue-capacity",
                        "string for an integer");
  }
  {
    auto opts = base;
    opts["herald.db.url"] = "42";
    expect_config_error(opts, {}, "herald.db.url", "integer for a string");
  }
  {
    auto opts = base;
    opts.erase("herald.db.url");
    expect_config_error(opts, {}, "herald.db.url", "no database configured");
  }
  expect_config_error(base, {"--herald.api.nope=1"}, "herald.api.nope",
                      "unknown option on the command line");
  expect_config_error(base, {"--herald.api.port=abc"}, "herald.api.port",
                      "bad value on the command line");
  {
    // The help names the options too and exits 0.
    child_process proc{HERALD_BINARY, {"--help"}};
    CAF_CHECK_EQUAL(proc.wait_exit(10s), 0);
    auto out = proc.stdout_text();
    CAF_CHECK(out.find("herald.db.url") != std::string::npos);
    CAF_CHECK(out.find("herald.api.max-body-bytes") != std::string::npos);
  }
}

// -- 4. stop and crash -----------------------------------------------------------

CAF_TEST(a TERM signal stops an idle node with exit 0 within a few seconds) {
  herald_node node{default_options("e2e-" + random_suffix())};
  CAF_REQUIRE(started(node));
  auto t = create_tenant(node);
  fake_provider receiver;
  CAF_REQUIRE(receiver.ok());
  {
    auto api = node.api();
    auto id = submit_ok(*api, t.key, webhook_notification(receiver.url()));
    CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, id, {"delivered"}), "status"),
                    "delivered");
  }
  auto start = steady_clock::now();
  CAF_CHECK_EQUAL(node.stop(), 0);
  auto took = duration_cast<milliseconds>(steady_clock::now() - start);
  CAF_MESSAGE("idle node stopped in " << took.count() << " ms");
  CAF_CHECK_LESS(took.count(), 5000);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
}

CAF_TEST(a TERM signal stops a node with an idle client connection within a few seconds) {
  // A client (or load balancer) that keeps its connection open between
  // requests must not hold up a shutdown.
  herald_node node{default_options("e2e-" + random_suffix())};
  CAF_REQUIRE(started(node));
  auto t = create_tenant(node);
  auto api = node.api();
  api->set_keep_alive(true);
  int status = 0;
  get_notification(*api, t.key, "0190f0e0-0000-7000-8000-000000000000", &status);
  CAF_CHECK_EQUAL(status, 404);
  // Idle means: no request for a while. (A TERM that arrives while the
  // server still finishes the answer is noticed at once; one that arrives
  // while the connection waits for its next request is the case here.)
  std::this_thread::sleep_for(300ms);
  auto start = steady_clock::now();
  auto rc = node.stop(40s);
  auto took = duration_cast<milliseconds>(steady_clock::now() - start);
  CAF_MESSAGE("node with an idle keep-alive client stopped in " << took.count()
                                                                << " ms");
  CAF_CHECK_EQUAL(rc, 0);
  CAF_CHECK_LESS(took.count(), 5000);
}

CAF_TEST(notifications accepted before a KILL signal are all delivered after a restart) {
  // A fixed node name: the restarted node takes its own leases back at once.
  auto opts = default_options("e2e-kill-" + random_suffix());
  opts["herald.channels.webhook.pool-size"] = "4";
  auto node = std::make_unique<herald_node>(opts);
  CAF_REQUIRE(started(*node));
  auto t = create_tenant(*node);
  fake_provider receiver;
  CAF_REQUIRE(receiver.ok());
  // Slow deliveries (4 senders, 200 ms each): work piles up in memory and
  // in flight.
  CAF_REQUIRE(set_faults(receiver, {{"latency_ms", 200}}));
  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::vector<std::string> accepted;
  std::atomic<int> other_answers{0};
  std::vector<std::thread> clients;
  auto url = receiver.url();
  auto port = node->api_port;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto api = make_client(port, 10s);
      api->set_keep_alive(true);
      for (int i = 0; !stop; ++i) {
        auto r = submit(*api, t.key, webhook_notification(url, c * 100000 + i).dump());
        if (r && r->status == 202) {
          auto id = text_field(body_of(*r), "id");
          std::lock_guard<std::mutex> guard{mtx};
          accepted.push_back(id);
        } else {
          if (r)
            ++other_answers;
          // The node is gone: wait for the test to notice.
          std::this_thread::sleep_for(10ms);
        }
      }
    });
  }
  auto count = [&] {
    std::lock_guard<std::mutex> guard{mtx};
    return accepted.size();
  };
  CAF_CHECK(eventually([&] { return count() >= 400; }, 30s));
  node->proc().kill_hard(); // SIGKILL, in the middle of the load
  stop = true;
  for (auto& th : clients)
    th.join();
  auto ids = accepted;
  auto in_receiver = int_field(stats_of(receiver), "unique");
  CAF_MESSAGE(ids.size() << " notifications accepted before SIGKILL, "
                         << in_receiver << " of them at the receiver by then");
  CAF_CHECK_EQUAL(other_answers.load(), 0);
  CAF_CHECK_LESS(in_receiver, static_cast<int64_t>(ids.size()));
  CAF_REQUIRE(set_faults(receiver, {{"latency_ms", 0}}));
  node = std::make_unique<herald_node>(opts);
  CAF_REQUIRE(started(*node));
  auto api = node->api();
  size_t missing = 0;
  auto deadline = steady_clock::now() + 60s;
  for (auto& id : ids) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    auto n = await_status(*api, t.key, id, {"delivered"},
                          std::max(left, milliseconds(100)));
    if (text_field(n, "status") != "delivered")
      ++missing;
  }
  CAF_CHECK_EQUAL(missing, 0u);
  auto s = stats_of(receiver, true);
  auto seen = s.value("ids", json::object());
  size_t not_received = 0;
  for (auto& id : ids)
    not_received += seen.contains(id) ? 0 : 1;
  CAF_CHECK_EQUAL(not_received, 0u);
  CAF_CHECK_EQUAL(int_field(s, "bad_signature"), 0);
  CAF_MESSAGE("after the restart: " << int_field(s, "unique") << " unique ids and "
                                    << int_field(s, "duplicates")
                                    << " duplicate deliveries at the receiver "
                                       "(redeliveries of work in flight at "
                                       "the crash)");
  api.reset();
  CAF_CHECK_EQUAL(node->stop(), 0);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
}

// -- 5. database outage under load ------------------------------------------------

namespace {

// Restarting PostgreSQL if the test binary aborts (a failed CAF_REQUIRE)
// while it is stopped: later suites and runs need it.
std::atomic<bool> pg_down{false};
std::vector<std::string> pg_start_args;
std::vector<char*> pg_start_argv;

extern "C" void restart_pg_on_abort(int) {
  if (!pg_down.load())
    return;
  auto pid = ::fork();
  if (pid == 0) {
    ::execve("/bin/bash", pg_start_argv.data(), environ);
    ::_exit(127);
  }
  if (pid > 0)
    ::waitpid(pid, nullptr, 0);
}

struct pg_control {
  std::string script = std::string{HERALD_SOURCE_DIR} + "/scripts/pg.sh";
  std::string dir;
  std::string port;

  pg_control() {
    dir = required_env("HERALD_TEST_PG_DIR",
                       "the database outage test stops and restarts the "
                       "PostgreSQL server of HERALD_TEST_DB_URL");
    port = required_env("HERALD_TEST_PG_PORT",
                        "the database outage test restarts PostgreSQL on it");
    pg_start_args = {"bash", script, "start", dir, port};
    pg_start_argv.clear();
    for (auto& a : pg_start_args)
      pg_start_argv.push_back(a.data());
    pg_start_argv.push_back(nullptr);
    struct sigaction sa {};
    sa.sa_handler = restart_pg_on_abort;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGABRT, &sa, nullptr);
  }

  ~pg_control() {
    if (pg_down)
      start();
  }

  bool stop() {
    pg_down = true;
    auto res = herald::test::run_command("/bin/bash", {script, "stop", dir}, 60s);
    if (res.exit_code != 0)
      CAF_MESSAGE("pg.sh stop: " << res.exit_code << " " << res.output);
    return res.exit_code == 0;
  }

  bool start() {
    auto res = herald::test::run_command("/bin/bash",
                                         {script, "start", dir, port}, 90s);
    if (res.exit_code != 0) {
      CAF_MESSAGE("pg.sh start: " << res.exit_code << " " << res.output);
      return false;
    }
    pg_down = false;
    return true;
  }
};

struct outcome {
  int status = 0; // 0 = no answer (transport error or client timeout)
  std::string id;
  std::string retry_after;
  std::string media_type;
  std::string body;
  steady_clock::time_point started;
  milliseconds took{0};
};

} // namespace

CAF_TEST(a database outage gives 503 and loses nothing acknowledged) {
  pg_control pg;
  herald_node node{default_options("e2e-outage-" + random_suffix())};
  CAF_REQUIRE(started(node));
  auto t = create_tenant(node);
  fake_provider receiver;
  CAF_REQUIRE(receiver.ok());
  constexpr auto request_timeout = 3s; // herald.api.request-timeout
  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::vector<outcome> outcomes;
  std::vector<std::thread> clients;
  auto url = receiver.url();
  auto port = node.api_port;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      // The client waits well beyond the node's own limit: a request that
      // takes longer than that is a hang.
      auto api = make_client(port, request_timeout + 5s);
      api->set_keep_alive(true);
      for (int i = 0; !stop; ++i) {
        outcome o;
        o.started = steady_clock::now();
        auto r = submit(*api, t.key, webhook_notification(url, c * 100000 + i).dump());
        o.took = duration_cast<milliseconds>(steady_clock::now() - o.started);
        if (r) {
          o.status = r->status;
          o.retry_after = r->get_header_value("Retry-After");
          o.media_type = media_type(*r);
          if (r->status == 202)
            o.id = text_field(body_of(*r), "id");
          else
            o.body = r->body;
        }
        {
          std::lock_guard<std::mutex> guard{mtx};
          outcomes.push_back(std::move(o));
        }
        std::this_thread::sleep_for(5ms);
      }
    });
  }
  auto count_if = [&](auto pred) {
    std::lock_guard<std::mutex> guard{mtx};
    return std::count_if(outcomes.begin(), outcomes.end(), pred);
  };
  auto ready_status = [&] {
    auto c = node.api(5s);
    auto r = c->Get("/ready");
    return r ? r->status : 0;
  };
  CAF_CHECK_EQUAL(ready_status(), 200);
  CAF_CHECK(eventually([&] {
    return count_if([](const outcome& o) { return o.status == 202; }) >= 50;
  }, 20s));
  // Outage.
  CAF_CHECK(pg.stop());
  auto stopped_at = steady_clock::now();
  CAF_CHECK(eventually([&] {
    return count_if([&](const outcome& o) {
      return o.status == 503 && o.started > stopped_at;
    }) >= 5;
  }, 15s));
  CAF_CHECK(eventually([&] { return ready_status() == 503; }, 15s));
  // Keep it down a little longer under load.
  std::this_thread::sleep_for(2s);
  auto failed_during = count_if([](const outcome& o) { return o.status == 503; });
  // Recovery, without restarting the node.
  CAF_CHECK(pg.start());
  auto restarted_at = steady_clock::now();
  auto recovered = eventually([&] {
    return count_if([&](const outcome& o) {
      return o.status == 202 && o.started > restarted_at;
    }) >= 20;
  }, 30s);
  CAF_CHECK(recovered);
  CAF_CHECK(eventually([&] { return ready_status() == 200; }, 15s));
  auto recovered_in = duration_cast<milliseconds>(steady_clock::now()
                                                   - restarted_at);
  stop = true;
  for (auto& th : clients)
    th.join();
  // Every answer was 202 or a 503 with Retry-After, in time.
  size_t accepted = 0;
  size_t unavailable = 0;
  size_t wrong = 0;
  milliseconds slowest{0};
  std::vector<std::string> ids;
  for (auto& o : outcomes) {
    slowest = std::max(slowest, o.took);
    if (o.status == 202 && o.id.size() == 36) {
      ++accepted;
      ids.push_back(o.id);
    } else if (o.status == 503 && !o.retry_after.empty()
               && o.media_type == "application/problem+json") {
      ++unavailable;
    } else {
      if (++wrong <= 5)
        CAF_MESSAGE("unexpected answer after "
                    << o.took.count() << " ms: status " << o.status
                    << " (0 = none), Retry-After '" << o.retry_after << "', "
                    << o.media_type << " " << o.body);
    }
  }
  CAF_MESSAGE(outcomes.size() << " submissions: " << accepted << " accepted, "
                              << unavailable << " 503, " << wrong
                              << " other; slowest " << slowest.count()
                              << " ms; " << failed_during
                              << " 503 before the restart; recovered "
                              << recovered_in.count()
                              << " ms after the restart");
  CAF_CHECK_EQUAL(wrong, 0u);
  CAF_CHECK_GREATER(unavailable, 0u);
  CAF_CHECK_LESS(slowest.count(), (request_timeout + 1500ms).count());
  // Nothing acknowledged is lost: every 202 is in the database...
  auto api = node.api();
  size_t lost = 0;
  for (auto& id : ids) {
    int status = 0;
    get_notification(*api, t.key, id, &status);
    if (status != 200 && ++lost <= 5)
      CAF_MESSAGE("accepted notification " << id << ": GET answered " << status);
  }
  CAF_CHECK_EQUAL(lost, 0u);
  // ... and is delivered in the end.
  size_t undelivered = 0;
  auto deadline = steady_clock::now() + 40s;
  for (auto& id : ids) {
    auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    auto n = await_status(*api, t.key, id, {"delivered"},
                          std::max(left, milliseconds(100)));
    undelivered += text_field(n, "status") == "delivered" ? 0 : 1;
  }
  CAF_CHECK_EQUAL(undelivered, 0u);
  api.reset();
  CAF_CHECK_EQUAL(node.stop(), 0);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
}

// -- 8. what an operator sees: metrics, logs, correlation ids, secrets --------

namespace {

/// GET /metrics with the admin token; "" on failure.
std::string scrape(const herald_node& node) {
  auto admin = node.admin();
  auto res = admin->Get("/metrics", bearer(admin_token));
  if (!res || res->status != 200) {
    CAF_MESSAGE("GET /metrics: " << describe(res));
    return {};
  }
  return res->body;
}

/// The value of the sample `series` (name with its labels, as rendered) in
/// a scrape; -1 if it is not there.
double sample_of(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::atof(text.c_str() + at + series.size() + 2);
}

/// Every line of `text` that is not a JSON object with the fields of
/// core/log.hpp (at most 5, for the message).
std::vector<std::string> non_json_lines(const std::string& text,
                                        const std::string& node) {
  std::vector<std::string> bad;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    auto line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty())
      continue;
    auto j = json::parse(line, nullptr, false);
    bool ok = j.is_object() && j.value("node", "") == node
              && !j.value("ts", "").empty() && !j.value("level", "").empty()
              && !j.value("actor", "").empty() && j.contains("msg");
    if (!ok && bad.size() < 5)
      bad.push_back(line);
  }
  return bad;
}

/// The first log line (parsed) whose message contains `part`; null if none.
json log_entry(const std::string& text, const std::string& part) {
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos)
      nl = text.size();
    auto j = json::parse(text.substr(pos, nl - pos), nullptr, false);
    pos = nl + 1;
    if (j.is_object() && j.value("msg", "").find(part) != std::string::npos)
      return j;
  }
  return nullptr;
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(observability, node_fixture)

CAF_TEST(metrics are valid Prometheus text and count what happened) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(submit_ok(*api, t.key, webhook_notification(receiver.url(), i)));
  // No email provider is configured: dead-lettered at once.
  auto dead = submit_ok(*api, t.key,
                        {{"channel", "email"}, {"to", "a@example.com"},
                         {"subject", "s"}, {"body", "b"}});
  for (auto& id : ids)
    CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, id, {"delivered"}),
                               "status"), "delivered");
  CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, dead, {"dead_lettered"}),
                             "status"), "dead_lettered");
  // The figures follow the outcomes (recorded in batches): await them.
  std::string text;
  auto tl = "tenant=\"" + t.id + "\"";
  CAF_CHECK(eventually(
    [&] {
      text = scrape(node);
      return sample_of(text, "herald_notifications_delivered_total{" + tl
                               + ",channel=\"webhook\"}") == 3
             && sample_of(text, "herald_notifications_dead_lettered_total{" + tl
                                  + ",channel=\"email\"}") == 1;
    },
    10s, 50ms));
  CAF_CHECK_EQUAL(sample_of(text, "herald_notifications_accepted_total{" + tl
                                    + ",channel=\"webhook\"}"), 3);
  CAF_CHECK_EQUAL(sample_of(text, "herald_notifications_accepted_total{" + tl
                                    + ",channel=\"email\"}"), 1);
  CAF_CHECK_EQUAL(sample_of(text, "herald_http_requests_total{server=\"api\","
                                  "route=\"/v1/notifications\",method=\"POST\","
                                  "status=\"202\"}"), 4);
  auto provider = endpoint_of(receiver);
  CAF_CHECK_EQUAL(sample_of(text, "herald_provider_attempts_total{channel=\"webhook\","
                                  "provider=\"" + provider
                                    + "\",outcome=\"delivered\"}"), 3);
  CAF_CHECK_EQUAL(sample_of(text, "herald_breaker_state{channel=\"webhook\","
                                  "provider=\"" + provider + "\"}"), 0);
  CAF_CHECK_GREATER_OR_EQUAL(sample_of(text, "herald_commit_batch_rows_count"), 1);
  CAF_CHECK_EQUAL(sample_of(text, "herald_cluster_members_up"), 1);
  CAF_CHECK_GREATER_OR_EQUAL(sample_of(text, "herald_pool_jobs{pool=\"webhook\"}"), 0);
  // Label values are bounded: no notification id is one.
  for (auto& id : ids)
    CAF_CHECK_EQUAL(text.find(id), std::string::npos);
  // promtool (Debian's prometheus) accepts the exposition.
  auto file = write_file("metrics-" + random_suffix() + ".txt", text);
  auto check = herald::test::run_command(
    "/bin/sh", {"-c", "promtool check metrics < '" + file + "'"}, 30s);
  if (check.exit_code != 0)
    CAF_MESSAGE("promtool check metrics: " << check.output);
  CAF_CHECK_EQUAL(check.exit_code, 0);
  // Without the admin token: 401, like every admin path.
  auto admin = node.admin();
  auto res = admin->Get("/metrics");
  CAF_REQUIRE(res);
  CAF_CHECK_EQUAL(res->status, 401);
}

CAF_TEST(the correlation id travels from the request to the webhook) {
  auto rid = "e2e-corr-" + random_suffix();
  httplib::Headers h = bearer(t.key);
  h.emplace("X-Request-Id", rid);
  auto res = api->Post("/v1/notifications", h,
                       webhook_notification(receiver.url(), 1).dump(),
                       "application/json");
  CAF_REQUIRE(res);
  CAF_REQUIRE_EQUAL(res->status, 202);
  CAF_CHECK_EQUAL(res->get_header_value("X-Request-Id"), rid);
  auto id = text_field(body_of(*res), "id");
  auto n = await_status(*api, t.key, id, {"delivered"});
  CAF_CHECK_EQUAL(text_field(n, "request_id"), rid);
  auto s = stats_of(receiver, true);
  CAF_CHECK_EQUAL(s.value("request_ids", json::object()).value(id, ""), rid);
  // Without one, the node makes one up, answers and stores it.
  auto res2 = submit(*api, t.key, webhook_notification(receiver.url(), 2).dump());
  CAF_REQUIRE(res2);
  auto made = res2->get_header_value("X-Request-Id");
  CAF_CHECK_EQUAL(made.rfind("req_", 0), 0u);
  auto id2 = text_field(body_of(*res2), "id");
  CAF_CHECK_EQUAL(text_field(await_status(*api, t.key, id2, {"delivered"}),
                             "request_id"), made);
  // An id that could break a log line or a header is replaced.
  httplib::Headers bad = bearer(t.key);
  bad.emplace("X-Request-Id", "has spaces \"and quotes\"");
  auto res3 = api->Post("/v1/notifications", bad,
                        webhook_notification(receiver.url(), 3).dump(),
                        "application/json");
  CAF_REQUIRE(res3);
  CAF_CHECK_EQUAL(res3->get_header_value("X-Request-Id").rfind("req_", 0), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(logs are JSON lines that carry the correlation id and never a secret) {
  // A password in the database URL (trust auth ignores it) and debug logs:
  // the most a node ever writes.
  auto opts = default_options("e2e-" + random_suffix());
  auto password = "pw-" + random_suffix();
  auto url = db_url();
  auto scheme = url.find("://");
  auto at = url.find('@');
  CAF_REQUIRE(scheme != std::string::npos && at != std::string::npos);
  url = url.substr(0, at) + ":" + password + url.substr(at);
  opts["herald.db.url"] = quote(url);
  opts["herald.log.level"] = quote("debug");
  herald_node node{opts};
  fake_provider receiver;
  CAF_REQUIRE(receiver.ok());
  CAF_REQUIRE(started(node));
  auto t = create_tenant(node);
  auto api = node.api();
  std::vector<std::string> bodies; // every answer a client or operator saw
  auto keep = [&](const httplib::Result& r) {
    if (r)
      bodies.push_back(r->body);
  };
  // Work of every kind: delivered, dead-lettered (permanent 400) and refused.
  auto ok_id = submit_ok(*api, t.key, webhook_notification(receiver.url(), 1));
  await_status(*api, t.key, ok_id, {"delivered"});
  CAF_REQUIRE(set_faults(receiver, {{"fail_rate", 1.0}, {"fail_status", 400}}));
  auto rid = "e2e-dead-" + random_suffix();
  httplib::Headers h = bearer(t.key);
  h.emplace("X-Request-Id", rid);
  auto res = api->Post("/v1/notifications", h,
                       webhook_notification(receiver.url(), 2).dump(),
                       "application/json");
  CAF_REQUIRE(res && res->status == 202);
  auto dead_id = text_field(body_of(*res), "id");
  await_status(*api, t.key, dead_id, {"dead_lettered"});
  CAF_REQUIRE(set_faults(receiver, {{"fail_rate", 0.0}}));
  auto wrong_key = "hk_" + random_suffix() + random_suffix();
  keep(submit(*api, wrong_key, webhook_notification(receiver.url(), 3).dump()));
  keep(submit(*api, t.key, "{not json"));
  auto admin = node.admin();
  auto wrong_token = "admin-guess-" + random_suffix();
  keep(admin->Get("/admin/actors", bearer(wrong_token)));
  keep(admin->Get("/admin/actors", bearer(admin_token)));
  keep(admin->Get("/admin/tenants/" + t.id, bearer(admin_token)));
  keep(admin->Get("/admin/dlq", bearer(admin_token)));
  keep(admin->Get("/admin/stats", bearer(admin_token)));
  keep(admin->Get("/metrics", bearer(admin_token)));
  keep(api->Get("/v1/notifications/" + dead_id, bearer(t.key)));
  keep(api->Get("/v1/dlq/" + dead_id, bearer(t.key)));
  api.reset();
  admin.reset();
  CAF_CHECK_EQUAL(node.stop(), 0);
  CAF_CHECK_EQUAL(receiver.terminate(), 0);
  auto err = node.proc().stderr_text();
  auto out = node.proc().stdout_text();
  // 1. One JSON object per line, with this node's name.
  auto bad = non_json_lines(err, node.name());
  for (auto& line : bad)
    CAF_MESSAGE("not a JSON log line: " << line);
  CAF_CHECK(bad.empty());
  CAF_CHECK_GREATER(std::count(err.begin(), err.end(), '\n'), 5);
  // 2. The dead letter's attempt names the request that submitted it.
  auto entry = log_entry(err, "attempt of " + dead_id);
  CAF_CHECK_EQUAL(entry.value("request_id", ""), rid);
  CAF_CHECK_EQUAL(entry.value("actor", ""), "dispatcher");
  // 3. No secret in a log line or an answer (the tenant's webhook secret
  //    is shown once, in the answer that created it, which is not kept).
  std::vector<std::pair<std::string, std::string>> secrets{
    {"admin token", admin_token}, {"wrong admin token", wrong_token},
    {"API key", t.key},           {"wrong API key", wrong_key},
    {"webhook secret", t.secret}, {"database password", password}};
  for (auto& [what, secret] : secrets) {
    CAF_CHECK_EQUAL(err.find(secret), std::string::npos);
    CAF_CHECK_EQUAL(out.find(secret), std::string::npos);
    for (auto& b : bodies)
      if (b.find(secret) != std::string::npos)
        CAF_FAIL("the " << what << " appears in an answer: " << b);
    if (err.find(secret) != std::string::npos)
      CAF_MESSAGE("the " << what << " appears in the log");
  }
}

// -- 9. templates ------------------------------------------------------------------

namespace {

json welcome_template(const std::string& code) {
  json locales{
    {"en", {{"email", {{"subject", "Welcome, {{name}}!"},
                       {"text", "Hi {{name}}{{#vip}} (VIP){{/vip}}"},
                       {"html", "<p>Hi {{name}}</p>"}}},
            {"webhook", {{"body", "Hi {{name}}"}}}}},
    {"pt", {{"webhook", {{"body", "Olá {{name}}"}}}}}};
  json j{{"default_locale", "en"}, {"locales", locales}};
  if (!code.empty())
    j["code"] = code;
  return j;
}

httplib::Result post_json(httplib::Client& c, const std::string& key,
                          const std::string& path, const json& body) {
  return c.Post(path, bearer(key), body.dump(), "application/json");
}

} // namespace

CAF_TEST_FIXTURE_SCOPE(templates, node_fixture)

CAF_TEST(templates are created versioned listed read and archived) {
  auto code = "welcome-" + random_suffix().substr(0, 8);
  auto r = post_json(*api, t.key, "/v1/templates", welcome_template(code));
  CAF_REQUIRE(r);
  CAF_CHECK_EQUAL(r->status, 201);
  CAF_CHECK_EQUAL(body_of(*r).value("version", 0), 1);
  CAF_CHECK_EQUAL(r->get_header_value("Location"), "/v1/templates/" + code + "?version=1");
  // The same code again: 409; a new version is published instead.
  check_problem(post_json(*api, t.key, "/v1/templates", welcome_template(code)), 409,
                "duplicate code");
  auto v2 = welcome_template("");
  v2["locales"]["en"]["webhook"]["body"] = "Hello {{name}}";
  auto p = post_json(*api, t.key, "/v1/templates/" + code + "/versions", v2);
  CAF_REQUIRE(p);
  CAF_CHECK_EQUAL(p->status, 201);
  CAF_CHECK_EQUAL(body_of(*p).value("version", 0), 2);
  auto latest = body_of(*api->Get("/v1/templates/" + code, bearer(t.key)));
  CAF_CHECK_EQUAL(latest.value("version", 0), 2);
  CAF_CHECK_EQUAL(latest["locales"]["en"]["webhook"]["body"], "Hello {{name}}");
  auto first = body_of(*api->Get("/v1/templates/" + code + "?version=1", bearer(t.key)));
  CAF_CHECK_EQUAL(first.value("version", 0), 1);
  CAF_CHECK_EQUAL(first["locales"]["en"]["webhook"]["body"], "Hi {{name}}");
  CAF_CHECK_EQUAL(first.value("latest_version", 0), 2);
  check_problem(api->Get("/v1/templates/" + code + "?version=9", bearer(t.key)), 404,
                "unknown version");
  check_problem(api->Get("/v1/templates/" + code + "?version=x", bearer(t.key)), 422,
                "bad version");
  auto list = body_of(*api->Get("/v1/templates?limit=200", bearer(t.key)));
  bool listed = false;
  for (auto& x : list.value("items", json::array()))
    listed = listed || (x.value("code", "") == code && x.value("version", 0) == 2);
  CAF_CHECK(listed);
  // Another tenant sees none of it.
  auto other = create_tenant(node);
  check_problem(api->Get("/v1/templates/" + code, bearer(other.key)), 404,
                "another tenant's template");
  check_problem(post_json(*api, other.key, "/v1/templates/" + code + "/versions", v2),
                404, "publishing another tenant's template");
  check_problem(api->Delete("/v1/templates/" + code, bearer(other.key)), 404,
                "archiving another tenant's template");
  auto as_other = submit(*api, other.key,
                         json{{"channel", "webhook"}, {"to", receiver.url()},
                              {"template", code}, {"variables", {{"name", "x"}}}}
                           .dump());
  auto doc = check_problem(as_other, 422, "another tenant's template at submit");
  CAF_CHECK_EQUAL(join(error_fields(doc)), "template");
  // Archived: gone for reads and submissions.
  auto del = api->Delete("/v1/templates/" + code, bearer(t.key));
  CAF_REQUIRE(del);
  CAF_CHECK_EQUAL(del->status, 200);
  check_problem(api->Get("/v1/templates/" + code, bearer(t.key)), 404, "archived");
  check_problem(api->Delete("/v1/templates/" + code, bearer(t.key)), 404,
                "archived twice");
}

CAF_TEST(a template that does not parse is refused with the part line and column) {
  auto bad = welcome_template("broken-" + random_suffix().substr(0, 8));
  bad["locales"]["en"]["email"]["text"] = "line one\nHi {{#name}} there";
  bad["locales"]["en"]["fax"] = {{"body", "x"}};
  auto doc = check_problem(post_json(*api, t.key, "/v1/templates", bad), 422,
                           "unparsable template");
  CAF_CHECK_EQUAL(join(error_fields(doc)), "locales.en.email.text,locales.en.fax");
  bool located = false;
  for (auto& e : doc.value("errors", json::array()))
    located = located
              || e.value("message", "").find("line 2, column 4") != std::string::npos;
  CAF_CHECK(located);
  auto no_default = welcome_template("nodefault-" + random_suffix().substr(0, 8));
  no_default["default_locale"] = "de";
  doc = check_problem(post_json(*api, t.key, "/v1/templates", no_default), 422,
                      "default locale without parts");
  CAF_CHECK_EQUAL(join(error_fields(doc)), "default_locale");
}

CAF_TEST(template submissions are rendered at submit or refused naming what is missing) {
  auto code = "render-" + random_suffix().substr(0, 8);
  CAF_REQUIRE_EQUAL(post_json(*api, t.key, "/v1/templates", welcome_template(code))->status,
                    201);
  auto send = [&](json extra) {
    json j{{"channel", "webhook"}, {"to", receiver.url()}, {"template", code}};
    for (auto& [k, v] : extra.items())
      j[k] = v;
    return submit(*api, t.key, j.dump());
  };
  // Locale fallback pt-BR → pt, delivered with the rendered body.
  auto ok = send({{"locale", "pt-BR"}, {"variables", {{"name", "Ana & <Bo>"}}}});
  CAF_REQUIRE(ok);
  CAF_REQUIRE_EQUAL(ok->status, 202);
  auto n = await_status(*api, t.key, text_field(body_of(*ok), "id"), {"delivered"});
  CAF_CHECK_EQUAL(text_field(n, "body"), "Olá Ana & <Bo>");
  CAF_CHECK_EQUAL(text_field(n, "template"), code);
  CAF_CHECK_EQUAL(int_field(n, "template_version"), 1);
  CAF_CHECK_EQUAL(n.value("rendered", json::object()).value("body", ""), "Olá Ana & <Bo>");
  // Email: only the HTML part is escaped (no provider here: dead-lettered,
  // but rendered and stored as accepted).
  auto mail = submit(*api, t.key,
                     json{{"channel", "email"}, {"to", "ann@example.com"},
                          {"template", code},
                          {"variables", {{"name", "A&B"}, {"vip", true}}}}
                       .dump());
  CAF_REQUIRE(mail);
  CAF_REQUIRE_EQUAL(mail->status, 202);
  auto m = get_notification(*api, t.key, text_field(body_of(*mail), "id"));
  CAF_CHECK_EQUAL(text_field(m, "subject"), "Welcome, A&B!");
  CAF_CHECK_EQUAL(text_field(m, "body"), "Hi A&B (VIP)");
  CAF_CHECK_EQUAL(m.value("rendered", json::object()).value("html", ""),
                  "<p>Hi A&amp;B</p>");
  // What cannot be rendered is a 422 naming it; nothing is stored.
  auto fields = [&](json extra) {
    auto doc = check_problem(send(std::move(extra)), 422, "unrenderable");
    return join(error_fields(doc));
  };
  CAF_CHECK_EQUAL(fields({{"variables", json::object()}}), "variables.name");
  CAF_CHECK_EQUAL(fields({{"template", "no-such-code"}}), "template");
  CAF_CHECK_EQUAL(fields({{"channel", "sms"}, {"to", "+15551234567"},
                          {"variables", {{"name", "x"}}}}),
                  "template");
  CAF_CHECK_EQUAL(fields({{"body", "x"}, {"variables", {{"name", "x"}}}}), "body");
  CAF_CHECK_EQUAL(fields({{"variables", "text"}}), "variables");
  CAF_CHECK_EQUAL(fields({{"locale", "not a locale!"}, {"variables", {{"name", "x"}}}}),
                  "locale");
  // Variables beyond the body limit (4 KiB here): 413.
  check_problem(send({{"variables", {{"name", std::string(5000, 'x')}}}}), 413,
                "large variables");
}

CAF_TEST(an idempotency key holds for template submissions across a publish) {
  auto code = "idem-" + random_suffix().substr(0, 8);
  auto body = welcome_template(code);
  CAF_REQUIRE_EQUAL(post_json(*api, t.key, "/v1/templates", body)->status, 201);
  json sub{{"channel", "webhook"}, {"to", receiver.url()}, {"template", code},
           {"variables", {{"name", "Ann"}}}};
  auto key = "idem-" + random_suffix();
  auto send = [&](const json& j) {
    auto h = bearer(t.key);
    h.emplace("Idempotency-Key", key);
    return api->Post("/v1/notifications", h, j.dump(), "application/json");
  };
  auto first = send(sub);
  CAF_REQUIRE(first);
  CAF_REQUIRE_EQUAL(first->status, 202);
  auto id = text_field(body_of(*first), "id");
  // A new version in between: the repeat is the same request, so it gets
  // the original answer and nothing is rendered or stored again.
  auto v2 = welcome_template("");
  v2["locales"]["en"]["webhook"]["body"] = "Changed {{name}}";
  CAF_REQUIRE_EQUAL(post_json(*api, t.key, "/v1/templates/" + code + "/versions",
                              v2)->status, 201);
  auto again = send(sub);
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->status, 202);
  CAF_CHECK_EQUAL(text_field(body_of(*again), "id"), id);
  CAF_CHECK_EQUAL(again->get_header_value("Idempotent-Replayed"), "true");
  auto n = await_status(*api, t.key, id, {"delivered"});
  CAF_CHECK_EQUAL(text_field(n, "body"), "Hi Ann");
  CAF_CHECK_EQUAL(int_field(n, "template_version"), 1);
  // Other variables under the same key: another request, 422.
  sub["variables"]["name"] = "Bob";
  check_problem(send(sub), 422, "same key, other variables");
}

CAF_TEST(an accepted notification keeps the version it was rendered with) {
  auto code = "pinned-" + random_suffix().substr(0, 8);
  auto version = [](int v) {
    return json{{"default_locale", "en"},
                {"locales", {{"en", {{"webhook", {{"body", "v" + std::to_string(v)
                                                             + " {{name}}"}}}}}}}};
  };
  auto create = version(1);
  create["code"] = code;
  CAF_REQUIRE_EQUAL(post_json(*api, t.key, "/v1/templates", create)->status, 201);
  // Submissions from four threads while versions 2..6 are published.
  std::atomic<bool> done{false};
  std::mutex mtx;
  std::vector<std::string> ids;
  std::vector<std::thread> senders;
  for (int k = 0; k < 4; ++k)
    senders.emplace_back([&] {
      auto c = node.api();
      while (!done) {
        auto r = submit(*c, t.key,
                        json{{"channel", "webhook"}, {"to", receiver.url()},
                             {"template", code}, {"variables", {{"name", "N"}}}}
                          .dump());
        if (r && r->status == 202) {
          std::lock_guard<std::mutex> guard{mtx};
          ids.push_back(text_field(body_of(*r), "id"));
        }
      }
    });
  auto admin_api = node.api();
  for (int v = 2; v <= 6; ++v) {
    std::this_thread::sleep_for(30ms); // let submissions run between publishes
    auto p = post_json(*admin_api, t.key, "/v1/templates/" + code + "/versions",
                       version(v));
    CAF_CHECK(p && p->status == 201);
  }
  std::this_thread::sleep_for(30ms);
  done = true;
  for (auto& s : senders)
    s.join();
  CAF_MESSAGE(ids.size() << " submissions while 5 versions were published");
  CAF_REQUIRE_GREATER(ids.size(), 10u);
  std::set<int> versions;
  size_t mismatched = 0;
  for (auto& id : ids) {
    auto n = get_notification(*api, t.key, id);
    auto v = static_cast<int>(int_field(n, "template_version"));
    versions.insert(v);
    if (text_field(n, "body") != "v" + std::to_string(v) + " N" && ++mismatched <= 3)
      CAF_MESSAGE("notification " << id << " of version " << v << " has body "
                                  << text_field(n, "body"));
  }
  CAF_CHECK_EQUAL(mismatched, 0u);
  CAF_MESSAGE("versions rendered: " << versions.size());
  CAF_CHECK_GREATER(versions.size(), 1u);
  // Publishing never rewrites what was accepted: the first one still says v1.
  auto first = get_notification(*api, t.key, ids.front());
  CAF_CHECK_EQUAL(text_field(first, "body"),
                  "v" + std::to_string(int_field(first, "template_version")) + " N");
}

CAF_TEST(recipients are stored replaced and isolated per tenant) {
  auto id = "u-" + random_suffix().substr(0, 8);
  json profile{{"email", "ann@example.com"},
               {"locale", "pt-BR"},
               {"timezone", "America/Sao_Paulo"},
               {"opt_out", {"sms"}},
               {"devices", {{{"id", "phone1"}, {"kind", "fcm"}, {"token", "fcm-token-1"}}}}};
  auto put = api->Put("/v1/recipients/" + id, bearer(t.key), profile.dump(),
                      "application/json");
  CAF_REQUIRE(put);
  CAF_CHECK_EQUAL(put->status, 201);
  auto r = body_of(*put);
  CAF_CHECK_EQUAL(text_field(r, "email"), "ann@example.com");
  CAF_CHECK_EQUAL(r["devices"].size(), 1u);
  profile["phone"] = "+15551230000";
  auto again = api->Put("/v1/recipients/" + id, bearer(t.key), profile.dump(),
                        "application/json");
  CAF_REQUIRE(again);
  CAF_CHECK_EQUAL(again->status, 200);
  CAF_CHECK_EQUAL(text_field(body_of(*again), "phone"), "+15551230000");
  // A device added, replaced by id, removed.
  json web{{"id", "laptop"},
           {"kind", "webpush"},
           {"subscription", {{"endpoint", "https://push.example.com/abc"},
                             {"keys", {{"p256dh", "BPk"}, {"auth", "au"}}}}}};
  auto add = post_json(*api, t.key, "/v1/recipients/" + id + "/devices", web);
  CAF_REQUIRE(add);
  CAF_CHECK_EQUAL(add->status, 201);
  CAF_CHECK_EQUAL(body_of(*add)["devices"].size(), 2u);
  auto add2 = post_json(*api, t.key, "/v1/recipients/" + id + "/devices", web);
  CAF_CHECK_EQUAL(body_of(*add2)["devices"].size(), 2u);
  auto rm = api->Delete("/v1/recipients/" + id + "/devices/laptop", bearer(t.key));
  CAF_REQUIRE(rm);
  CAF_CHECK_EQUAL(rm->status, 200);
  CAF_CHECK_EQUAL(body_of(*rm)["devices"].size(), 1u);
  check_problem(api->Delete("/v1/recipients/" + id + "/devices/laptop", bearer(t.key)),
                404, "a device removed twice");
  // Bad fields are named.
  auto bad = api->Put("/v1/recipients/" + id, bearer(t.key),
                      json{{"email", "nope"}, {"opt_out", {"fax"}}, {"colour", "red"},
                           {"devices", {{{"id", "x"}, {"kind", "apns"}}}}}
                        .dump(),
                      "application/json");
  auto doc = check_problem(bad, 422, "invalid recipient");
  CAF_CHECK_EQUAL(join(error_fields(doc)), "colour,devices[0].kind,email,opt_out");
  check_problem(post_json(*api, t.key, "/v1/recipients/" + id + "/devices",
                          {{"id", "d"}, {"kind", "fcm"}}),
                422, "device without token");
  // Another tenant: 404 for all of it.
  auto other = create_tenant(node);
  check_problem(api->Get("/v1/recipients/" + id, bearer(other.key)), 404, "other tenant");
  check_problem(api->Delete("/v1/recipients/" + id, bearer(other.key)), 404,
                "other tenant delete");
  check_problem(post_json(*api, other.key, "/v1/recipients/" + id + "/devices", web),
                404, "other tenant device");
  // Deleted: gone.
  auto del = api->Delete("/v1/recipients/" + id, bearer(t.key));
  CAF_REQUIRE(del);
  CAF_CHECK_EQUAL(del->status, 200);
  check_problem(api->Get("/v1/recipients/" + id, bearer(t.key)), 404, "deleted");
}

CAF_TEST(recipient submissions are addressed rendered or skipped with the reason) {
  auto id = "u-" + random_suffix().substr(0, 8);
  json profile{{"email", "ana@example.com"},
               {"locale", "pt-BR"},
               {"opt_out", {"sms"}},
               {"phone", "+15551239999"},
               {"devices", {{{"id", "p1"}, {"kind", "fcm"}, {"token", "fcm-token-9"}}}}};
  CAF_REQUIRE_EQUAL(api->Put("/v1/recipients/" + id, bearer(t.key), profile.dump(),
                             "application/json")->status, 201);
  auto code = "greet-" + random_suffix().substr(0, 8);
  json tmpl{{"code", code},
            {"default_locale", "en"},
            {"locales", {{"en", {{"email", {{"subject", "Hi {{name}}"},
                                            {"text", "Hello {{name}}"}}}}},
                         {"pt", {{"email", {{"subject", "Oi {{name}}"},
                                            {"text", "Olá {{name}}"}}},
                                 {"push", {{"title", "Oi"}, {"body", "{{name}}"}}}}}}}};
  CAF_REQUIRE_EQUAL(post_json(*api, t.key, "/v1/templates", tmpl)->status, 201);
  auto send = [&](json j) {
    j["recipient"] = id;
    auto r = submit(*api, t.key, j.dump());
    CAF_REQUIRE(r);
    CAF_REQUIRE_EQUAL(r->status, 202);
    return get_notification(*api, t.key, text_field(body_of(*r), "id"));
  };
  // Email: the recipient's address and locale (pt-BR → pt), rendered.
  auto mail = send({{"channel", "email"}, {"template", code}, {"variables", {{"name", "Ana"}}}});
  CAF_CHECK_EQUAL(text_field(mail, "to"), "ana@example.com");
  CAF_CHECK_EQUAL(text_field(mail, "subject"), "Oi Ana");
  CAF_CHECK_EQUAL(text_field(mail, "recipient"), id);
  // Push: the device's token.
  auto push = send({{"channel", "push"}, {"template", code}, {"variables", {{"name", "Ana"}}}});
  CAF_CHECK_EQUAL(text_field(push, "to"), "fcm-token-9");
  CAF_CHECK_EQUAL(text_field(push, "body"), "Ana");
  // Opted out of SMS: skipped, terminal, with the reason; never attempted.
  // The 202 says so (and a batch item too).
  auto direct = submit(*api, t.key, json{{"channel", "sms"}, {"recipient", id},
                                         {"body", "hi"}}
                                      .dump());
  CAF_REQUIRE(direct);
  CAF_CHECK_EQUAL(direct->status, 202);
  CAF_CHECK_EQUAL(text_field(body_of(*direct), "status"), "skipped");
  CAF_CHECK_EQUAL(text_field(body_of(*direct), "reason"),
                  "skipped: the recipient opted out of sms");
  auto batch = api->Post("/v1/notifications/batch", bearer(t.key),
                         json{{"items", {{{"channel", "sms"}, {"recipient", id},
                                          {"body", "b"}},
                                         {{"channel", "email"}, {"recipient", id},
                                          {"body", "b"}}}}}
                           .dump(),
                         "application/json");
  CAF_REQUIRE(batch);
  CAF_CHECK_EQUAL(batch->status, 202);
  auto items = body_of(*batch).value("items", json::array());
  CAF_REQUIRE_EQUAL(items.size(), 2u);
  CAF_CHECK_EQUAL(text_field(items[0], "skipped"), "skipped: the recipient opted out of sms");
  CAF_CHECK(!items[1].contains("skipped"));
  auto sms = send({{"channel", "sms"}, {"body", "code 1234"}});
  CAF_CHECK_EQUAL(text_field(sms, "status"), "skipped");
  CAF_CHECK_EQUAL(text_field(sms, "last_error"), "skipped: the recipient opted out of sms");
  CAF_CHECK_EQUAL(int_field(sms, "attempts"), 0);
  // No webhook address: skipped too.
  auto hook = send({{"channel", "webhook"}, {"body", "x"}});
  CAF_CHECK_EQUAL(text_field(hook, "status"), "skipped");
  CAF_CHECK(text_field(hook, "last_error").find("no address for channel webhook")
            != std::string::npos);
  // Listed by status; nothing was sent for them.
  bool ok = false;
  auto skipped = list_all(*api, t.key, "status=skipped", ok);
  CAF_CHECK(ok);
  CAF_CHECK_EQUAL(skipped.size(), 4u); // two above, one direct, one batched
  CAF_CHECK_EQUAL(int_field(stats_of(receiver), "received"), 0);
  // An unknown recipient, or `to` beside it: 422.
  auto none = submit(*api, t.key,
                     json{{"channel", "email"}, {"recipient", "nobody"}, {"body", "x"}}.dump());
  CAF_CHECK_EQUAL(join(error_fields(check_problem(none, 422, "unknown recipient"))),
                  "recipient");
  auto both = submit(*api, t.key, json{{"channel", "email"}, {"recipient", id},
                                       {"to", "a@b.example"}, {"body", "x"}}
                                    .dump());
  CAF_CHECK_EQUAL(join(error_fields(check_problem(both, 422, "to and recipient"))), "to");
}

CAF_TEST_FIXTURE_SCOPE_END()
