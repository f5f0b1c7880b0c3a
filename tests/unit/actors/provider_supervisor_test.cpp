// herald-test-links: herald_actors
// The provider supervisor in virtual time with scripted fake senders:
// delivery, crashed and hung senders (job re-queued, sender replaced),
// escalation past the restart intensity, poison jobs, the breaker (trip,
// deferred without calls, a single half-open probe, reopen, reset, 4xx not
// counted), drain and idle stop.
#define CAF_SUITE provider_supervisor

#include <algorithm>

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "core/error.hpp"
#include "actors/provider_supervisor.hpp"
#include "support/fake_sender.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

/// What a stand-in actor tells the admin endpoint.
actor_info fake_info(const char* kind) {
  actor_info x;
  x.kind = kind;
  x.state = "{}";
  return x;
}

const std::string ep = "http://a:1";

struct fake_pool_state {
  static inline const char* name = "fake-pool";
  std::vector<attempt_report> outcomes;
};

/// Stands in for the sender pool: records what the supervisor reports.
sender_pool_actor::behavior_type
fake_pool(sender_pool_actor::stateful_pointer<fake_pool_state> self) {
  return {
    [](atom::inspect) { return fake_info("fake-pool"); },
    [](atom::deliver, delivery_job&) {},
    [self](atom::outcome, attempt_report& out) {
      self->state.outcomes.push_back(std::move(out));
    },
    [](atom::breakers) -> std::vector<breaker_info> { return {}; },
    [](atom::reset, const std::string&) -> bool { return false; },
    [](atom::drain) -> std::vector<delivery_job> { return {}; },
  };
}

provider_settings test_settings() {
  provider_settings s;
  s.channel = "webhook";
  s.provider = ep;
  s.node = "n1";
  s.senders = 2;
  s.call_timeout = 2s;
  s.breaker.failure_threshold = 5;
  s.breaker.min_calls = 1000;
  s.breaker.open_timeout = 10s;
  s.breaker.max_open_timeout = 40s;
  s.restarts.max_restarts = 5;
  s.restarts.window = 60s;
  s.idle_timeout = caf::timespan::zero();
  return s;
}

struct fixture : test_coordinator_fixture<herald_actor_config> {
  std::shared_ptr<sender_script> script = std::make_shared<sender_script>();
  sender_pool_actor pool;
  provider_actor sup;
  std::vector<caf::actor> watchers;

  fixture() {
    pool = sys.spawn(fake_pool);
  }

  ~fixture() {
    if (sup)
      self->send_exit(sup, caf::exit_reason::user_shutdown);
    self->send_exit(pool, caf::exit_reason::user_shutdown);
    for (auto& w : watchers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    drain();
  }

  void start(provider_settings s = test_settings()) {
    sup = sys.spawn(provider_supervisor, pool, fake_sender_factory(script), s);
    drain();
  }

  template <class Handle>
  std::shared_ptr<down_record> watch(const Handle& hdl) {
    return test::watch(sys, hdl, watchers);
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  void deliver(const delivery_job& job) {
    self->send(sup, atom::deliver_v, job);
  }

  std::vector<attempt_report>& outcomes() {
    return state_of<fake_pool_state>(*this, pool).outcomes;
  }

  provider_supervisor_state& sup_state() {
    return state_of<provider_supervisor_state>(*this, sup);
  }

  size_t count(const std::string& outcome) {
    size_t n = 0;
    for (auto& o : outcomes())
      n += to_string(o.outcome) == outcome ? 1 : 0;
    return n;
  }

  breaker_info breaker() {
    auto res = ask<breaker_info>(sys, sup, atom::breakers_v);
    drain();
    CAF_REQUIRE(*res);
    return **res;
  }

  /// Trips the breaker with five retryable failures.
  void trip() {
    for (int i = 0; i < 5; ++i)
      deliver(scripted_job("f" + std::to_string(i), ep, "fail"));
    drain();
    CAF_REQUIRE_EQUAL(breaker().state, "open");
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(provider_supervisor_tests, fixture)

CAF_TEST(jobs are delivered and their outcomes reported to the pool) {
  start();
  for (auto id : {"a", "b", "c", "d"})
    deliver(scripted_job(id, ep));
  drain();
  CAF_REQUIRE_EQUAL(outcomes().size(), 4u);
  CAF_CHECK_EQUAL(count("delivered"), 4u);
  CAF_CHECK_EQUAL(outcomes()[0].provider, ep);
  CAF_CHECK_EQUAL(outcomes()[0].fence, 7);
  // Senders are spawned as work arrives, at most settings.senders.
  CAF_CHECK_EQUAL(script->spawned, 2);
  CAF_CHECK(sup_state().busy.empty());
  CAF_CHECK(sup_state().queue.empty());
  CAF_CHECK_EQUAL(sup_state().idle.size(), 2u);
}

CAF_TEST(a crashed sender is replaced and its job delivered by the replacement) {
  start();
  script->crashes["a"] = 1;
  deliver(scripted_job("a", ep));
  deliver(scripted_job("b", ep));
  drain();
  // The crash is not an outcome: "a" is re-queued, delivered once.
  CAF_REQUIRE_EQUAL(outcomes().size(), 2u);
  CAF_CHECK_EQUAL(count("delivered"), 2u);
  CAF_CHECK_EQUAL(std::count(script->seen.begin(), script->seen.end(), "a"), 2);
  CAF_CHECK_EQUAL(sup_state().restarts, 1u);
  CAF_CHECK_EQUAL(sup_state().requeued, 1u);
  CAF_CHECK_EQUAL(script->spawned, 3);
  CAF_CHECK_EQUAL(sup_state().senders->size(), 2u);
  CAF_CHECK_EQUAL(breaker().restarts, 1);
  // A crash says nothing about the provider.
  CAF_CHECK_EQUAL(breaker().consecutive_failures, 0);
}

CAF_TEST(a hung sender times out and its job is re-queued) {
  start();
  script->hangs["a"] = 1;
  deliver(scripted_job("a", ep));
  drain();
  CAF_CHECK(outcomes().empty());
  CAF_CHECK_EQUAL(sup_state().busy.size(), 1u);
  advance_time(2s); // call_timeout
  drain();
  CAF_REQUIRE_EQUAL(outcomes().size(), 1u);
  CAF_CHECK_EQUAL(to_string(outcomes()[0].outcome), "delivered");
  CAF_CHECK_EQUAL(sup_state().restarts, 1u);
  CAF_CHECK(sup_state().busy.empty());
}

CAF_TEST(past the restart intensity the supervisor escalates) {
  auto s = test_settings();
  s.restarts.max_restarts = 2;
  s.max_job_crashes = 100;
  start(s);
  auto down = watch(sup);
  deliver(scripted_job("a", ep, "crash"));
  drain();
  CAF_REQUIRE(down->down);
  CAF_CHECK(is(down->reason, ec::unavailable));
  CAF_CHECK_EQUAL(script->calls, 3); // two restarts allowed, the third escalates
  CAF_CHECK(outcomes().empty());     // the pool takes the job over
}

CAF_TEST(a poison job is answered failed instead of re-queued forever) {
  start(); // max_job_crashes 3, restarts 5
  auto down = watch(sup);
  deliver(scripted_job("a", ep, "crash"));
  deliver(scripted_job("b", ep));
  drain();
  CAF_CHECK(!down->down);
  CAF_REQUIRE_EQUAL(outcomes().size(), 2u);
  auto& a = outcomes()[0].id == "a" ? outcomes()[0] : outcomes()[1];
  CAF_CHECK_EQUAL(to_string(a.outcome), "failed");
  CAF_CHECK(a.retryable);
  CAF_CHECK(a.error.find("sender failed 3 times") != std::string::npos);
  CAF_CHECK_EQUAL(count("delivered"), 1u);
  CAF_CHECK_EQUAL(sup_state().restarts, 3u);
}

CAF_TEST(an open breaker defers jobs without calling the sender) {
  start();
  trip();
  CAF_CHECK_EQUAL(count("failed"), 5u);
  auto calls = script->calls;
  deliver(scripted_job("x", ep));
  deliver(scripted_job("y", ep));
  drain();
  CAF_CHECK_EQUAL(script->calls, calls);
  CAF_REQUIRE_EQUAL(count("deferred"), 2u);
  auto& x = outcomes()[5];
  CAF_CHECK_EQUAL(x.id, "x");
  CAF_CHECK_EQUAL(to_string(x.outcome), "deferred");
  CAF_CHECK_EQUAL(x.error, "breaker open");
  CAF_CHECK_EQUAL(x.provider, ep);
  CAF_CHECK_EQUAL(x.retry_after_ms, 10000);
  CAF_CHECK_EQUAL(x.fence, 7);
  auto b = breaker();
  CAF_CHECK_EQUAL(b.provider, ep);
  CAF_CHECK_EQUAL(b.channel, "webhook");
  CAF_CHECK_EQUAL(b.last_trip, "consecutive_failures");
  CAF_CHECK_EQUAL(b.open_for_ms, 10000);
  CAF_CHECK_EQUAL(b.trips, 1);
  CAF_CHECK_EQUAL(b.deferred, 2);
  CAF_CHECK_EQUAL(b.rejected, 2);
  advance_time(4s);
  deliver(scripted_job("z", ep));
  drain();
  CAF_CHECK_EQUAL(outcomes().back().retry_after_ms, 6000);
}

CAF_TEST(jobs queued when the breaker opens are deferred) {
  auto s = test_settings();
  s.senders = 1;
  start(s);
  for (int i = 0; i < 5; ++i)
    deliver(scripted_job("f" + std::to_string(i), ep, "fail"));
  deliver(scripted_job("q1", ep));
  deliver(scripted_job("q2", ep));
  drain();
  // One sender: q1 and q2 waited behind the failures and were never sent.
  CAF_CHECK_EQUAL(script->calls, 5);
  CAF_CHECK_EQUAL(count("deferred"), 2u);
  CAF_CHECK(sup_state().queue.empty());
}

CAF_TEST(after the cool-down a single probe goes out and its success closes) {
  start();
  trip();
  advance_time(10s);
  drain();
  auto calls = script->calls;
  deliver(scripted_job("p", ep, "hold"));
  deliver(scripted_job("w1", ep));
  deliver(scripted_job("w2", ep));
  drain();
  CAF_CHECK_EQUAL(script->calls, calls + 1); // only the probe
  CAF_CHECK_EQUAL(breaker().state, "half_open");
  CAF_CHECK_EQUAL(sup_state().queue.size(), 2u);
  CAF_CHECK_EQUAL(count("deferred"), 0u);
  release(self, *script);
  drain();
  CAF_CHECK_EQUAL(breaker().state, "closed");
  CAF_CHECK_EQUAL(count("delivered"), 3u);
  CAF_CHECK(sup_state().queue.empty());
}

CAF_TEST(a failed probe reopens the breaker and defers what waited) {
  start();
  trip();
  advance_time(10s);
  deliver(scripted_job("p", ep, "fail"));
  deliver(scripted_job("w1", ep));
  drain();
  auto b = breaker();
  CAF_CHECK_EQUAL(b.state, "open");
  CAF_CHECK_EQUAL(b.last_trip, "probe_failed");
  CAF_CHECK_EQUAL(b.open_for_ms, 20000); // doubled
  CAF_CHECK_EQUAL(count("deferred"), 1u);
  CAF_CHECK_EQUAL(outcomes().back().id, "w1");
  CAF_CHECK_EQUAL(outcomes().back().retry_after_ms, 20000);
}

CAF_TEST(a probe lost with its sender lets the next probe out) {
  start();
  trip();
  advance_time(10s);
  script->crashes["p"] = 1;
  deliver(scripted_job("p", ep));
  deliver(scripted_job("w", ep));
  drain();
  CAF_CHECK_EQUAL(breaker().state, "closed");
  CAF_CHECK_EQUAL(count("delivered"), 2u);
}

CAF_TEST(reset closes the breaker) {
  start();
  trip();
  auto ok = ask<bool>(sys, sup, atom::reset_v);
  drain();
  CAF_REQUIRE(*ok);
  CAF_CHECK(**ok);
  CAF_CHECK_EQUAL(breaker().state, "closed");
  deliver(scripted_job("a", ep));
  drain();
  CAF_CHECK_EQUAL(count("delivered"), 1u);
  CAF_CHECK_EQUAL(count("deferred"), 0u);
}

CAF_TEST(permanent failures do not trip the breaker) {
  start();
  for (int i = 0; i < 10; ++i)
    deliver(scripted_job("p" + std::to_string(i), ep, "perm"));
  drain();
  CAF_CHECK_EQUAL(count("failed"), 10u);
  auto b = breaker();
  CAF_CHECK_EQUAL(b.state, "closed");
  CAF_CHECK_EQUAL(b.consecutive_failures, 0);
  CAF_CHECK_EQUAL(b.trips, 0);
}

CAF_TEST(drain hands back queued jobs once in-flight ones finish) {
  auto s = test_settings();
  s.senders = 1;
  start(s);
  deliver(scripted_job("a", ep, "hold"));
  deliver(scripted_job("b", ep));
  deliver(scripted_job("c", ep));
  drain();
  auto unsent = ask<std::vector<delivery_job>>(sys, sup, atom::drain_v);
  drain();
  CAF_CHECK(!*unsent); // "a" is still in flight
  deliver(scripted_job("d", ep)); // arrives while draining: handed back too
  drain();
  release(self, *script);
  drain();
  CAF_REQUIRE(*unsent);
  CAF_REQUIRE_EQUAL((*unsent)->size(), 3u);
  CAF_CHECK_EQUAL((*unsent)->at(0).n.id, "b");
  CAF_CHECK_EQUAL((*unsent)->at(2).n.id, "d");
  CAF_REQUIRE_EQUAL(outcomes().size(), 1u);
  CAF_CHECK_EQUAL(outcomes()[0].id, "a");
}

CAF_TEST(an idle supervisor stops and takes its senders with it) {
  auto s = test_settings();
  s.idle_timeout = 1min;
  start(s);
  auto down = watch(sup);
  deliver(scripted_job("a", ep));
  drain();
  CAF_REQUIRE_EQUAL(script->senders.size(), 1u);
  auto sender_down = watch(script->senders[0]);
  advance_time(1min); // active since the last check
  drain();
  CAF_CHECK(!down->down);
  advance_time(1min);
  drain();
  CAF_REQUIRE(down->down);
  CAF_CHECK(!down->reason);
  CAF_CHECK(sender_down->down);
}

CAF_TEST(an open breaker keeps the supervisor from stopping) {
  auto s = test_settings();
  s.idle_timeout = 1min;
  s.breaker.open_timeout = 5min;
  s.breaker.max_open_timeout = 5min;
  start(s);
  auto down = watch(sup);
  trip();
  advance_time(1min);
  drain();
  advance_time(1min);
  drain();
  CAF_CHECK(!down->down);
  advance_time(3min); // half-open now, still nothing to do
  drain();
  advance_time(1min);
  drain();
  CAF_CHECK(down->down);
}

CAF_TEST(inspect reports the provider) {
  start();
  auto info = ask<actor_info>(sys, sup, atom::inspect_v);
  drain();
  CAF_REQUIRE(*info);
  CAF_CHECK_EQUAL((*info)->kind, "provider-supervisor");
  CAF_CHECK_EQUAL((*info)->key, ep);
  CAF_CHECK((*info)->state.find("\"breaker\":\"closed\"") != std::string::npos);
}

CAF_TEST(the outbound quota spaces calls out to its rate) {
  auto s = test_settings();
  s.senders = 8;
  s.rate_per_sec = 2;
  s.burst = 2;
  start(s);
  for (int i = 0; i < 6; ++i)
    deliver(scripted_job("q" + std::to_string(i), ep));
  drain();
  // The bucket starts full: the burst goes out, the rest waits.
  CAF_CHECK_EQUAL(script->calls, 2);
  CAF_CHECK_EQUAL(sup_state().queue.size(), 4u);
  advance_time(499ms);
  drain();
  CAF_CHECK_EQUAL(script->calls, 2);
  advance_time(1ms);
  drain();
  CAF_CHECK_EQUAL(script->calls, 3);
  advance_time(500ms);
  drain();
  CAF_CHECK_EQUAL(script->calls, 4);
  advance_time(1s);
  drain();
  CAF_CHECK_EQUAL(script->calls, 6);
  CAF_CHECK_EQUAL(count("delivered"), 6u);
  CAF_CHECK_EQUAL(count("deferred"), 0u);
  CAF_CHECK(sup_state().throttled > 0u);
}

CAF_TEST(without a quota every sender is used at once) {
  auto s = test_settings();
  s.senders = 8;
  start(s);
  for (int i = 0; i < 6; ++i)
    deliver(scripted_job("q" + std::to_string(i), ep, "hold"));
  drain();
  CAF_CHECK_EQUAL(script->holding, 6);
  CAF_CHECK_EQUAL(sup_state().throttled, 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
