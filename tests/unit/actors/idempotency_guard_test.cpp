// The idempotency guard: verdicts from memory, "new" for keys it has not
// seen (the unique index decides at the insert), store look-ups only for
// keys the index refused (resolve), claims that cannot leak, bounded memory
// with expiry on the actor clock.
#define CAF_SUITE idempotency_guard

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <set>

#include "actors/config.hpp"
#include "actors/idempotency_guard.hpp"
#include "http/codec.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;

namespace {

/// Answers every promise in `held` with `answer` and forgets them.
template <class F>
void answer_held(std::vector<caf::response_promise>& held, F& answer) {
  auto xs = std::move(held);
  held.clear();
  for (auto& rp : xs)
    answer(rp);
}

/// A store whose idempotency look-ups wait until the test says how they
/// end: `ping` = not found, `put` = this record, `release` = outage. Only
/// that handler exists: the guard sends nothing else to its store.
struct held_store_state {
  static inline const char* name = "held-store";
  std::vector<caf::response_promise> held;
  int lookups = 0;
};

caf::behavior held_store(caf::stateful_actor<held_store_state>* self) {
  auto answer_all = [self](auto&& answer) { answer_held(self->state.held, answer); };
  return {
    [self](atom::lookup, atom::idem, const std::string&, const std::string&) {
      ++self->state.lookups;
      auto rp = self->make_response_promise();
      self->state.held.push_back(rp);
      return rp;
    },
    [answer_all](atom::ping) {
      answer_all([](caf::response_promise& rp) {
        rp.deliver(make_error(ec::not_found, "no such idempotency key"));
      });
    },
    [answer_all](atom::put, const idem_record& rec) {
      answer_all([&](caf::response_promise& rp) { rp.deliver(rec); });
    },
    [answer_all](atom::release) {
      answer_all([](caf::response_promise& rp) {
        rp.deliver(make_error(ec::db_unavailable, "fake outage"));
      });
    },
  };
}

const std::string h1(64, '1');
const std::string h2(64, '2');

struct fixture : test_coordinator_fixture<herald_actor_config> {
  store_actor store;
  caf::actor held;
  idempotency_guard_actor guard;
  idempotency_guard_settings settings;
  std::vector<std::string> answers;

  fixture() {
    store = sys.spawn(fake_store);
    held = sys.spawn(held_store);
  }

  ~fixture() {
    self->send_exit(guard, caf::exit_reason::user_shutdown);
    self->send_exit(store, caf::exit_reason::user_shutdown);
    self->send_exit(held, caf::exit_reason::user_shutdown);
    drain();
  }

  /// Spawns the guard in front of the fake store (or `s`).
  void start() {
    start(store);
  }

  void start(store_actor s) {
    guard = sys.spawn(idempotency_guard, std::move(s), settings, size_t{3});
    drain();
  }

  void start_held() {
    start(caf::actor_cast<store_actor>(held));
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  /// Asks the guard (claim or resolve and their arguments) from a
  /// client actor; the answer lands in `answers` as "kind[ id]" or the
  /// rendered error.
  template <class... Ts>
  void ask(Ts... xs) {
    sys.spawn([this, xs...](caf::event_based_actor* client) {
      client->request(guard, caf::infinite, xs...)
        .then(
          [this](idem_verdict& v) {
            answers.push_back(v.notification_id.empty()
                                ? to_string(v.kind)
                                : to_string(v.kind) + " " + v.notification_id);
          },
          [this](caf::error& err) { answers.push_back(sys.render(err)); });
    });
  }

  /// Asks and runs until answered; returns the answer.
  template <class Atom>
  std::string ask_now(Atom what, const std::string& tenant,
                      const std::string& key, const std::string& hash) {
    auto before = answers.size();
    ask(what, tenant, key, hash);
    drain();
    if (answers.size() != before + 1)
      return "<no answer>";
    return answers.back();
  }

  void claim(const std::string& tenant, const std::string& key,
             const std::string& hash) {
    ask(atom::claim_v, tenant, key, hash);
  }

  std::string claim_now(const std::string& tenant, const std::string& key,
                        const std::string& hash) {
    return ask_now(atom::claim_v, tenant, key, hash);
  }

  /// The insert of a claimed key was refused.
  void resolve(const std::string& tenant, const std::string& key,
               const std::string& hash) {
    ask(atom::resolve_v, tenant, key, hash);
  }

  std::string resolve_now(const std::string& tenant, const std::string& key,
                          const std::string& hash) {
    return ask_now(atom::resolve_v, tenant, key, hash);
  }

  void complete(const std::string& tenant, const std::string& key,
                const std::string& hash, const std::string& id) {
    self->send(guard, atom::complete_v, tenant, key, hash, id);
    drain();
  }

  void abandon(const std::string& tenant, const std::string& key) {
    self->send(guard, atom::abandon_v, tenant, key);
    drain();
  }

  fake_store_state& store_state() {
    return state_of<fake_store_state>(*this, store);
  }

  held_store_state& held_state() {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(held);
    return dynamic_cast<caf::stateful_actor<held_store_state>&>(*ptr).state;
  }

  idempotency_guard_state& guard_state() {
    return state_of<idempotency_guard_state>(*this, guard);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(idempotency_guard_tests, fixture)

CAF_TEST(new then in_flight then replay from memory then mismatch) {
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  // A twin while the first is being processed, with any body.
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "in_flight");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "in_flight");
  complete("acme", "k1", h1, "id-1");
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(guard_state().table.recent_size(), 1u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "replay id-1");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "replay id-1");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "mismatch");
  // The same key of another tenant is another key.
  CAF_CHECK_EQUAL(claim_now("other", "k1", h1), "new");
  // None of that needed the store: unknown keys are "new" at once.
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
  auto& st = guard_state();
  CAF_CHECK_EQUAL(st.claims, 2u);
  CAF_CHECK_EQUAL(st.replays, 2u);
  CAF_CHECK_EQUAL(st.mismatches, 1u);
  CAF_CHECK_EQUAL(st.in_flight, 2u);
}

CAF_TEST(abandon releases the claim) {
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  abandon("acme", "k1");
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  // The client may fix its request and reuse the key.
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "new");
  complete("acme", "k1", h2, "id-2");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "replay id-2");
  // Abandoning what is not claimed changes nothing.
  abandon("acme", "k1");
  abandon("acme", "unknown");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "replay id-2");
}

CAF_TEST(a key known only to the store costs one look-up when its insert is refused) {
  // As after a restart: the row is in PostgreSQL, the guard's memory empty.
  store_state().idem[{"acme", "k1"}] = {h1, "id-db", now_ms() + 3600 * 1000};
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
  // The unique index refused the insert: the stored row answers, and memory
  // keeps it.
  CAF_CHECK_EQUAL(resolve_now("acme", "k1", h1), "replay id-db");
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "mismatch");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "replay id-db");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 1);
  // Mismatch first works the same way.
  store_state().idem[{"acme", "k2"}] = {h1, "id-db2", now_ms() + 3600 * 1000};
  CAF_CHECK_EQUAL(claim_now("acme", "k2", h2), "new");
  CAF_CHECK_EQUAL(resolve_now("acme", "k2", h2), "mismatch");
  CAF_CHECK_EQUAL(claim_now("acme", "k2", h1), "replay id-db2");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 2);
  // Rows stored without a hash replay whatever the body.
  store_state().idem[{"acme", "k3"}] = {"", "id-old", now_ms() + 3600 * 1000};
  CAF_CHECK_EQUAL(claim_now("acme", "k3", h2), "new");
  CAF_CHECK_EQUAL(resolve_now("acme", "k3", h2), "replay id-old");
  // The stored expiry (1 h here) bounds how long memory keeps the key.
  advance_time(1h + 1s);
  drain();
  CAF_CHECK_EQUAL(guard_state().table.recent_size(), 0u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  CAF_CHECK_EQUAL(resolve_now("acme", "k1", h1), "replay id-db");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 4);
  CAF_CHECK_EQUAL(guard_state().refused, 4u);
}

CAF_TEST(a resolve of a key no row holds claims it again) {
  // A batch refused because of another item's key: this item's key is free.
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  CAF_CHECK_EQUAL(resolve_now("acme", "k1", h1), "new");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 1);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 1u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "in_flight");
  complete("acme", "k1", h1, "id-1");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "replay id-1");
  // A resolve the memory can answer asks nobody.
  CAF_CHECK_EQUAL(resolve_now("acme", "k1", h2), "mismatch");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 1);
}

CAF_TEST(concurrent claims of an unknown key give one new and ask nobody) {
  start();
  for (int i = 0; i < 5; ++i)
    claim("acme", "k1", i % 2 == 0 ? h1 : h2);
  drain();
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
  std::multiset<std::string> got(answers.begin(), answers.end());
  CAF_CHECK_EQUAL(got.count("new"), 1u);
  CAF_CHECK_EQUAL(got.count("in_flight"), 4u);
}

CAF_TEST(twins wait for nothing while a resolve is pending) {
  start_held();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  resolve("acme", "k1", h1);
  drain();
  CAF_CHECK_EQUAL(answers.size(), 1u);
  CAF_CHECK_EQUAL(held_state().held.size(), 1u);
  CAF_CHECK_EQUAL(guard_state().lookups.size(), 1u);
  // Twins are answered at once and ask nobody.
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "in_flight");
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "in_flight");
  CAF_CHECK_EQUAL(held_state().lookups, 1);
  // Not found: the resolver gets the claim back.
  caf::anon_send(held, atom::ping_v);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 4u);
  CAF_CHECK_EQUAL(answers.back(), "new");
  CAF_CHECK_EQUAL(guard_state().lookups.size(), 0u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "in_flight");
  // Found: cached, so the next claim asks nobody.
  CAF_CHECK_EQUAL(claim_now("acme", "k2", h2), "new");
  resolve("acme", "k2", h2);
  drain();
  caf::anon_send(held, atom::put_v, idem_record{h1, "id-db", now_ms() + 3600000});
  drain();
  CAF_CHECK_EQUAL(answers.back(), "mismatch");
  CAF_CHECK_EQUAL(claim_now("acme", "k2", h1), "replay id-db");
  CAF_CHECK_EQUAL(held_state().lookups, 2);
}

CAF_TEST(a complete during the look-up wins over not found) {
  start_held();
  // A twin's claim completes while a resolve's look-up is pending (its row
  // was not yet visible to the look-up).
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  resolve("acme", "k1", h1);
  drain();
  complete("acme", "k1", h1, "id-late");
  caf::anon_send(held, atom::ping_v);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  CAF_CHECK_EQUAL(answers[1], "replay id-late");
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(store errors are answered and leave no claim) {
  start_held();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  resolve("acme", "k1", h1);
  drain();
  caf::anon_send(held, atom::release_v);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  CAF_CHECK(answers[1].find("db_unavailable") != std::string::npos);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(guard_state().lookups.size(), 0u);
  CAF_CHECK_EQUAL(guard_state().store_errors, 1u);
  // A store that never answers: the look-up times out as db_unavailable.
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  resolve("acme", "k1", h1);
  drain();
  CAF_CHECK_EQUAL(held_state().lookups, 2);
  advance_time(settings.store_timeout + 1s);
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 4u);
  CAF_CHECK(answers[3].find("db_unavailable") != std::string::npos);
  CAF_CHECK_EQUAL(guard_state().lookups.size(), 0u);
  // The answer that comes too late changes nothing.
  caf::anon_send(held, atom::ping_v);
  drain();
  CAF_CHECK_EQUAL(answers.size(), 4u);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  // An empty key is refused (the HTTP layer validates keys first).
  CAF_CHECK(claim_now("acme", "", h1).find("invalid_input")
            != std::string::npos);
}

CAF_TEST(a dead store costs fresh keys nothing and a resolve is db_unavailable) {
  start();
  self->send_exit(store, caf::exit_reason::kill);
  drain();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  CAF_CHECK(resolve_now("acme", "k1", h1).find("db_unavailable")
            != std::string::npos);
}

CAF_TEST(stale claims expire) {
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  advance_time(settings.claim_timeout - 1s);
  drain();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "in_flight");
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 1u);
  // Its request died without complete or abandon: the purge drops it.
  advance_time(settings.purge_interval);
  drain();
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(guard_state().stale_claims, 1u);
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
}

CAF_TEST(a stale claim does not block even before the purge) {
  settings.purge_interval = 24h;
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  advance_time(settings.claim_timeout);
  drain();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
}

CAF_TEST(recent keys expire) {
  start();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "new");
  complete("acme", "k1", h1, "id-1");
  advance_time(settings.retention - 1min);
  drain();
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h1), "replay id-1");
  advance_time(2min);
  drain();
  CAF_CHECK_EQUAL(guard_state().table.recent_size(), 0u);
  // Forgotten here: the unique index decides at the insert.
  CAF_CHECK_EQUAL(claim_now("acme", "k1", h2), "new");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
}

CAF_TEST(memory is bounded and drops the oldest keys first) {
  settings.max_entries = 3;
  start();
  for (int i = 0; i < 5; ++i)
    complete("acme", "k" + std::to_string(i), h1, "id-" + std::to_string(i));
  CAF_CHECK_EQUAL(guard_state().table.recent_size(), 3u);
  CAF_CHECK_EQUAL(guard_state().table.evicted(), 2u);
  CAF_CHECK_EQUAL(claim_now("acme", "k4", h1), "replay id-4");
  CAF_CHECK_EQUAL(claim_now("acme", "k2", h1), "replay id-2");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
  // Evicted: the unique index decides again.
  CAF_CHECK_EQUAL(claim_now("acme", "k0", h1), "new");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
}

CAF_TEST(inspect reports the state of the guard) {
  start();
  claim_now("acme", "k1", h1);
  sys.spawn([this](caf::event_based_actor* client) {
    client->request(guard, caf::infinite, atom::inspect_v)
      .then([this](actor_info& info) {
        answers.push_back(info.kind + "/" + info.key + " " + info.state);
      });
  });
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  auto& s = answers[1];
  CAF_CHECK_EQUAL(s.rfind("idempotency-guard/3 {", 0), 0u);
  CAF_CHECK(s.find("\"claims\":1") != std::string::npos);
  CAF_CHECK(s.find("\"store_lookups\":0") != std::string::npos);
  CAF_CHECK(s.find("\"refused_inserts\":0") != std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(guard_shard is stable and in range) {
  // FNV-1a 64 of tenant, 0 byte, key: the same on every node and build.
  CAF_CHECK_EQUAL(guard_shard("acme", "order-1", 16), 5u);
  CAF_CHECK_EQUAL(guard_shard("acme", "order-2", 16), 12u);
  CAF_CHECK_EQUAL(guard_shard("acme", "order-1", 7), 2u);
  // The tenant/key boundary counts.
  CAF_CHECK_EQUAL(guard_shard("ab", "c", 16), 7u);
  CAF_CHECK_EQUAL(guard_shard("a", "bc", 16), 3u);
  CAF_CHECK_EQUAL(guard_shard("", "", 16), 15u);
  CAF_CHECK_EQUAL(guard_shard("acme", "x", 1), 0u);
  CAF_CHECK_EQUAL(guard_shard("acme", "x", 0), 0u);
  // Spread: 4000 keys over 8 shards, none far from 500.
  std::vector<int> counts(8);
  for (int i = 0; i < 4000; ++i)
    ++counts[guard_shard("tenant-" + std::to_string(i % 7),
                         "key-" + std::to_string(i), 8)];
  for (auto c : counts)
    CAF_CHECK(c > 400 && c < 600);
}

CAF_TEST(idem_table without an actor) {
  using namespace std::chrono;
  idem_table t{2, 30s};
  auto t0 = idem_table::clock::now();
  CAF_CHECK_EQUAL(to_string(t.check("a", "k", h1, t0).kind), "unknown");
  t.claim("a", "k", h1, t0);
  CAF_CHECK_EQUAL(to_string(t.check("a", "k", h2, t0 + 29s).kind), "in_flight");
  CAF_CHECK_EQUAL(to_string(t.check("a", "k", h2, t0 + 30s).kind), "unknown");
  t.remember("a", "k", h1, "n1", t0 + 1h);
  CAF_CHECK_EQUAL(t.claims_size(), 0u);
  CAF_CHECK_EQUAL(t.check("a", "k", h1, t0).notification_id, "n1");
  CAF_CHECK_EQUAL(to_string(t.check("a", "k", h2, t0).kind), "mismatch");
  CAF_CHECK_EQUAL(to_string(t.check("a", "k", h1, t0 + 1h).kind), "unknown");
  // Length-prefixed ids: ("ab", "c") and ("a", "bc") are different keys.
  CAF_CHECK(idem_table::id("ab", "c") != idem_table::id("a", "bc"));
  t.remember("ab", "c", h1, "n2", t0 + 2h);
  CAF_CHECK_EQUAL(to_string(t.check("a", "bc", h1, t0).kind), "unknown");
  // Remembering again replaces (and renews) the entry.
  t.remember("a", "k", h2, "n3", t0 + 3h);
  CAF_CHECK_EQUAL(t.recent_size(), 2u);
  CAF_CHECK_EQUAL(t.check("a", "k", h2, t0 + 2h).notification_id, "n3");
  // Bounded: the oldest insertion goes first.
  t.remember("x", "y", h1, "n4", t0 + 4h);
  CAF_CHECK_EQUAL(t.recent_size(), 2u);
  CAF_CHECK_EQUAL(to_string(t.check("ab", "c", h1, t0).kind), "unknown");
  CAF_CHECK_EQUAL(t.evicted(), 1u);
  // Purge: expired keys and stale claims.
  t.claim("a", "fresh", h1, t0 + 3h);
  t.claim("a", "stale", h1, t0);
  auto dropped = t.purge(t0 + 3h + 10s);
  CAF_CHECK_EQUAL(dropped.first, 1u);  // ("a", "k") expired at t0 + 3h
  CAF_CHECK_EQUAL(dropped.second, 1u); // ("a", "stale")
  CAF_CHECK_EQUAL(t.recent_size(), 1u);
  CAF_CHECK_EQUAL(t.claims_size(), 1u);
  CAF_CHECK(t.abandon("a", "fresh"));
  CAF_CHECK(!t.abandon("a", "fresh"));
}
