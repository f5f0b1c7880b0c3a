// Per-tenant rate limiters behind the registry, in virtual time: bursts,
// refill, independence of tenants, live reconfiguration, idle stop.
#define CAF_SUITE rate_limiter

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/config.hpp"
#include "actors/rate_limiter.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

struct fixture : test_coordinator_fixture<herald_actor_config> {
  limiter_registry_actor reg;

  fixture() {
    limiter_settings ls;
    ls.idle_interval = 30s;
    ls.default_rate = 100;
    ls.default_burst = 7;
    reg = sys.spawn(limiter_registry, ls);
    drain();
  }

  ~fixture() {
    self->send_exit(reg, caf::exit_reason::user_shutdown);
    for (auto& w : watchers)
      self->send_exit(w, caf::exit_reason::user_shutdown);
    drain();
  }

  void drain() {
    // Not run(): the limiters' idle timers would fire and move the clock.
    while (sched.try_run_once())
      ; // nop
  }

  struct answer {
    bool done = false;
    rate_decision value;
    std::string error;
  };

  /// Asks the registry from a client actor; the answer arrives in the
  /// returned object once the actors ran.
  std::shared_ptr<answer> ask(const std::string& tenant, int32_t tokens = 1,
                              int32_t rate = 10, int32_t burst = 5) {
    auto res = std::make_shared<answer>();
    sys.spawn([this, res, req = rate_request{tenant, tokens, rate, burst}](
                caf::event_based_actor* client) {
      client->request(reg, caf::infinite, atom::acquire_v, req)
        .then(
          [res](rate_decision& d) {
            res->value = d;
            res->done = true;
          },
          [this, res](caf::error& err) {
            res->error = sys.render(err);
            res->done = true;
          });
    });
    return res;
  }

  /// Asks the registry and returns the answer.
  rate_decision acquire(const std::string& tenant, int32_t tokens = 1,
                        int32_t rate = 10, int32_t burst = 5) {
    auto res = ask(tenant, tokens, rate, burst);
    drain();
    CAF_REQUIRE(res->done);
    CAF_REQUIRE_EQUAL(res->error, "");
    return res->value;
  }

  template <class Handle>
  actor_info inspect_of(const Handle& hdl) {
    auto res = std::make_shared<actor_info>();
    sys.spawn([res, hdl](caf::event_based_actor* client) {
      client->request(hdl, caf::infinite, atom::inspect_v)
        .then([res](actor_info& x) { *res = x; });
    });
    drain();
    return *res;
  }

  limiter_registry_state& registry() {
    return state_of<limiter_registry_state>(*this, reg);
  }

  rate_limiter_actor limiter(const std::string& tenant) {
    auto& ls = registry().limiters;
    auto i = ls.find(tenant);
    return i == ls.end() ? rate_limiter_actor{} : i->second.limiter;
  }

  /// Watches an actor: the flag turns true when it terminates.
  std::shared_ptr<bool> watch(const rate_limiter_actor& hdl) {
    auto stopped = std::make_shared<bool>(false);
    watchers.push_back(sys.spawn(
      [hdl, stopped](caf::event_based_actor* watcher) -> caf::behavior {
        watcher->monitor(hdl);
        watcher->set_down_handler([stopped](caf::down_msg&) { *stopped = true; });
        return {[](int) {}};
      }));
    drain();
    return stopped;
  }

  std::vector<caf::actor> watchers;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(rate_limiter_tests, fixture)

CAF_TEST(a burst is allowed then denied with retry after) {
  // 10/s, burst 5, and virtual time stands still.
  for (int32_t i = 0; i < 5; ++i) {
    auto d = acquire("acme");
    CAF_CHECK(d.allowed);
    CAF_CHECK_EQUAL(d.granted, 1);
    CAF_CHECK_EQUAL(d.limit, 5);
    CAF_CHECK_EQUAL(d.remaining, 4 - i);
    CAF_CHECK_EQUAL(d.reset_ms, 100 * (i + 1));
    CAF_CHECK_EQUAL(d.retry_after_ms, 0);
  }
  auto d = acquire("acme");
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.granted, 0);
  CAF_CHECK_EQUAL(d.limit, 5);
  CAF_CHECK_EQUAL(d.remaining, 0);
  CAF_CHECK_EQUAL(d.reset_ms, 500);
  CAF_CHECK_EQUAL(d.retry_after_ms, 100);
  CAF_CHECK_EQUAL(retry_after_seconds(std::chrono::milliseconds{d.retry_after_ms}),
                  1);
  CAF_CHECK_EQUAL(registry().spawned, 1u);
}

CAF_TEST(tokens come back as virtual time passes) {
  for (int i = 0; i < 5; ++i)
    acquire("acme");
  CAF_REQUIRE(!acquire("acme").allowed);
  advance_time(50ms);
  auto d = acquire("acme");
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.retry_after_ms, 50);
  advance_time(50ms);
  CAF_CHECK(acquire("acme").allowed);
  advance_time(10s);
  d = acquire("acme");
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 4); // capped at the burst
}

CAF_TEST(a batch gets a partial grant) {
  auto d = acquire("acme", 8);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.granted, 5);
  CAF_CHECK_EQUAL(d.remaining, 0);
  CAF_CHECK_EQUAL(d.retry_after_ms, 100); // for the 3 refused items
  d = acquire("acme", 3);
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.granted, 0);
  CAF_CHECK_EQUAL(d.retry_after_ms, 100); // until one token, not three
}

CAF_TEST(two tenants are independent) {
  for (int i = 0; i < 5; ++i)
    acquire("acme");
  CAF_CHECK(!acquire("acme").allowed);
  auto d = acquire("globex");
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 4);
  CAF_CHECK_EQUAL(registry().limiters.size(), 2u);
  CAF_CHECK(limiter("acme") != limiter("globex"));
}

CAF_TEST(a rate change in the request applies at once) {
  for (int i = 0; i < 5; ++i)
    acquire("acme", 1, 1, 5);
  CAF_REQUIRE(!acquire("acme", 1, 1, 5).allowed);
  // The 10 ms before the change ran at 1/s (0.01 tokens); from now on the
  // missing 0.99 tokens take 0.99 ms at 1000/s, not 990 ms.
  advance_time(10ms);
  auto d = acquire("acme", 1, 1000, 5);
  CAF_CHECK(!d.allowed);
  CAF_CHECK_EQUAL(d.retry_after_ms, 1);
  // 10 ms at 1000/s: full again (capped at 5).
  advance_time(10ms);
  d = acquire("acme", 1, 1000, 5);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 4);
  // A smaller burst caps the fill and the limit at once.
  d = acquire("acme", 1, 1000, 2);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.limit, 2);
  CAF_CHECK_EQUAL(d.remaining, 1);
  CAF_CHECK_EQUAL(registry().spawned, 1u);
}

CAF_TEST(zero limits mean the node defaults) {
  auto d = acquire("acme", 1, 0, 0);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.limit, 7);
  CAF_CHECK_EQUAL(d.remaining, 6);
  CAF_CHECK_EQUAL(d.reset_ms, 10); // one token at 100/s
}

CAF_TEST(an idle limiter stops and a fresh one is spawned on next use) {
  acquire("acme");
  auto first = limiter("acme");
  CAF_REQUIRE(first);
  auto stopped = watch(first);
  // The first check sees the request: it stays.
  advance_time(30s);
  drain();
  CAF_CHECK(!*stopped);
  CAF_CHECK_EQUAL(registry().limiters.size(), 1u);
  // The second sees nothing new and a full bucket: it stops.
  advance_time(30s);
  drain();
  CAF_CHECK(*stopped);
  CAF_CHECK_EQUAL(registry().limiters.size(), 0u);
  auto d = acquire("acme");
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 4);
  CAF_CHECK_EQUAL(registry().limiters.size(), 1u);
  CAF_CHECK_EQUAL(registry().spawned, 2u);
  CAF_CHECK(limiter("acme") != first);
}

CAF_TEST(a request racing with an idle stop is answered by a fresh limiter) {
  acquire("acme");
  auto first = limiter("acme");
  advance_time(30s); // the first check sees the request
  drain();
  // The registry gets a request, but before it runs, the limiter's second
  // check fires and it stops: the registry handles the request before the
  // down message, while it still knows the stopped limiter.
  auto res = ask("acme");
  advance_time(30s);
  drain();
  CAF_REQUIRE(res->done);
  CAF_CHECK_EQUAL(res->error, "");
  CAF_CHECK(res->value.allowed);
  CAF_CHECK_EQUAL(res->value.remaining, 4);
  CAF_CHECK_EQUAL(registry().stopped, 1u);
  CAF_CHECK_EQUAL(registry().spawned, 2u);
  CAF_CHECK(limiter("acme") != first);
  // And the fresh limiter gets the next requests directly.
  CAF_CHECK_EQUAL(acquire("acme").remaining, 3);
  CAF_CHECK_EQUAL(registry().probed, 1u);
}

CAF_TEST(after a quiet period a living limiter answers the probe) {
  // 1/s, burst 100, emptied: 20 s later it holds 20 tokens.
  acquire("acme", 100, 1, 100);
  advance_time(20s);
  drain();
  auto d = acquire("acme", 1, 1, 100);
  CAF_CHECK(d.allowed);
  CAF_CHECK_EQUAL(d.remaining, 19); // the same bucket, not a fresh one
  CAF_CHECK_EQUAL(registry().probed, 1u);
  CAF_CHECK_EQUAL(registry().spawned, 1u);
  // Busy again: delegated without a probe.
  CAF_CHECK_EQUAL(acquire("acme", 1, 1, 100).remaining, 18);
  CAF_CHECK_EQUAL(registry().probed, 1u);
}

CAF_TEST(a busy limiter does not stop) {
  acquire("acme");
  auto stopped = watch(limiter("acme"));
  for (int i = 0; i < 20; ++i) {
    advance_time(10s);
    drain();
    acquire("acme");
  }
  CAF_CHECK(!*stopped);
  CAF_CHECK_EQUAL(registry().spawned, 1u);
}

CAF_TEST(an unused limiter waits until its bucket is full) {
  // 1 token/s, burst 100, emptied: full only after 100 s.
  acquire("acme", 100, 1, 100);
  auto stopped = watch(limiter("acme"));
  advance_time(30s); // asked since the start
  drain();
  advance_time(30s); // not asked, 60 tokens
  drain();
  advance_time(30s); // not asked, 90 tokens
  drain();
  CAF_CHECK(!*stopped);
  advance_time(30s); // not asked, full
  drain();
  CAF_CHECK(*stopped);
  CAF_CHECK_EQUAL(registry().limiters.size(), 0u);
}

CAF_TEST(inspect summarizes the registry and a limiter) {
  acquire("acme");
  acquire("globex");
  auto ri = inspect_of(reg);
  CAF_CHECK_EQUAL(ri.kind, "limiter-registry");
  auto rj = nlohmann::json::parse(ri.state);
  CAF_CHECK_EQUAL(rj["limiters"], 2);
  CAF_CHECK_EQUAL(rj["spawned"], 2);
  CAF_CHECK_EQUAL(rj["tenants"].dump(), R"(["acme","globex"])");
  // Its limiters, as its children (listed one by one by the admin API).
  CAF_REQUIRE_EQUAL(rj["children"].size(), 2u);
  CAF_CHECK_EQUAL(rj["children"][0]["kind"], "rate-limiter");
  CAF_CHECK_EQUAL(rj["children"][0]["key"], "acme");
  CAF_CHECK_EQUAL(rj["children"][1]["key"], "globex");
  CAF_CHECK_EQUAL(rj["children"][0]["state"]["allowed"], 1);
  auto li = inspect_of(limiter("acme"));
  CAF_CHECK_EQUAL(li.kind, "rate-limiter");
  CAF_CHECK_EQUAL(li.key, "acme");
  CAF_CHECK_EQUAL(
    li.state,
    R"({"allowed":1,"burst":5,"denied":0,"rate":10,"tenant":"acme","tokens":4.0})");
}

CAF_TEST(stopping the registry stops its limiters) {
  acquire("acme");
  auto stopped = watch(limiter("acme"));
  self->send_exit(reg, caf::exit_reason::user_shutdown);
  drain();
  CAF_CHECK(*stopped);
}

CAF_TEST_FIXTURE_SCOPE_END()
