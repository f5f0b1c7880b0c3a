// herald-test-links: herald_channels
// (only for CAF, httplib and nlohmann::json: the node runs as a process)
#define CAF_SUITE reliability

// End-to-end tests of egress reliability (issue 4): retries with backoff,
// circuit breakers, the dead-letter queue, cancel. The real `herald` binary
// and a fake-provider receiver as child processes, a real PostgreSQL
// (HERALD_TEST_DB_URL), clients speaking HTTP on loopback. Every test uses a
// fresh node, receiver and tenant, so tests (and runs) can share the
// database; no test leaves open work behind.
//
// DESIGN.md invariants under test:
//   2. nothing accepted is lost: every notification ends delivered or
//      dead_lettered (or cancelled / discarded by a client or operator);
//   3. no duplicates without a crash: the receiver sees each webhook-id
//      delivered at most once, and every call it got is a recorded attempt;
//   6. an open breaker costs no attempts.

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <map>
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
using namespace herald::test::harness;
using herald::test::eventually;
using herald::test::harness::option_map;
using herald::test::harness::quote;
using herald::test::harness::random_suffix;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// -- node, receiver, tenant ----------------------------------------------------------

const std::string admin_token = "e2e-reliab-admin-" + random_suffix();

std::string db_url() {
  auto x = herald::test::harness::env("HERALD_TEST_DB_URL");
  if (x.empty())
    CAF_FAIL("HERALD_TEST_DB_URL is not set: the e2e reliability tests need "
             "a real PostgreSQL (scripts/test.sh exports it; for a local "
             "run: bash scripts/pg.sh start /tmp/herald-pg-reliab 55491)");
  return x;
}

/// A fast retry policy (100 ms, doubling up to 1 s, 8 attempts), no tenant
/// rate limit to speak of; `extra` overrides or adds options.
option_map node_options(const std::string& tag, const option_map& extra) {
  option_map opts{
    {"herald.node.name", quote("e2e-reliab-" + tag + "-" + random_suffix())},
    {"herald.api.host", quote("127.0.0.1")},
    {"herald.api.port", "0"},
    {"herald.admin.host", quote("127.0.0.1")},
    {"herald.admin.port", "0"},
    {"herald.admin.token", quote(admin_token)},
    {"herald.db.url", quote(db_url())},
    {"herald.api.threads", "32"},
    {"herald.delivery.sweep-interval", "200ms"},
    {"herald.channels.webhook.timeout", "5s"},
    {"herald.tenants.default-rate", "1000000"},
    {"herald.tenants.default-burst", "1000000"},
    {"herald.retry.base-delay", "100ms"},
    {"herald.retry.max-delay", "1s"},
    {"herald.retry.max-attempts", "8"},
    {"herald.log.level", quote("warn")},
  };
  for (auto& [k, v] : extra)
    opts[k] = v;
  return opts;
}

/// One receiver, one node, one tenant (and a second one, for the "ids of
/// others do not exist" checks).
struct rig {
  fake_provider receiver;
  herald_node node;
  tenant t;
  std::unique_ptr<httplib::Client> api;
  size_t listing_errors = 0;

  rig(const std::string& tag, const option_map& extra)
    : node(node_options(tag, extra)) {
    CAF_REQUIRE(receiver.ok());
    if (!node.start())
      CAF_FAIL(node.error());
    t = new_tenant();
    api = node.api(30s);
    api->set_keep_alive(true);
  }

  ~rig() {
    CAF_CHECK_EQUAL(listing_errors, 0u);
    api.reset();
    if (node.running()) {
      auto rc = node.stop();
      if (rc != 0)
        CAF_MESSAGE(node.error());
      CAF_CHECK_EQUAL(rc, 0);
    }
    CAF_CHECK_EQUAL(receiver.terminate(), 0);
  }

  tenant new_tenant() {
    auto x = make_tenant(node, admin_token, "e2e-reliab-" + random_suffix());
    if (!x.error.empty())
      CAF_FAIL(x.error);
    return x;
  }

  std::string url() const {
    return receiver.url("/hooks/reliability");
  }

  std::string provider() const {
    return endpoint_of(receiver);
  }

  json notification(int n) const {
    return {{"channel", "webhook"},
            {"to", url()},
            {"body", "reliability " + std::to_string(n)},
            {"data", {{"n", n}}}};
  }

  /// Submits `n` notifications (batches of up to 1000); fails the test
  /// unless all are accepted.
  std::vector<std::string> submit(int n, int first = 0) {
    std::vector<json> items;
    for (int i = 0; i < n; ++i)
      items.push_back(notification(first + i));
    std::string error;
    auto ids = submit_batches(*api, t.key, items, error);
    if (!error.empty())
      CAF_FAIL(error);
    CAF_REQUIRE_EQUAL(ids.size(), static_cast<size_t>(n));
    return ids;
  }

  std::string submit_one(const json& body) {
    auto r = request(*api, "POST", "/v1/notifications", t.key, body);
    if (r.status != 202)
      CAF_FAIL("submit " << body.dump() << ": " << r.describe());
    return r.field("id");
  }

  json get(const std::string& id) {
    auto r = request(*api, "GET", "/v1/notifications/" + id, t.key);
    return r.status == 200 ? r.body : json(nullptr);
  }

  /// Polls the notification until its status is in `targets`; the last
  /// document seen (the test is failed softly if it never got there).
  json await_status(const std::string& id, const std::set<std::string>& targets,
                    milliseconds timeout = 20s) {
    json last;
    auto ok = eventually(
      [&] {
        last = get(id);
        return targets.count(text_field(last, "status")) > 0;
      },
      timeout, 50ms);
    if (!ok)
      CAF_MESSAGE(id << " did not reach " << *targets.begin()
                     << "...; last seen: " << last.dump());
    CAF_CHECK(ok);
    return last;
  }

  /// The items of a listing, all pages. Polling loops call this: an error
  /// (say a 503 while the store is slow) is reported and counted, not
  /// fatal, and gives nothing (the loop tries again); the destructor checks
  /// that there were none.
  std::vector<json> listing(const std::string& path) {
    std::string error;
    auto items = all_pages(*api, t.key, path, error);
    if (error.empty())
      return items;
    ++listing_errors;
    CAF_MESSAGE("listing failed: " << error);
    return {};
  }

  /// Every notification of the tenant.
  std::vector<json> notifications() {
    return listing("/v1/notifications?limit=200");
  }

  /// Parked dead letters of the tenant.
  std::vector<json> dead_letters() {
    return listing("/v1/dlq?limit=200");
  }

  json attempts(const std::string& id) {
    auto r = request(*api, "GET", "/v1/notifications/" + id + "/attempts",
                     t.key);
    CAF_CHECK_EQUAL(r.status, 200);
    return r.body.is_object() ? r.body.value("items", json::array())
                              : json::array();
  }

  json stats(bool ids = false) {
    return receiver_call(receiver, ids ? "/stats?ids=1" : "/stats");
  }

  void faults(const json& f) {
    auto answer = receiver_call(receiver, "/control", f);
    CAF_REQUIRE(!answer.empty());
  }

  json breaker() {
    return breaker_of(node, admin_token, provider());
  }

  /// Cancels whatever of `ids` is still open, so that no work is left in
  /// the shared database.
  void cancel_open(const std::vector<std::string>& ids) {
    for (auto& id : ids) {
      auto r = request(*api, "DELETE", "/v1/notifications/" + id, t.key);
      if (r.status != 200 && r.status != 409)
        CAF_MESSAGE("cleanup: DELETE " << id << ": " << r.describe());
    }
  }
};

/// Counts of each status, and the sum of the attempts fields.
struct census {
  std::map<std::string, size_t> by_status;
  int64_t attempts = 0;

  census() = default;

  explicit census(const std::vector<json>& items) {
    for (auto& n : items) {
      ++by_status[text_field(n, "status")];
      attempts += std::max<int64_t>(int_field(n, "attempts"), 0);
    }
  }

  std::string text() const {
    std::string out;
    for (auto& [status, n] : by_status)
      out += status + "=" + std::to_string(n) + " ";
    return out + "attempts=" + std::to_string(attempts);
  }
};

double seconds_since(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

} // namespace

// -- 1. 30 % failures -------------------------------------------------------------------

CAF_TEST(at 30 percent failures every notification ends delivered or dead lettered without duplicates) {
  // The breaker must not trip at a 30 % failure rate, or the test would
  // measure cool-downs, not retries. The defaults would: failure-threshold 5
  // trips on 5 failures in a row, which at p = 0.3 happens about once in
  // 0.3^-5 / 0.7 ≈ 590 calls (≈ 24 times over the ~14,000 calls here), and
  // failure-rate 50 % over min-calls 20 trips at ≥ 10 failures of the first
  // 20 calls of a window with probability ≈ 5 %. Hence a threshold of 100 in
  // a row (p ≈ 1e-52) and min-calls 500 (P[≥ 250 of 500 fail] < 1e-20); the
  // test checks that the breaker never tripped.
  constexpr int total = 10000;
  constexpr int max_attempts = 8;
  rig b{"30pct",
        {{"herald.breaker.failure-threshold", "100"},
         {"herald.breaker.min-calls", "500"},
         {"herald.retry.max-attempts", std::to_string(max_attempts)}}};
  b.faults({{"fail_rate", 0.3}, {"fail_status", 503}});
  auto t0 = steady_clock::now();
  auto ids = b.submit(total);
  auto submitted_s = seconds_since(t0);
  // Done when every notification is at the receiver or in the DLQ.
  int64_t delivered = 0;
  size_t dead = 0;
  auto done = eventually(
    [&] {
      delivered = int_field(b.stats(), "unique");
      dead = b.dead_letters().size();
      return delivered + static_cast<int64_t>(dead) >= total;
    },
    240s, 250ms);
  auto drained_s = seconds_since(t0);
  CAF_MESSAGE(total << " notifications submitted in " << submitted_s
                    << " s; " << delivered << " delivered + " << dead
                    << " dead-lettered after " << drained_s << " s");
  CAF_CHECK(done);
  // The database agrees (once the last outcomes are written): every one
  // delivered or dead_lettered, nothing else.
  std::vector<json> all;
  census c;
  eventually(
    [&] {
      all = b.notifications();
      c = census{all};
      return c.by_status["delivered"] + c.by_status["dead_lettered"]
             >= static_cast<size_t>(total);
    },
    30s, 500ms);
  CAF_MESSAGE("by status: " << c.text());
  CAF_CHECK_EQUAL(all.size(), static_cast<size_t>(total));
  CAF_CHECK_EQUAL(c.by_status["delivered"] + c.by_status["dead_lettered"],
                  static_cast<size_t>(total));
  CAF_CHECK_EQUAL(static_cast<int64_t>(c.by_status["delivered"]), delivered);
  CAF_CHECK_EQUAL(c.by_status["dead_lettered"], dead);
  std::set<std::string> ours(ids.begin(), ids.end());
  std::set<std::string> listed;
  for (auto& n : all)
    listed.insert(text_field(n, "id"));
  CAF_CHECK(listed == ours);
  // The receiver: each delivered id exactly once, only ours, every call
  // it answered is an attempt the node recorded (and no more).
  auto s = b.stats(true);
  CAF_MESSAGE("receiver: " << s.value("received", -1) << " received, "
                           << s.value("delivered", -1) << " delivered, "
                           << s.value("failed_injected", -1) << " failed");
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
  CAF_CHECK_EQUAL(int_field(s, "duplicate_deliveries"), 0);
  CAF_CHECK_EQUAL(int_field(s, "delivered"), int_field(s, "unique"));
  CAF_CHECK_EQUAL(int_field(s, "received"), c.attempts);
  size_t strangers = 0;
  auto seen = s.value("ids", json::object());
  for (auto& [id, n] : seen.items())
    strangers += ours.count(id) == 0 ? 1 : 0;
  CAF_CHECK_EQUAL(strangers, 0u);
  // With 8 attempts P(dead letter) = 0.3^8 ≈ 7e-5 each (≈ 0.7 expected
  // here): any dead letter spent its whole budget on retryable failures.
  for (auto& d : b.dead_letters()) {
    CAF_CHECK_EQUAL(int_field(d, "attempts"), max_attempts);
    auto reason = text_field(d, "reason");
    CAF_CHECK_EQUAL(reason.rfind("exhausted: 8 attempts", 0), 0u);
    CAF_MESSAGE("dead letter " << text_field(d, "id") << ": " << reason);
  }
  // The attempts of a few retried notifications match their count: every
  // failure a 503, the last a delivery.
  int checked = 0;
  for (auto& n : all) {
    auto count = int_field(n, "attempts");
    if (text_field(n, "status") != "delivered" || count < 3 || checked >= 5)
      continue;
    ++checked;
    auto xs = b.attempts(text_field(n, "id"));
    CAF_REQUIRE_EQUAL(static_cast<int64_t>(xs.size()), count);
    for (size_t i = 0; i < xs.size(); ++i) {
      auto last = i + 1 == xs.size();
      CAF_CHECK_EQUAL(text_field(xs[i], "outcome"), last ? "delivered" : "failed");
      CAF_CHECK_EQUAL(int_field(xs[i], "http_status"), last ? 200 : 503);
      CAF_CHECK_EQUAL(text_field(xs[i], "provider"), b.provider());
    }
  }
  CAF_CHECK_GREATER(checked, 0);
  // No trip: the 30 % never counted as an outage.
  auto br = b.breaker();
  CAF_MESSAGE("breaker: " << br.dump());
  CAF_CHECK_EQUAL(text_field(br, "state"), "closed");
  CAF_CHECK_EQUAL(int_field(br, "trips"), 0);
}

// -- 2. a 30 s outage ----------------------------------------------------------------------

CAF_TEST(a 30 s outage opens the breaker without burning attempts and loses nothing) {
  constexpr int threshold = 5;
  constexpr int senders = 4;
  constexpr int per_wave = 100;
  // Probes every 2 s, doubling on each failed probe up to 4 s: about eight
  // probes in the outage, and the end of it is noticed within 4 s.
  rig b{"outage",
        {{"herald.breaker.failure-threshold", std::to_string(threshold)},
         {"herald.breaker.open-timeout", "2s"},
         {"herald.breaker.max-open-timeout", "4s"},
         {"herald.breaker.half-open-probes", "1"},
         {"herald.channels.webhook.pool-size", std::to_string(senders)}}};
  // One delivery first: the endpoint's supervisor is up, its breaker closed.
  auto warm = b.submit_one(b.notification(-1));
  b.await_status(warm, {"delivered"});
  auto t0 = steady_clock::now();
  b.faults({{"refuse_ms", 30000}});
  auto ids = b.submit(per_wave);
  json br;
  auto opened = eventually(
    [&] {
      br = b.breaker();
      return text_field(br, "state") != "closed" && int_field(br, "trips") >= 1;
    },
    10s, 20ms);
  CAF_MESSAGE("breaker after " << seconds_since(t0) << " s: " << br.dump());
  CAF_REQUIRE(opened);
  CAF_CHECK_EQUAL(text_field(br, "last_trip"), "consecutive_failures");
  // Attempts are counted for real calls only: those before the trip (about
  // the threshold; calls under way when it tripped add at most one per
  // other sender) and one per failed probe (each trip after the first).
  // Outcomes are written asynchronously, so the count is awaited; the
  // census includes the warm-up's one attempt.
  auto attempt_bound = [&](const json& breaker) {
    return 1 + threshold + (senders - 1) + (int_field(breaker, "trips") - 1);
  };
  census at_trip;
  CAF_CHECK(eventually(
    [&] {
      at_trip = census{b.notifications()};
      return at_trip.attempts >= 1 + threshold;
    },
    5s, 50ms));
  br = b.breaker();
  CAF_MESSAGE("at the trip: " << at_trip.text() << "; breaker " << br.dump());
  CAF_CHECK_LESS_OR_EQUAL(at_trip.attempts, attempt_bound(br));
  // A second wave while open: deferred, no calls.
  auto more = b.submit(per_wave, per_wave);
  ids.insert(ids.end(), more.begin(), more.end());
  ids.push_back(warm);
  // Half-way through the outage: still open (or probing), deferring work,
  // no attempts beyond the bound.
  CAF_CHECK(eventually([&] { return seconds_since(t0) > 15; }, 20s, 100ms));
  census mid{b.notifications()};
  br = b.breaker();
  CAF_MESSAGE("after " << seconds_since(t0) << " s: " << mid.text()
                       << "; breaker " << br.dump());
  CAF_CHECK_NOT_EQUAL(text_field(br, "state"), "closed");
  CAF_CHECK_GREATER(int_field(br, "deferred"), 0);
  CAF_CHECK_GREATER(int_field(br, "trips"), 1); // probes failed
  CAF_CHECK_EQUAL(mid.by_status["delivered"], 1u); // the warm-up one
  CAF_CHECK_EQUAL(mid.by_status["dead_lettered"], 0u);
  CAF_CHECK_LESS_OR_EQUAL(mid.attempts, attempt_bound(br));
  // The receiver comes back after 30 s; everything is delivered.
  CAF_CHECK(eventually(
    [&] { return b.stats().value("refusing", true) == false; }, 40s, 100ms));
  auto back = steady_clock::now();
  CAF_MESSAGE("receiver back after " << seconds_since(t0) << " s");
  // (Outcomes are recorded after the receiver answered: await the records.)
  census end;
  auto all_delivered = eventually(
    [&] {
      end = census{b.notifications()};
      return end.by_status["delivered"] >= ids.size();
    },
    60s, 100ms);
  CAF_MESSAGE("all delivered " << seconds_since(back)
                               << " s after the receiver came back");
  CAF_CHECK(all_delivered);
  br = b.breaker();
  CAF_MESSAGE("at the end: " << end.text() << "; breaker " << br.dump());
  CAF_CHECK_EQUAL(end.by_status["delivered"], ids.size());
  CAF_CHECK(b.dead_letters().empty());
  CAF_CHECK_EQUAL(text_field(br, "state"), "closed");
  // Attempts: 201 deliveries plus the failures within the bound; the other
  // ~190 notifications waited out the outage without a single attempt.
  auto failed_attempts = end.attempts - static_cast<int64_t>(ids.size());
  CAF_MESSAGE(failed_attempts << " failed attempts, " << int_field(br, "trips")
                              << " trips");
  CAF_CHECK_GREATER_OR_EQUAL(failed_attempts, threshold);
  CAF_CHECK_LESS_OR_EQUAL(end.attempts - 200, attempt_bound(br));
  auto s = b.stats();
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
  CAF_CHECK_EQUAL(int_field(s, "duplicate_deliveries"), 0);
  CAF_CHECK_EQUAL(int_field(s, "unique"), static_cast<int64_t>(ids.size()));
}

// -- 3. permanent failures and the dead-letter queue --------------------------------------

CAF_TEST(a receiver answering 400 dead letters at once and the DLQ retries discards and replays) {
  rig b{"dlq", {{"herald.dlq.replay-rate", "100"}}};
  b.faults({{"fail_rate", 1.0}, {"fail_status", 400}});
  // Six dead letters: one to retry, one to discard, four to replay.
  auto ids = b.submit(6);
  for (auto& id : ids) {
    auto n = b.await_status(id, {"dead_lettered"});
    CAF_CHECK_EQUAL(int_field(n, "attempts"), 1);
  }
  CAF_CHECK_EQUAL(int_field(b.stats(), "received"), 6); // no retries
  auto parked = b.dead_letters();
  CAF_REQUIRE_EQUAL(parked.size(), 6u);
  for (auto& d : parked) {
    CAF_CHECK_EQUAL(text_field(d, "reason"), "permanent: HTTP 400");
    CAF_CHECK_EQUAL(int_field(d, "attempts"), 1);
    CAF_CHECK_EQUAL(text_field(d, "state"), "parked");
    CAF_CHECK_EQUAL(text_field(d, "channel"), "webhook");
    CAF_CHECK_EQUAL(text_field(d, "provider"), b.provider());
  }
  // One dead letter with its history: how it got there, and why.
  auto first = ids[0];
  {
    auto r = request(*b.api, "GET", "/v1/dlq/" + first, b.t.key);
    CAF_REQUIRE_EQUAL(r.status, 200);
    CAF_MESSAGE("GET /v1/dlq/{id}: " << r.text);
    // Its transitions, oldest first; the last one into the DLQ, with why.
    auto events = r.body.value("events", json::array());
    CAF_REQUIRE_GREATER_OR_EQUAL(events.size(), 1u);
    auto& last = events.back();
    CAF_CHECK_EQUAL(text_field(last, "to"), "dead_lettered");
    CAF_CHECK_EQUAL(text_field(last, "reason"), "permanent: HTTP 400");
    auto from = text_field(last, "from");
    CAF_CHECK(from == "accepted" || from == "queued" || from == "sending");
    int64_t prev = 0;
    for (auto& e : events) {
      auto at = parse_rfc3339(text_field(e, "at"));
      CAF_CHECK_GREATER_OR_EQUAL(at, prev);
      prev = at;
    }
    CAF_CHECK_EQUAL(r.body.value("notification", json::object()).value("id", ""),
                    first);
  }
  // Retry: 202, delivered once the receiver is healthy; a second retry is a
  // conflict (it is no longer parked).
  CAF_REQUIRE(!receiver_call(b.receiver, "/reset", json::object()).empty());
  {
    auto r = request(*b.api, "POST", "/v1/dlq/" + first + "/retry", b.t.key,
                     json::object());
    CAF_CHECK_EQUAL(r.status, 202);
    auto n = b.await_status(first, {"delivered"});
    CAF_CHECK_EQUAL(text_field(n, "status"), "delivered");
    auto xs = b.attempts(first);
    CAF_CHECK_EQUAL(xs.size(), 2u);
    r = request(*b.api, "POST", "/v1/dlq/" + first + "/retry", b.t.key,
                json::object());
    CAF_CHECK_EQUAL(r.status, 409);
    auto d = request(*b.api, "GET", "/v1/dlq/" + first, b.t.key);
    CAF_CHECK_EQUAL(d.field("state"), "retried");
  }
  // Discard: 200, status discarded, never delivered; twice is a conflict.
  auto second = ids[1];
  {
    auto r = request(*b.api, "POST", "/v1/dlq/" + second + "/discard", b.t.key,
                     json::object());
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK_EQUAL(r.field("status"), "discarded");
    CAF_CHECK_EQUAL(text_field(b.get(second), "status"), "discarded");
    r = request(*b.api, "POST", "/v1/dlq/" + second + "/discard", b.t.key,
                json::object());
    CAF_CHECK_EQUAL(r.status, 409);
    r = request(*b.api, "POST", "/v1/dlq/" + second + "/retry", b.t.key,
                json::object());
    CAF_CHECK_EQUAL(r.status, 409);
  }
  CAF_CHECK_EQUAL(b.dead_letters().size(), 4u);
  // Another tenant's view: none of these exist.
  {
    auto other = b.new_tenant();
    for (auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/dlq/" + ids[2]},
           {"POST", "/v1/dlq/" + ids[2] + "/retry"},
           {"POST", "/v1/dlq/" + ids[2] + "/discard"},
           {"GET", "/v1/notifications/" + ids[2]},
           {"DELETE", "/v1/notifications/" + ids[2]}}) {
      auto r = request(*b.api, method, path, other.key,
                       method == "POST" ? json::object() : json(nullptr));
      if (r.status != 404)
        CAF_MESSAGE(method << " " << path << " by another tenant: "
                           << r.describe());
      CAF_CHECK_EQUAL(r.status, 404);
    }
    auto r = request(*b.api, "GET", "/v1/dlq", other.key);
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK(r.body.value("items", json::array()).empty());
    r = request(*b.api, "POST", "/v1/dlq/replay", other.key,
                {{"channel", "webhook"}});
    CAF_CHECK_EQUAL(r.status, 202);
    CAF_CHECK_EQUAL(int_field(r.body, "count"), 0);
  }
  // Replay the four others by channel at 5/s: spaced 200 ms apart.
  {
    auto r = request(*b.api, "POST", "/v1/dlq/replay", b.t.key,
                     {{"channel", "webhook"}, {"rate_per_sec", 5}});
    CAF_MESSAGE("replay: " << r.describe());
    CAF_CHECK_EQUAL(r.status, 202);
    CAF_CHECK_EQUAL(int_field(r.body, "count"), 4);
    auto spread = parse_rfc3339(r.field("last_due_at"))
                  - parse_rfc3339(r.field("first_due_at"));
    CAF_CHECK_GREATER_OR_EQUAL(spread, 550); // (4 - 1) / 5 s = 600 ms
    CAF_CHECK_LESS_OR_EQUAL(spread, 650);
    std::vector<int64_t> delivered_at;
    for (size_t i = 2; i < ids.size(); ++i) {
      auto n = b.await_status(ids[i], {"delivered"});
      CAF_CHECK_EQUAL(text_field(n, "status"), "delivered");
      auto xs = b.attempts(ids[i]);
      if (!xs.empty())
        delivered_at.push_back(parse_rfc3339(text_field(xs.back(), "at")));
    }
    std::sort(delivered_at.begin(), delivered_at.end());
    CAF_REQUIRE_EQUAL(delivered_at.size(), 4u);
    CAF_MESSAGE("replayed deliveries spread over "
                << delivered_at.back() - delivered_at.front() << " ms");
    // Paced, give or take one sweep (200 ms): the first replayed row is due
    // at once and may wait for the next sweep, the later ones on timers.
    CAF_CHECK_GREATER_OR_EQUAL(delivered_at.back() - delivered_at.front(), 350);
    CAF_CHECK(b.dead_letters().empty());
  }
  auto s = b.stats();
  CAF_CHECK_EQUAL(int_field(s, "unique"), 5); // all but the discarded one
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
}

// -- 4. cancel --------------------------------------------------------------------------------

CAF_TEST(a cancelled notification is never delivered and a delivered one cannot be cancelled) {
  rig b{"cancel", {{"herald.retry.base-delay", "500ms"}}};
  // Due in 3 s (within the retry horizon: it waits on a timer of the node).
  auto send_at = now_ms() + 3000;
  auto body = b.notification(1);
  body["send_at"] = rfc3339(send_at);
  auto later = b.submit_one(body);
  // One the receiver refuses (503): waiting for its retry when cancelled.
  b.faults({{"fail_rate", 1.0}, {"fail_status", 503}});
  auto retrying = b.submit_one(b.notification(2));
  b.await_status(retrying, {"retry_scheduled"});
  for (auto& id : {later, retrying}) {
    auto r = request(*b.api, "DELETE", "/v1/notifications/" + id, b.t.key);
    CAF_CHECK_EQUAL(r.status, 200);
    CAF_CHECK_EQUAL(r.field("status"), "cancelled");
    CAF_CHECK_EQUAL(r.field("id"), id);
    r = request(*b.api, "DELETE", "/v1/notifications/" + id, b.t.key);
    CAF_CHECK_EQUAL(r.status, 409); // cancelled is terminal
  }
  b.faults({{"fail_rate", 0.0}}); // healthy again, counters kept
  // A delivered one cannot be cancelled.
  auto sent = b.submit_one(b.notification(3));
  b.await_status(sent, {"delivered"});
  auto r = request(*b.api, "DELETE", "/v1/notifications/" + sent, b.t.key);
  CAF_CHECK_EQUAL(r.status, 409);
  CAF_CHECK_EQUAL(text_field(b.get(sent), "status"), "delivered");
  // The one legitimate wait: past send_at (and past the retry's longest
  // backoff) with a margin; then the cancelled ones must not have arrived.
  std::this_thread::sleep_until(std::chrono::system_clock::time_point{
    milliseconds{send_at + 2000}});
  auto ids = b.stats(true).value("ids", json::object());
  CAF_CHECK(!ids.contains(later));
  CAF_CHECK(!ids.contains(retrying));
  CAF_CHECK(ids.contains(sent));
  for (auto& id : {later, retrying})
    CAF_CHECK_EQUAL(text_field(b.get(id), "status"), "cancelled");
  CAF_CHECK_EQUAL(int_field(b.get(later), "attempts"), 0);
  // Every call the receiver got is a recorded attempt (the cancelled retry
  // may have failed more than once before the cancel, never after it).
  CAF_CHECK_EQUAL(int_field(b.stats(), "received"),
                  int_field(b.get(retrying), "attempts") + 1);
}

// -- 4b. retries survive a crash -------------------------------------------------------------

CAF_TEST(retries waiting on a crashed node are reloaded at its restart) {
  rig b{"restart", {{"herald.retry.max-delay", "1min"}}};
  // Every call fails and asks for 4 s: each notification waits for its
  // retry on a timer of the node (4 s is within the 10 s retry horizon),
  // its next_attempt_at and lease in PostgreSQL.
  b.faults({{"fail_rate", 1.0}, {"fail_status", 503}, {"retry_after", "4"}});
  auto ids = b.submit(20);
  for (auto& id : ids)
    b.await_status(id, {"retry_scheduled"});
  CAF_CHECK_EQUAL(int_field(b.stats(), "received"), 20);
  b.node.kill_hard(); // the timers die with it
  b.faults({{"fail_rate", 0.0}});
  if (!b.node.start()) // same node name: it takes its own leases back
    CAF_FAIL(b.node.error());
  b.api = b.node.api(30s);
  b.api->set_keep_alive(true);
  for (auto& id : ids) {
    auto n = b.await_status(id, {"delivered"}, 30s);
    CAF_CHECK_EQUAL(int_field(n, "attempts"), 2); // the budget was kept
  }
  auto s = b.stats();
  CAF_CHECK_EQUAL(int_field(s, "received"), 40);
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
}

// -- 5. breaker admin --------------------------------------------------------------------------

CAF_TEST(a receiver failing every call opens its breaker and an operator resets it) {
  constexpr int threshold = 3;
  rig b{"admin",
        {{"herald.breaker.failure-threshold", std::to_string(threshold)},
         {"herald.breaker.open-timeout", "60s"},
         {"herald.channels.webhook.pool-size", "2"}}};
  b.faults({{"fail_rate", 1.0}, {"fail_status", 503}});
  auto ids = b.submit(10);
  json br;
  CAF_CHECK(eventually(
    [&] {
      br = b.breaker();
      return text_field(br, "state") == "open";
    },
    15s, 20ms));
  CAF_MESSAGE("breaker: " << br.dump());
  CAF_CHECK_EQUAL(int_field(br, "trips"), 1);
  CAF_CHECK_EQUAL(text_field(br, "last_trip"), "consecutive_failures");
  CAF_CHECK_EQUAL(text_field(br, "channel"), "webhook");
  CAF_CHECK_GREATER(int_field(br, "open_for_ms"), 0);
  // Open: the others wait without calls.
  CAF_CHECK(eventually(
    [&] { return census{b.notifications()}.by_status["retry_scheduled"] == 10; },
    10s, 50ms));
  auto calls = int_field(b.stats(), "received");
  census waiting{b.notifications()};
  CAF_MESSAGE("while open: " << waiting.text() << ", " << calls
                             << " calls at the receiver");
  CAF_CHECK_EQUAL(waiting.attempts, calls);
  CAF_CHECK_LESS_OR_EQUAL(calls, threshold + 2);
  // The admin endpoint wants its token; an unknown provider is 404.
  auto admin = b.node.admin();
  auto path = "/admin/breakers/" + percent_encode(b.provider()) + "/reset";
  CAF_CHECK_EQUAL(request(*admin, "POST", path, "", json::object()).status, 401);
  CAF_CHECK_EQUAL(request(*admin, "POST",
                          "/admin/breakers/"
                            + percent_encode("http://127.0.0.1:1") + "/reset",
                          admin_token, json::object())
                    .status,
                  404);
  // Healthy again first, so that work let through by the reset cannot trip
  // it again before we look.
  CAF_REQUIRE(!receiver_call(b.receiver, "/reset", json::object()).empty());
  auto reset = request(*admin, "POST", path, admin_token, json::object());
  CAF_MESSAGE("reset: " << reset.describe());
  CAF_CHECK_EQUAL(reset.status, 200);
  CAF_CHECK_EQUAL(reset.field("state"), "closed");
  br = b.breaker();
  CAF_CHECK_EQUAL(text_field(br, "state"), "closed");
  CAF_CHECK_EQUAL(int_field(br, "trips"), 1); // history is kept
  // Left open on purpose until now: no work stays behind in the database.
  b.cancel_open(ids);
}
