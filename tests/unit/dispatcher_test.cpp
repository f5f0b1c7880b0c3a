// The dispatcher: routing to pools, batched outcome recording with retry,
// sweeping (claims), capacity accounting and drain.
#define CAF_SUITE dispatcher

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "actors/dispatcher.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;

namespace {

struct fake_pool_state {
  static inline const char* name = "fake-pool";
  dispatcher_actor dispatcher;
  std::vector<std::string> delivered; // ids, in arrival order
};

/// A pool whose "senders" deliver everything at once.
sender_pool_actor::behavior_type
fake_pool(sender_pool_actor::stateful_pointer<fake_pool_state> self,
          dispatcher_actor d) {
  self->state.dispatcher = d;
  return {
    [](atom::inspect) -> actor_info { return {"fake-pool", "", "", "{}"}; },
    [self](atom::deliver, delivery_job& job) {
      self->state.delivered.push_back(job.n.id);
      delivery_outcome out;
      out.id = job.n.id;
      out.fence = job.fence;
      out.outcome = "delivered";
      out.http_status = 200;
      self->send(self->state.dispatcher, atom::outcome_v, std::move(out));
    },
    [](atom::drain) -> std::vector<delivery_job> { return {}; },
    [](atom::outcome, const delivery_outcome&) {},
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

CAF_TEST(a channel without a pool is recorded as failed not dropped) {
  drain();
  self->send(disp, atom::dispatch_v,
             std::vector<delivery_job>{make_job("e", "email")});
  drain();
  CAF_REQUIRE_EQUAL(recorded(), 1u);
  auto& out = store_state().outcomes[0][0];
  CAF_CHECK_EQUAL(out.outcome, "failed");
  CAF_CHECK(out.error.find("no provider configured for channel email")
            != std::string::npos);
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
