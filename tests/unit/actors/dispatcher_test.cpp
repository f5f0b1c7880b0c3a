// The dispatcher: routing to pools, batched outcome recording with retry,
// sweeping (claims), capacity accounting and drain; the outcome policy at
// work (retries on the retry scheduler's timers, dead letters, deferrals,
// cancel).
#define CAF_SUITE dispatcher

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include <deque>
#include <map>

#include "actors/dispatcher.hpp"
#include "http/codec.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;

namespace {

/// What a stand-in actor tells the admin endpoint.
actor_info fake_info(const char* kind) {
  actor_info x;
  x.kind = kind;
  x.state = "{}";
  return x;
}

struct fake_pool_state {
  static inline const char* name = "fake-pool";
  dispatcher_actor dispatcher;
  std::vector<std::string> delivered; // ids, in arrival order
  /// Scripted answers per id, used up in order; "delivered" when none left.
  std::map<std::string, std::deque<attempt_report>> script;
};

attempt_report failed(bool retryable, int32_t status = 503) {
  attempt_report out;
  out.outcome = attempt_result::failed;
  out.retryable = retryable;
  out.http_status = status;
  return out;
}

attempt_report deferred(int64_t cool_down_ms) {
  attempt_report out;
  out.outcome = attempt_result::deferred;
  out.retry_after_ms = cool_down_ms;
  out.error = "breaker open";
  return out;
}

/// A pool whose "senders" answer at once: as scripted, else delivered.
sender_pool_actor::behavior_type
fake_pool(sender_pool_actor::stateful_pointer<fake_pool_state> self,
          dispatcher_actor d) {
  self->state.dispatcher = d;
  return {
    [](atom::inspect) { return fake_info("fake-pool"); },
    [self](atom::deliver, delivery_job& job) {
      self->state.delivered.push_back(job.n.id);
      attempt_report out;
      out.outcome = attempt_result::delivered;
      out.http_status = 200;
      auto& q = self->state.script[job.n.id];
      if (!q.empty()) {
        out = q.front();
        q.pop_front();
      }
      out.id = job.n.id;
      out.fence = job.fence;
      self->send(self->state.dispatcher, atom::outcome_v, std::move(out));
    },
    [](atom::drain) -> std::vector<delivery_job> { return {}; },
    [](atom::outcome, const attempt_report&) {},
    [](atom::breakers) -> std::vector<breaker_info> { return {}; },
    [](atom::reset, const std::string&) -> bool { return false; },
  };
}

struct fixture : test_coordinator_fixture<herald_actor_config> {
  store_actor store;
  dispatcher_actor disp;
  sender_pool_actor pool;

  fixture() {
    store = sys.spawn(fake_store);
    std::map<std::string, pool_factory> pools;
    pools["webhook"] = [this](caf::local_actor* parent, dispatcher_actor d) {
      pool = parent->spawn(fake_pool, d);
      return pool;
    };
    dispatcher_settings ds;
    ds.node = "n1";
    ds.capacity = 10;
    ds.claim_batch = 4;
    ds.outcomes.fallback = {std::chrono::milliseconds{100},
                            std::chrono::milliseconds{400}, 3};
    ds.outcomes.horizon = std::chrono::seconds{10};
    ds.random_seed = 42;
    disp = sys.spawn(dispatcher, store, pools, ds);
  }

  ~fixture() {
    self->send_exit(disp, caf::exit_reason::user_shutdown);
    self->send_exit(store, caf::exit_reason::user_shutdown);
    drain();
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  fake_store_state& store_state() {
    return state_of<fake_store_state>(*this, store);
  }

  dispatcher_state& disp_state() {
    return state_of<dispatcher_state>(*this, disp);
  }

  fake_pool_state& pool_state() {
    return state_of<fake_pool_state>(*this, pool);
  }

  /// Every outcome recorded so far, in order.
  std::vector<delivery_decision> all_recorded() {
    std::vector<delivery_decision> xs;
    for (auto& batch : store_state().outcomes)
      xs.insert(xs.end(), batch.begin(), batch.end());
    return xs;
  }

  /// Reserves and dispatches one job, as the writer does after a commit.
  void submit(delivery_job job) {
    self->send(disp, atom::reserve_v, int32_t{1});
    drain();
    self->send(disp, atom::dispatch_v, std::vector<delivery_job>{std::move(job)});
    drain();
  }

  size_t recorded() {
    size_t n = 0;
    for (auto& batch : store_state().outcomes)
      n += batch.size();
    return n;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(dispatcher_tests, fixture)

CAF_TEST(the first sweep reclaims own leases and later sweeps do not) {
  store_state().claimable = {make_job("a"), make_job("b")};
  drain(); // the sweep sent at start
  CAF_REQUIRE_EQUAL(store_state().claims.size(), 1u);
  CAF_CHECK_EQUAL(store_state().claims[0].first, 4);
  CAF_CHECK(store_state().claims[0].second);
  CAF_CHECK_EQUAL(recorded(), 2u);
  CAF_CHECK_EQUAL(disp_state().held, 0);
  advance_time(std::chrono::seconds(1));
  drain();
  CAF_REQUIRE_EQUAL(store_state().claims.size(), 2u);
  CAF_CHECK(!store_state().claims[1].second);
}

CAF_TEST(dispatched jobs are delivered and their outcomes recorded) {
  drain();
  self->send(disp, atom::reserve_v, int32_t{3});
  drain();
  CAF_CHECK_EQUAL(disp_state().held, 3);
  self->send(disp, atom::dispatch_v,
             std::vector<delivery_job>{make_job("a"), make_job("b"),
                                       make_job("c")});
  drain();
  CAF_CHECK_EQUAL(recorded(), 3u);
  CAF_CHECK_EQUAL(disp_state().delivered, 3u);
  CAF_CHECK_EQUAL(disp_state().held, 0);
}

CAF_TEST(reservations never exceed the capacity) {
  drain();
  sys.spawn([this](caf::event_based_actor* client) {
    client->request(disp, caf::infinite, atom::reserve_v, int32_t{8})
      .then([this, client](int32_t first) {
        CAF_CHECK_EQUAL(first, 8);
        client->request(disp, caf::infinite, atom::reserve_v, int32_t{8})
          .then([this](int32_t second) { CAF_CHECK_EQUAL(second, 2); });
      });
  });
  drain();
  CAF_CHECK_EQUAL(disp_state().held, 10);
}

CAF_TEST(a channel without a pool is dead lettered without an attempt) {
  drain();
  self->send(disp, atom::dispatch_v,
             std::vector<delivery_job>{make_job("e", "email")});
  drain();
  CAF_REQUIRE_EQUAL(recorded(), 1u);
  auto& out = store_state().outcomes[0][0];
  CAF_CHECK_EQUAL(to_string(out.outcome), "deferred"); // no call: nothing counted
  CAF_CHECK_EQUAL(to_string(out.status), "dead_lettered");
  CAF_CHECK(out.error.find("no provider configured for channel email")
            != std::string::npos);
}

CAF_TEST(a retryable failure is retried on a timer once its state is durable) {
  drain();
  submit(make_job("a"));
  pool_state().script["a"] = {};
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 1u); // answered delivered
  pool_state().script["b"] = {failed(true)};
  submit(make_job("b"));
  auto xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 2u);
  CAF_CHECK_EQUAL(to_string(xs[1].status), "retry_scheduled");
  CAF_CHECK(xs[1].keep_lease);
  CAF_CHECK(xs[1].next_attempt_ms > 0);
  CAF_CHECK_EQUAL(disp_state().held, 1); // held on the scheduler's timer
  CAF_CHECK(disp_state().jobs.at("b").waiting);
  advance_time(std::chrono::milliseconds{400}); // the first window's top
  drain();
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 3u);
  xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 3u);
  CAF_CHECK_EQUAL(to_string(xs[2].status), "delivered");
  CAF_CHECK_EQUAL(disp_state().held, 0);
  CAF_CHECK(disp_state().jobs.empty());
  CAF_CHECK_EQUAL(disp_state().retried, 1u);
}

CAF_TEST(a permanent failure is dead lettered at once) {
  drain();
  pool_state().script["p"] = {failed(false, 400)};
  submit(make_job("p"));
  auto xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 1u);
  CAF_CHECK_EQUAL(to_string(xs[0].status), "dead_lettered");
  CAF_CHECK_EQUAL(xs[0].reason, "permanent: HTTP 400");
  advance_time(std::chrono::seconds{10});
  drain();
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 1u); // never again
  CAF_CHECK_EQUAL(disp_state().held, 0);
}

CAF_TEST(a spent attempt budget is dead lettered) {
  drain();
  pool_state().script["x"] = {failed(true), failed(true), failed(true)};
  submit(make_job("x"));
  for (int i = 0; i < 3; ++i) {
    advance_time(std::chrono::seconds{1});
    drain();
  }
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 3u); // max_attempts = 3
  auto xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 3u);
  CAF_CHECK_EQUAL(to_string(xs[0].status), "retry_scheduled");
  CAF_CHECK_EQUAL(to_string(xs[1].status), "retry_scheduled");
  CAF_CHECK_EQUAL(to_string(xs[2].status), "dead_lettered");
  CAF_CHECK(xs[2].reason.find("exhausted: 3 attempts") == 0);
  CAF_CHECK_EQUAL(disp_state().held, 0);
}

CAF_TEST(deferrals by an open breaker cost no attempts) {
  drain();
  // Budget 3: five deferrals and two failures still leave the third attempt.
  pool_state().script["d"] = {deferred(200), deferred(200), deferred(200),
                              deferred(200), deferred(200), failed(true),
                              failed(true)};
  submit(make_job("d"));
  for (int i = 0; i < 8; ++i) {
    advance_time(std::chrono::seconds{1});
    drain();
  }
  auto xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 8u);
  for (size_t i = 0; i < 5; ++i) {
    CAF_CHECK_EQUAL(to_string(xs[i].status), "retry_scheduled");
    CAF_CHECK_EQUAL(to_string(xs[i].outcome), "deferred");
  }
  CAF_CHECK_EQUAL(to_string(xs[7].status), "delivered");
  CAF_CHECK_EQUAL(disp_state().deferred, 5u);
}

CAF_TEST(a retry beyond the horizon is handed to the database) {
  drain();
  // A breaker cool-down of 60 s (Retry-After would be capped at max-delay).
  pool_state().script["h"] = {deferred(60000)};
  submit(make_job("h"));
  auto xs = all_recorded();
  CAF_REQUIRE_EQUAL(xs.size(), 1u);
  CAF_CHECK_EQUAL(to_string(xs[0].status), "retry_scheduled");
  CAF_CHECK(!xs[0].keep_lease);
  CAF_CHECK_EQUAL(disp_state().held, 0);
  CAF_CHECK(disp_state().jobs.empty());
}

CAF_TEST(claimed work not due yet waits on a timer) {
  auto job = make_job("later");
  job.n.next_attempt_at_ms = now_ms() + 5000;
  job.n.status = notification_status::retry_scheduled;
  store_state().claimable = {job};
  drain(); // the first sweep claims it
  CAF_CHECK(pool_state().delivered.empty());
  CAF_CHECK_EQUAL(disp_state().held, 1);
  advance_time(std::chrono::seconds{6});
  drain();
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 1u);
  CAF_CHECK_EQUAL(disp_state().held, 0);
}

CAF_TEST(a cancelled notification waiting for its retry is never sent again) {
  drain();
  pool_state().script["c"] = {failed(true)};
  submit(make_job("c"));
  CAF_CHECK_EQUAL(disp_state().held, 1);
  self->send(disp, atom::cancel_v, std::string{"c"});
  drain();
  CAF_CHECK_EQUAL(disp_state().held, 0);
  advance_time(std::chrono::seconds{10});
  drain();
  CAF_CHECK_EQUAL(pool_state().delivered.size(), 1u);
}

CAF_TEST(inspect includes the pools and the retry scheduler) {
  drain();
  std::string state;
  sys.spawn([this, &state](caf::event_based_actor* client) {
    client->request(disp, caf::infinite, atom::inspect_v)
      .then([&state](actor_info& info) { state = info.state; });
  });
  drain();
  CAF_CHECK(state.find("\"children\":[") != std::string::npos);
  CAF_CHECK(state.find("\"kind\":\"fake-pool\"") != std::string::npos);
  CAF_CHECK(state.find("\"kind\":\"retry-scheduler\"") != std::string::npos);
}

CAF_TEST(outcomes are kept and retried while the store is down) {
  drain();
  store_state().fail_outcomes = true;
  self->send(disp, atom::dispatch_v, std::vector<delivery_job>{make_job("a")});
  drain();
  CAF_CHECK_EQUAL(recorded(), 0u);
  CAF_CHECK_EQUAL(disp_state().outcomes.size(), 1u);
  store_state().fail_outcomes = false;
  advance_time(std::chrono::seconds(1));
  drain();
  CAF_CHECK_EQUAL(recorded(), 1u);
  CAF_CHECK(disp_state().outcomes.empty());
}

CAF_TEST(drain hands back leases after recording what was sent) {
  drain();
  self->send(disp, atom::dispatch_v, std::vector<delivery_job>{make_job("a")});
  bool drained = false;
  sys.spawn([this, &drained](caf::event_based_actor* client) {
    client->request(disp, caf::infinite, atom::drain_v)
      .then([&drained](bool) { drained = true; });
  });
  drain();
  CAF_CHECK(drained);
  CAF_CHECK_EQUAL(recorded(), 1u);
  CAF_CHECK_EQUAL(store_state().releases, 1);
  // No new claims once draining.
  auto claims = store_state().claims.size();
  advance_time(std::chrono::seconds(1));
  drain();
  CAF_CHECK_EQUAL(store_state().claims.size(), claims);
}

CAF_TEST_FIXTURE_SCOPE_END()
