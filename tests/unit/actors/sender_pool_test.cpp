// herald-test-links: herald_actors
// The sender pool in virtual time with scripted fake senders: routing per
// provider, outcomes forwarded, providers isolated, supervisor restarts
// (one for one, jobs handed to the replacement) and escalation, breakers
// fan-in and reset, drain, idle supervisors forgotten; and the webhook
// sender's outcome classification (plain functions).
#define CAF_SUITE sender_pool

#include <algorithm>

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "core/error.hpp"
#include "actors/sender_pool.hpp"
#include "actors/webhook_sender.hpp"
#include "support/fake_sender.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

const std::string a = "http://a:1";
const std::string b = "http://b:2";

struct fake_dispatcher_state {
  static inline const char* name = "fake-dispatcher";
  std::vector<attempt_report> outcomes;
};

/// Stands in for the dispatcher: records the outcomes the pool forwards.
dispatcher_actor::behavior_type
fake_dispatcher(dispatcher_actor::stateful_pointer<fake_dispatcher_state> self) {
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "fake-dispatcher", "", "", "{}");
    },
    [](atom::reserve, int32_t n) -> int32_t { return n; },
    [](atom::reserve) -> int32_t { return 100; },
    [](atom::claim) {},
    [](atom::takeover) { return true; },
    [](atom::release, int32_t) {},
    [](atom::dispatch, std::vector<delivery_job>&) {},
    [](atom::due, std::vector<delivery_job>&) {},
    [self](atom::outcome, attempt_report& out) {
      self->state.outcomes.push_back(std::move(out));
    },
    [](atom::cancel, const std::string&) {},
    [](atom::breakers) -> std::vector<breaker_info> { return {}; },
    [](atom::reset, const std::string&) -> bool { return false; },
    [](atom::drain) -> bool { return true; },
    [](atom::sweep) {},
    [](atom::flush) {},
    [](atom::renew) {},
  };
}

sender_pool_settings test_settings() {
  sender_pool_settings s;
  s.channel = "webhook";
  s.node = "n1";
  s.senders_per_provider = 2;
  s.call_timeout = 2s;
  s.breaker.failure_threshold = 5;
  s.breaker.min_calls = 1000;
  s.breaker.open_timeout = 10s;
  s.sender_restarts.max_restarts = 5;
  s.provider_restarts.max_restarts = 3;
  s.idle_timeout = caf::timespan::zero();
  s.admin_timeout = 1s;
  return s;
}

/// A sender whose every call fails retryably (HTTP 503): a provider that is
/// down.
sender_actor::behavior_type failing_sender(sender_actor::pointer,
                                           std::shared_ptr<int> calls) {
  return {
    [calls](atom::deliver, const delivery_job& job) -> attempt_report {
      ++*calls;
      attempt_report out;
      out.id = job.n.id;
      out.tenant_id = job.n.tenant_id;
      out.fence = job.fence;
      out.outcome = attempt_result::failed;
      out.retryable = true;
      out.http_status = 503;
      out.error = "HTTP 503";
      return out;
    },
  };
}

sender_factory failing_factory(std::shared_ptr<int> calls) {
  return [calls](caf::local_actor* parent) {
    return parent->spawn(failing_sender, calls);
  };
}

/// A job of a provider channel; the fake sender reads its body.
delivery_job channel_job(const std::string& id, const std::string& channel,
                         const std::string& to, const std::string& cmd = "ok") {
  auto j = make_job(id, channel);
  j.n.to = to;
  j.n.body = cmd;
  j.fence = 7;
  return j;
}

struct fixture : test_coordinator_fixture<herald_actor_config> {
  std::shared_ptr<sender_script> script = std::make_shared<sender_script>();
  dispatcher_actor disp;
  sender_pool_actor pool;
  std::vector<caf::actor> watchers;

  fixture() {
    disp = sys.spawn(fake_dispatcher);
  }

  ~fixture() {
    if (pool)
      self->send_exit(pool, caf::exit_reason::user_shutdown);
    self->send_exit(disp, caf::exit_reason::user_shutdown);
    for (auto& w : watchers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    drain();
  }

  /// A named provider of `channel` with the test's supervisor settings.
  named_provider provider(const std::string& name, const std::string& kind,
                          const std::string& channel, sender_factory f) {
    named_provider np;
    np.name = name;
    np.kind = kind;
    np.settings = provider_settings_of(test_settings(), name);
    np.settings.channel = channel;
    np.factory = std::move(f);
    return np;
  }

  void start(sender_pool_settings s = test_settings()) {
    pool = sys.spawn(sender_pool, disp, sender_factory{fake_sender_factory(script)},
                     s);
    drain();
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  void deliver(const delivery_job& job) {
    self->send(pool, atom::deliver_v, job);
  }

  template <class Handle>
  std::shared_ptr<down_record> watch(const Handle& hdl) {
    return test::watch(sys, hdl, watchers);
  }

  std::vector<attempt_report>& outcomes() {
    return state_of<fake_dispatcher_state>(*this, disp).outcomes;
  }

  sender_pool_state& pool_state() {
    return state_of<sender_pool_state>(*this, pool);
  }

  provider_actor supervisor(const std::string& key) {
    auto& ps = pool_state().providers;
    auto i = ps.find(key);
    return i == ps.end() ? provider_actor{} : i->second.hdl;
  }

  size_t held() {
    size_t n = 0;
    for (auto& [key, c] : pool_state().providers)
      n += c.held.size();
    return n;
  }

  size_t count(const std::string& outcome, const std::string& provider = "") {
    size_t n = 0;
    for (auto& o : outcomes())
      n += to_string(o.outcome) == outcome && (provider.empty() || o.provider == provider);
    return n;
  }

  std::vector<breaker_info> breakers() {
    auto res = ask<std::vector<breaker_info>>(sys, pool, atom::breakers_v);
    drain();
    CAF_REQUIRE(*res);
    return **res;
  }
};

} // namespace

CAF_TEST(provider keys) {
  CAF_CHECK_EQUAL(provider_key(scripted_job("x", "http://Host:80")),
                  "http://host:80");
  CAF_CHECK_EQUAL(provider_key(scripted_job("x", "https://h")), "https://h:443");
  auto bad = scripted_job("x", "ftp://h");
  CAF_CHECK_EQUAL(provider_key(bad), "webhook");
  auto sms = make_job("x", "sms");
  CAF_CHECK_EQUAL(provider_key(sms), "sms");
  sms.n.provider = "twilio";
  CAF_CHECK_EQUAL(provider_key(sms), "twilio");
}

CAF_TEST(webhook outcomes are classified) {
  auto job = scripted_job("x", a);
  post_result ok;
  ok.http_status = 204;
  auto out = webhook_outcome(job, "n1", a, ok);
  CAF_CHECK_EQUAL(to_string(out.outcome), "delivered");
  CAF_CHECK_EQUAL(out.error, "");
  CAF_CHECK_EQUAL(out.provider, a);
  CAF_CHECK_EQUAL(out.fence, 7);
  post_result busy;
  busy.http_status = 429;
  busy.retry_after_ms = 3000;
  out = webhook_outcome(job, "n1", a, busy);
  CAF_CHECK_EQUAL(to_string(out.outcome), "failed");
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.retry_after_ms, 3000);
  CAF_CHECK_EQUAL(out.error, "HTTP 429: too many requests");
  post_result gone;
  gone.http_status = 410;
  out = webhook_outcome(job, "n1", a, gone);
  CAF_CHECK_EQUAL(to_string(out.outcome), "failed");
  CAF_CHECK(!out.retryable);
  CAF_CHECK_EQUAL(out.retry_after_ms, -1);
  CAF_CHECK_EQUAL(out.error, "HTTP 410");
  post_result timeout;
  timeout.timed_out = true;
  timeout.error = "no answer within 10000 ms";
  out = webhook_outcome(job, "n1", a, timeout);
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.error, "no answer within 10000 ms");
  post_result refused;
  refused.error = "Could not establish connection";
  out = webhook_outcome(job, "n1", a, refused);
  CAF_CHECK(out.retryable);
  CAF_CHECK_EQUAL(out.http_status, 0);
  CAF_CHECK_EQUAL(webhook_unsendable(job), "");
  CAF_CHECK_EQUAL(webhook_unsendable(scripted_job("x", "not a url")),
                  "invalid webhook URL");
  CAF_CHECK(!webhook_unsendable(make_job("x", "sms")).empty());
  out = webhook_refused(job, "n1", "invalid webhook URL");
  CAF_CHECK_EQUAL(to_string(out.outcome), "failed");
  CAF_CHECK(!out.retryable);
  CAF_CHECK_EQUAL(out.error, "invalid webhook URL");
}

CAF_TEST_FIXTURE_SCOPE(sender_pool_tests, fixture)

CAF_TEST(jobs go to one supervisor per provider and outcomes to the dispatcher) {
  start();
  deliver(scripted_job("a1", a));
  deliver(scripted_job("b1", b));
  deliver(scripted_job("a2", a));
  drain();
  CAF_CHECK_EQUAL(pool_state().providers.size(), 2u);
  CAF_CHECK_EQUAL(pool_state().spawned, 2u);
  CAF_REQUIRE_EQUAL(outcomes().size(), 3u);
  CAF_CHECK_EQUAL(count("delivered", a), 2u);
  CAF_CHECK_EQUAL(count("delivered", b), 1u);
  CAF_CHECK_EQUAL(held(), 0u);
  CAF_CHECK_EQUAL(pool_state().routed, 3u);
  CAF_CHECK_EQUAL(pool_state().outcomes, 3u);
}

CAF_TEST(a dead endpoint does not delay another) {
  auto s = test_settings();
  s.senders_per_provider = 1;
  start(s);
  for (int i = 0; i < 5; ++i) {
    deliver(scripted_job("a" + std::to_string(i), a, i == 0 ? "hold" : "ok"));
    deliver(scripted_job("b" + std::to_string(i), b));
  }
  drain();
  // a's only sender is stuck in its first call; b's jobs all went through.
  CAF_CHECK_EQUAL(count("delivered", b), 5u);
  CAF_CHECK_EQUAL(count("delivered", a), 0u);
  CAF_CHECK_EQUAL(held(), 5u);
  // a's endpoint fails from now on: its breaker opens, b's stays closed.
  for (int i = 0; i < 5; ++i)
    deliver(scripted_job("f" + std::to_string(i), a, "fail"));
  release(self, *script);
  drain();
  CAF_CHECK_EQUAL(count("delivered", a), 5u);
  CAF_CHECK_EQUAL(count("failed", a), 5u);
  auto xs = breakers();
  CAF_REQUIRE_EQUAL(xs.size(), 2u);
  CAF_CHECK_EQUAL(xs[0].provider, a);
  CAF_CHECK_EQUAL(xs[0].state, "open");
  CAF_CHECK_EQUAL(xs[1].provider, b);
  CAF_CHECK_EQUAL(xs[1].state, "closed");
  deliver(scripted_job("a9", a));
  deliver(scripted_job("b9", b));
  drain();
  CAF_CHECK_EQUAL(outcomes().back().id, "b9");
  CAF_CHECK_EQUAL(count("deferred", a), 1u);
  CAF_CHECK_EQUAL(count("delivered", b), 6u);
  CAF_CHECK_EQUAL(held(), 0u);
}

CAF_TEST(a failed supervisor is restarted and its jobs delivered by the new one) {
  auto s = test_settings();
  s.sender_restarts.max_restarts = 1;
  s.max_job_crashes = 10;
  start(s);
  script->crashes["x"] = 2; // the second crash escalates
  deliver(scripted_job("x", a));
  deliver(scripted_job("y", a, "hold")); // in flight when it fails
  drain();
  CAF_CHECK_EQUAL(pool_state().restarts, 1u);
  CAF_CHECK_EQUAL(pool_state().spawned, 2u);
  release(self, *script);
  drain();
  // Both jobs finished exactly once, by the replacement.
  CAF_REQUIRE_EQUAL(outcomes().size(), 2u);
  CAF_CHECK_EQUAL(count("delivered", a), 2u);
  CAF_CHECK_EQUAL(held(), 0u);
  CAF_CHECK_EQUAL(pool_state().providers.size(), 1u);
}

CAF_TEST(past its restart intensity the pool escalates) {
  auto s = test_settings();
  s.sender_restarts.max_restarts = 0;  // a supervisor fails on its first crash
  s.provider_restarts.max_restarts = 2;
  s.max_job_crashes = 10;
  start(s);
  auto down = watch(pool);
  deliver(scripted_job("x", a, "crash"));
  drain();
  CAF_REQUIRE(down->down);
  CAF_CHECK(is(down->reason, ec::unavailable));
  CAF_CHECK_EQUAL(script->calls, 3); // two restarts, the third failure escalates
  CAF_CHECK(outcomes().empty());
  // The pool took its supervisors (and their senders) with it.
  for (auto& sender : script->senders) {
    auto d = watch(sender);
    drain();
    CAF_CHECK(d->down);
  }
}

CAF_TEST(an idle supervisor is forgotten and a new one spawned when needed) {
  auto s = test_settings();
  s.idle_timeout = 1min;
  start(s);
  deliver(scripted_job("a1", a));
  drain();
  advance_time(1min);
  drain();
  advance_time(1min);
  drain();
  CAF_CHECK(pool_state().providers.empty());
  CAF_CHECK_EQUAL(pool_state().stopped, 1u);
  CAF_CHECK_EQUAL(pool_state().restarts, 0u);
  deliver(scripted_job("a2", a));
  drain();
  CAF_CHECK_EQUAL(pool_state().spawned, 2u);
  CAF_CHECK_EQUAL(count("delivered", a), 2u);
}

CAF_TEST(a job racing with an idle stop is handed to a new supervisor) {
  auto s = test_settings();
  s.idle_timeout = 1min;
  start(s);
  deliver(scripted_job("a1", a));
  drain();
  advance_time(1min);
  drain();
  advance_time(1min); // the supervisor's idle check is due
  // The pool routes a2 before the supervisor handles its idle check.
  deliver(scripted_job("a2", a));
  expect((atom::deliver, delivery_job), from(self).to(pool));
  drain();
  CAF_CHECK_EQUAL(pool_state().stopped, 1u);
  CAF_CHECK_EQUAL(pool_state().spawned, 2u);
  CAF_CHECK_EQUAL(count("delivered", a), 2u);
  CAF_CHECK_EQUAL(held(), 0u);
}

CAF_TEST(reset closes a known provider breaker and refuses an unknown one) {
  start();
  for (int i = 0; i < 5; ++i)
    deliver(scripted_job("f" + std::to_string(i), a, "fail"));
  drain();
  CAF_CHECK_EQUAL(breakers().at(0).state, "open");
  auto unknown = ask<bool>(sys, pool, atom::reset_v, std::string{"http://c:3"});
  auto known = ask<bool>(sys, pool, atom::reset_v, a);
  drain();
  CAF_REQUIRE(*unknown);
  CAF_CHECK(!**unknown);
  CAF_REQUIRE(*known);
  CAF_CHECK(**known);
  CAF_CHECK_EQUAL(breakers().at(0).state, "closed");
}

CAF_TEST(drain answers the union of the jobs not started) {
  auto s = test_settings();
  s.senders_per_provider = 1;
  start(s);
  deliver(scripted_job("a1", a, "hold"));
  deliver(scripted_job("a2", a));
  deliver(scripted_job("b1", b, "hold"));
  deliver(scripted_job("b2", b));
  deliver(scripted_job("b3", b));
  drain();
  auto unsent = ask<std::vector<delivery_job>>(sys, pool, atom::drain_v);
  drain();
  CAF_CHECK(!*unsent);
  deliver(scripted_job("c1", "http://c:3")); // after the drain began
  drain();
  release(self, *script);
  drain();
  CAF_REQUIRE(*unsent);
  std::vector<std::string> ids;
  for (auto& j : **unsent)
    ids.push_back(j.n.id);
  std::sort(ids.begin(), ids.end());
  CAF_CHECK_EQUAL(ids, (std::vector<std::string>{"a2", "b2", "b3", "c1"}));
  CAF_CHECK_EQUAL(count("delivered"), 2u); // a1, b1 finished
  CAF_CHECK_EQUAL(held(), 0u);
}

CAF_TEST(inspect summarises the pool) {
  start();
  deliver(scripted_job("a1", a));
  drain();
  auto info = ask<actor_info>(sys, pool, atom::inspect_v);
  drain();
  CAF_REQUIRE(*info);
  CAF_CHECK_EQUAL((*info)->kind, "sender-pool");
  CAF_CHECK_EQUAL((*info)->key, "webhook");
  CAF_CHECK((*info)->state.find("\"providers\":1") != std::string::npos);
  CAF_CHECK((*info)->state.find("\"restarts\":0") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST_FIXTURE_SCOPE(named_provider_tests, fixture)

CAF_TEST(push jobs go to the provider kind their address needs) {
  CAF_CHECK(provider_accepts("fcm", channel_job("x", "push", "tok-1")));
  CAF_CHECK(!provider_accepts("webpush", channel_job("x", "push", "tok-1")));
  auto sub = channel_job("x", "push", R"({"endpoint":"https://p/1"})");
  CAF_CHECK(provider_accepts("webpush", sub));
  CAF_CHECK(!provider_accepts("fcm", sub));
  CAF_CHECK(provider_accepts("smtp", channel_job("x", "email", "a@b.example")));
}

CAF_TEST(jobs go to the first provider while its breaker is closed) {
  auto s = test_settings();
  s.channel = "sms";
  s.named.push_back(provider("p1", "twilio", "sms", fake_sender_factory(script)));
  s.named.push_back(provider("p2", "twilio", "sms", fake_sender_factory(script)));
  start(s);
  for (int i = 0; i < 3; ++i)
    deliver(channel_job("j" + std::to_string(i), "sms", "+15550001"));
  drain();
  CAF_CHECK_EQUAL(count("delivered", "p1"), 3u);
  CAF_CHECK_EQUAL(count("delivered", "p2"), 0u);
  CAF_CHECK_EQUAL(pool_state().failovers, 0u);
}

CAF_TEST(while the first provider is open its work fails over without an attempt against it) {
  auto down_calls = std::make_shared<int>(0);
  auto s = test_settings();
  s.channel = "sms";
  s.named.push_back(provider("p1", "twilio", "sms", failing_factory(down_calls)));
  s.named.push_back(provider("p2", "twilio", "sms", fake_sender_factory(script)));
  start(s);
  for (int i = 0; i < 5; ++i)
    deliver(channel_job("f" + std::to_string(i), "sms", "+15550001"));
  drain();
  // Five real attempts against p1 (counted, retryable): its breaker opens.
  CAF_CHECK_EQUAL(*down_calls, 5);
  CAF_CHECK_EQUAL(count("failed", "p1"), 5u);
  for (int i = 0; i < 4; ++i)
    deliver(channel_job("g" + std::to_string(i), "sms", "+15550001"));
  drain();
  // No further call to p1, nothing deferred to the dispatcher: p2 took them.
  CAF_CHECK_EQUAL(*down_calls, 5);
  CAF_CHECK_EQUAL(count("delivered", "p2"), 4u);
  CAF_CHECK_EQUAL(count("deferred"), 0u);
  CAF_CHECK_EQUAL(pool_state().failovers, 4u);
  CAF_CHECK_EQUAL(held(), 0u);
  // After p1's cool-down the next job is its half-open probe: a real
  // attempt, which fails and opens p1 again.
  advance_time(10s);
  deliver(channel_job("h", "sms", "+15550001"));
  drain();
  CAF_CHECK_EQUAL(*down_calls, 6); // the half-open probe
  CAF_CHECK_EQUAL(count("failed", "p1"), 6u);
}

CAF_TEST(when every provider is open the dispatcher gets one deferral) {
  auto calls = std::make_shared<int>(0);
  auto s = test_settings();
  s.channel = "sms";
  s.named.push_back(provider("p1", "twilio", "sms", failing_factory(calls)));
  s.named.push_back(provider("p2", "twilio", "sms", failing_factory(calls)));
  start(s);
  // p1 trips on five jobs; the next five go to p2 (p1 open) and trip it.
  for (int i = 0; i < 10; ++i) {
    deliver(channel_job("f" + std::to_string(i), "sms", "+15550001"));
    drain();
  }
  CAF_CHECK_EQUAL(count("failed", "p1"), 5u);
  CAF_CHECK_EQUAL(count("failed", "p2"), 5u);
  deliver(channel_job("x", "sms", "+15550001"));
  drain();
  CAF_CHECK_EQUAL(*calls, 10);
  CAF_REQUIRE_EQUAL(count("deferred"), 1u);
  auto& x = outcomes().back();
  CAF_CHECK_EQUAL(x.id, "x");
  CAF_CHECK(x.retry_after_ms > 0);
  CAF_CHECK(x.retry_after_ms <= 10000);
  CAF_CHECK(pool_state().deferred_by.empty());
}

CAF_TEST(a pinned provider is used alone and an unknown one is refused) {
  auto s = test_settings();
  s.channel = "sms";
  s.named.push_back(provider("p1", "twilio", "sms", fake_sender_factory(script)));
  s.named.push_back(provider("p2", "twilio", "sms", fake_sender_factory(script)));
  start(s);
  auto pinned = channel_job("a", "sms", "+15550001");
  pinned.n.provider = "p2";
  deliver(pinned);
  auto unknown = channel_job("b", "sms", "+15550001");
  unknown.n.provider = "p9";
  deliver(unknown);
  drain();
  CAF_CHECK_EQUAL(count("delivered", "p2"), 1u);
  CAF_REQUIRE_EQUAL(count("failed"), 1u);
  auto& b = *std::find_if(outcomes().begin(), outcomes().end(),
                          [](auto& o) { return o.outcome == attempt_result::failed; });
  CAF_CHECK_EQUAL(b.id, "b");
  CAF_CHECK(!b.retryable);
  CAF_CHECK_EQUAL(b.error, "provider p9 does not serve channel sms on this node");
}

CAF_TEST(a push subscription goes to the web push provider) {
  auto s = test_settings();
  s.channel = "push";
  s.named.push_back(provider("fcm1", "fcm", "push", fake_sender_factory(script)));
  s.named.push_back(provider("wp1", "webpush", "push", fake_sender_factory(script)));
  start(s);
  deliver(channel_job("t", "push", "token-1"));
  deliver(channel_job("w", "push", R"({"endpoint":"https://p/1","keys":{}})"));
  drain();
  CAF_CHECK_EQUAL(count("delivered", "fcm1"), 1u);
  CAF_CHECK_EQUAL(count("delivered", "wp1"), 1u);
  CAF_CHECK_EQUAL(pool_state().failovers, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
