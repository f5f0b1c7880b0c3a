// The ingest actor: the submission protocol once, for single and batch
// submissions with and without keys. A real idempotency guard in front of a
// fake store; auth, limiter and writer are doubles whose answers the test
// decides (the writer holds each commit until told how it ends).
#define CAF_SUITE ingest

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "actors/idempotency_guard.hpp"
#include "actors/ingest.hpp"
#include "core/time.hpp"
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

/// Auth: the key "good" is tenant acme (webhook and sms enabled); any
/// other key is ec::unauthorized.
auth_actor::behavior_type fake_auth(auth_actor::pointer) {
  return {
    [](atom::inspect) { return fake_info("fake-auth"); },
    [](atom::auth, const std::string& key) -> caf::result<tenant> {
      if (key != "good")
        return make_error(ec::unauthorized, "unknown API key");
      tenant t;
      t.id = "acme";
      t.channels = {"webhook", "sms"};
      t.webhook_secret = "whsec_x";
      return t;
    },
    [](atom::revoke, const std::string&, const std::string&) { return true; },
    [](atom::put, tenant& t) { return tenant_put_result{t, false}; },
  };
}

/// A limiter registry with `tokens` tokens in all; counts the requests.
struct fake_limiters_state {
  static inline const char* name = "fake-limiters";
  int32_t tokens = 1000;
  int requests = 0;
};

limiter_registry_actor::behavior_type
fake_limiters(limiter_registry_actor::stateful_pointer<fake_limiters_state> self) {
  return {
    [](atom::inspect) { return fake_info("fake-limiters"); },
    [self](atom::acquire, const rate_request& rq) {
      auto& st = self->state;
      ++st.requests;
      rate_decision d;
      d.granted = std::min(rq.tokens, st.tokens);
      d.allowed = d.granted > 0;
      st.tokens -= d.granted;
      d.limit = rq.burst;
      d.remaining = st.tokens;
      d.retry_after_ms = d.allowed ? 0 : 1000;
      return d;
    },
  };
}

/// A writer whose commits the test decides: each submit waits until
/// `complete` (every held request committed), `put` (refused by a key's
/// index: ec::conflict) or `release` (outage). Untyped, for those three.
struct held_writer_state {
  static inline const char* name = "held-writer";
  std::vector<caf::response_promise> held;
  std::vector<delivery_job> pending;
  std::vector<delivery_job> committed;
  int requests = 0;
};

caf::behavior held_writer(caf::stateful_actor<held_writer_state>* self) {
  auto end = [self](const caf::error& err) {
    auto& st = self->state;
    auto held = std::move(st.held);
    st.held.clear();
    if (!err)
      for (auto& j : st.pending)
        st.committed.push_back(std::move(j));
    st.pending.clear();
    for (auto& rp : held)
      if (err)
        rp.deliver(err);
      else
        rp.deliver(true);
  };
  return {
    [](atom::inspect) { return actor_info{"held-writer", "", "", "{}"}; },
    [self](atom::submit, std::vector<delivery_job>& jobs) {
      auto& st = self->state;
      ++st.requests;
      for (auto& j : jobs)
        st.pending.push_back(std::move(j));
      auto rp = self->make_response_promise();
      st.held.push_back(rp);
      return rp;
    },
    [end](atom::complete) { end(caf::error{}); },
    [end](atom::put) { end(make_error(ec::conflict, "idempotency key taken")); },
    [end](atom::release) { end(make_error(ec::db_unavailable, "fake outage")); },
  };
}

const std::string h1(64, '1');
const std::string h2(64, '2');

struct fixture : test_coordinator_fixture<herald_actor_config> {
  store_actor store;
  auth_actor auth;
  limiter_registry_actor limiters;
  caf::actor writer;
  idempotency_guard_actor guard;
  ingest_actor ing;
  std::vector<std::string> answers;

  fixture() {
    store = sys.spawn(fake_store);
    auth = sys.spawn(fake_auth);
    limiters = sys.spawn(fake_limiters);
    writer = sys.spawn(held_writer);
    guard = sys.spawn(idempotency_guard, store, idempotency_guard_settings{},
                      size_t{0});
    ing = sys.spawn(ingest, auth, limiters,
                    std::vector<idempotency_guard_actor>{guard},
                    caf::actor_cast<writer_actor>(writer),
                    ingest_settings{}, size_t{0});
    drain();
  }

  ~fixture() {
    for (auto a : {caf::actor_cast<caf::actor>(ing), caf::actor_cast<caf::actor>(guard),
                   caf::actor_cast<caf::actor>(writer),
                   caf::actor_cast<caf::actor>(limiters),
                   caf::actor_cast<caf::actor>(auth), caf::actor_cast<caf::actor>(store)})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    drain();
  }

  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  static ingest_item item(const std::string& key = "",
                          const std::string& hash = "",
                          const std::string& channel = "webhook") {
    ingest_item x;
    x.n.channel = channel;
    x.n.to = "https://example.org/hook";
    x.n.body = "hi";
    x.n.priority = "normal";
    x.key = key;
    x.hash = key.empty() ? "" : hash;
    return x;
  }

  /// Renders an answer: "status[ id]" per item, joined by ", ", after
  /// "429" when a single submission was rate limited; or the error.
  std::string render(const ingest_result& r) {
    std::string out = r.rated && !r.rate.allowed ? "429" : "";
    for (auto& x : r.items) {
      if (!out.empty())
        out += ", ";
      out += to_string(x.status);
      if (!x.id.empty())
        out += " " + x.id;
    }
    return out;
  }

  /// Sends `rq` from a client actor; the answer lands in `answers`.
  void send(ingest_request rq) {
    sys.spawn([this, rq](caf::event_based_actor* client) {
      client->request(ing, caf::infinite, atom::submit_v, rq)
        .then([this](ingest_result& r) { answers.push_back(render(r)); },
              [this](caf::error& err) { answers.push_back(sys.render(err)); });
    });
    drain();
  }

  void submit(const std::string& key, const std::string& hash) {
    send(ingest_request{"good", false, 1, {item(key, hash)}});
  }

  /// Tells the writer how the held commits end (atom::complete: committed,
  /// atom::put: a key's index refused them, atom::release: outage).
  template <class How>
  void end_commits(How how) {
    self->send(writer, how);
    drain();
  }

  /// Submits and ends the commit (if one was asked for) with `how`;
  /// returns the answer.
  template <class How>
  std::string submit_now(const std::string& key, const std::string& hash,
                         How how) {
    auto before = answers.size();
    submit(key, hash);
    while (answers.size() == before && !writer_state().held.empty())
      end_commits(how);
    return answers.size() == before + 1 ? answers.back() : "<no answer>";
  }

  held_writer_state& writer_state() {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(writer);
    return dynamic_cast<caf::stateful_actor<held_writer_state>&>(*ptr).state;
  }

  idempotency_guard_state& guard_state() {
    return state_of<idempotency_guard_state>(*this, guard);
  }

  fake_store_state& store_state() {
    return state_of<fake_store_state>(*this, store);
  }

  /// The id of the notification committed last.
  std::string last_id() {
    auto& c = writer_state().committed;
    return c.empty() ? "" : c.back().n.id;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(ingest_tests, fixture)

CAF_TEST(an unkeyed submission is committed and answered with its id) {
  submit("", "");
  CAF_CHECK_EQUAL(answers.size(), 0u); // not before its commit
  CAF_REQUIRE_EQUAL(writer_state().pending.size(), 1u);
  auto& job = writer_state().pending[0];
  CAF_CHECK_EQUAL(job.n.tenant_id, "acme");
  CAF_CHECK_EQUAL(to_string(job.n.status), "accepted");
  CAF_CHECK_EQUAL(job.signing_secret, "whsec_x");
  CAF_CHECK_GREATER(job.n.created_at_ms, 0);
  end_commits(atom::complete_v);
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_EQUAL(answers[0], "accepted " + last_id());
  CAF_CHECK_EQUAL(state_of<fake_limiters_state>(*this, limiters).requests, 1);
}

CAF_TEST(a bad key is refused before anything else) {
  send(ingest_request{"bad", false, 1, {item()}});
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_NOT_EQUAL(answers[0].find("unauthorized"), std::string::npos);
  CAF_CHECK_EQUAL(state_of<fake_limiters_state>(*this, limiters).requests, 0);
  CAF_CHECK_EQUAL(writer_state().requests, 0);
}

CAF_TEST(a request with no items checks the key and takes the tokens asked) {
  send(ingest_request{"good", false, 0, {}});
  send(ingest_request{"good", false, 1, {}});
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"", ""}));
  CAF_CHECK_EQUAL(state_of<fake_limiters_state>(*this, limiters).requests, 1);
  CAF_CHECK_EQUAL(writer_state().requests, 0);
}

CAF_TEST(a denied single submission is answered from memory until the next token) {
  state_of<fake_limiters_state>(*this, limiters).tokens = 0;
  submit("", "");
  submit("", "");
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"429, rate_limited",
                                                     "429, rate_limited"}));
  // The second denial was known: the limiter was asked once.
  CAF_CHECK_EQUAL(state_of<fake_limiters_state>(*this, limiters).requests, 1);
  CAF_CHECK_EQUAL(state_of<ingest_state>(*this, ing).memo_denials, 1u);
  CAF_CHECK_EQUAL(writer_state().requests, 0);
}

CAF_TEST(a channel the tenant has not enabled is refused) {
  send(ingest_request{"good", false, 1, {item("", "", "email")}});
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"channel_disabled"}));
  CAF_CHECK_EQUAL(writer_state().requests, 0);
}

CAF_TEST(a new key is committed and remembered then replays and mismatches come from memory) {
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::complete_v), "accepted " + last_id());
  auto id = last_id();
  CAF_REQUIRE_EQUAL(writer_state().committed.size(), 1u);
  CAF_CHECK_EQUAL(writer_state().committed[0].n.idempotency_key, "k1");
  CAF_CHECK_EQUAL(writer_state().committed[0].n.idempotency_hash, h1);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::complete_v), "replayed " + id);
  CAF_CHECK_EQUAL(submit_now("k1", h2, atom::complete_v), "key_mismatch");
  CAF_CHECK_EQUAL(writer_state().requests, 1);
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
  CAF_CHECK_EQUAL(guard_state().commits, 1u);
}

CAF_TEST(twins of a submission being committed are in flight) {
  submit("k1", h1);
  CAF_CHECK_EQUAL(answers.size(), 0u); // the writer holds the commit
  submit("k1", h1);
  submit("k1", h2);
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"in_flight", "in_flight"}));
  end_commits(atom::complete_v);
  CAF_REQUIRE_EQUAL(answers.size(), 3u);
  CAF_CHECK_EQUAL(answers[2], "accepted " + last_id());
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::complete_v), "replayed " + last_id());
  CAF_CHECK_EQUAL(writer_state().committed.size(), 1u);
}

CAF_TEST(a key taken before the guard knew it is answered from the stored row) {
  // As after a restart: the row is in PostgreSQL, the guard's memory empty.
  store_state().idem[{"acme", "k1"}] = {h1, "id-db", now_ms() + 3600 * 1000};
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::put_v), "replayed id-db");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 1);
  CAF_CHECK_EQUAL(writer_state().committed.size(), 0u);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  // Memory keeps the stored answer: no second look-up, no commit.
  CAF_CHECK_EQUAL(submit_now("k1", h2, atom::complete_v), "key_mismatch");
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::complete_v), "replayed id-db");
  CAF_CHECK_EQUAL(store_state().idem_lookups, 1);
  CAF_CHECK_EQUAL(writer_state().requests, 1);
}

CAF_TEST(a refused key that no row holds is claimed again and committed) {
  submit("k2", h1);
  end_commits(atom::put_v); // refused, yet no row holds it (it expired)
  CAF_CHECK_EQUAL(answers.size(), 0u);
  CAF_CHECK_EQUAL(writer_state().held.size(), 1u); // the second commit
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 1u);
  end_commits(atom::complete_v);
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"accepted " + last_id()}));
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(a key refused twice is in flight and its claim is released) {
  submit("k2", h1);
  end_commits(atom::put_v);
  end_commits(atom::put_v);
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"in_flight"}));
  CAF_CHECK_EQUAL(writer_state().requests, 2);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(a failed commit fails the request and releases the claim) {
  auto answer = submit_now("k1", h1, atom::release_v);
  CAF_CHECK_NOT_EQUAL(answer.find("db_unavailable"), std::string::npos);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
  CAF_CHECK_EQUAL(guard_state().abandoned, 1u);
  // Nothing was written: the key is free for the client's retry.
  CAF_CHECK_EQUAL(submit_now("k1", h1, atom::complete_v), "accepted " + last_id());
  CAF_CHECK_EQUAL(store_state().idem_lookups, 0);
}

CAF_TEST(a batch is one transaction with one answer per item) {
  send(ingest_request{"good", true, 0,
                      {item(), item("a", h1), item("", "", "email"), item("a", h1),
                       item()}});
  // The channel check, one limiter request for 4 tokens, the claims, then
  // one request to the writer with the 3 new items.
  CAF_CHECK_EQUAL(answers.size(), 0u);
  CAF_REQUIRE_EQUAL(writer_state().requests, 1);
  CAF_CHECK_EQUAL(writer_state().pending.size(), 3u);
  end_commits(atom::complete_v);
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  auto& c = writer_state().committed;
  CAF_REQUIRE_EQUAL(c.size(), 3u);
  CAF_CHECK_EQUAL(answers[0], "accepted " + c[0].n.id + ", accepted " + c[1].n.id
                                + ", channel_disabled, in_flight, accepted "
                                + c[2].n.id);
  CAF_CHECK_EQUAL(state_of<fake_limiters_state>(*this, limiters).tokens, 996);
  CAF_CHECK_EQUAL(guard_state().commits, 1u);
}

CAF_TEST(items of a batch past the tokens granted are rate limited) {
  state_of<fake_limiters_state>(*this, limiters).tokens = 2;
  send(ingest_request{"good", true, 0, {item(), item(), item()}});
  end_commits(atom::complete_v);
  auto& c = writer_state().committed;
  CAF_REQUIRE_EQUAL(c.size(), 2u);
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"accepted " + c[0].n.id
                                                     + ", accepted " + c[1].n.id
                                                     + ", rate_limited"}));
}

CAF_TEST(a batch refused for one key commits the others without it) {
  // k1 is held by a row the guard has not seen; k2 and the unkeyed item
  // are free.
  store_state().idem[{"acme", "k1"}] = {h1, "id-db", now_ms() + 3600 * 1000};
  send(ingest_request{"good", true, 0, {item("k1", h1), item("k2", h2), item()}});
  end_commits(atom::put_v);
  // k1 answered from its row, the others go again together.
  CAF_CHECK_EQUAL(writer_state().held.size(), 1u);
  CAF_CHECK_EQUAL(writer_state().pending.size(), 2u);
  end_commits(atom::complete_v);
  auto& c = writer_state().committed;
  CAF_REQUIRE_EQUAL(c.size(), 2u);
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"replayed id-db, accepted "
                                                     + c[0].n.id + ", accepted "
                                                     + c[1].n.id}));
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(a batch refused twice goes item by item) {
  send(ingest_request{"good", true, 0, {item("k1", h1), item()}});
  end_commits(atom::put_v); // both keys free per the store: again together
  end_commits(atom::put_v); // refused again: one by one
  CAF_CHECK_EQUAL(writer_state().pending.size(), 1u);
  end_commits(atom::put_v); // k1 refused once more: in flight elsewhere
  CAF_CHECK_EQUAL(writer_state().pending.size(), 1u);
  end_commits(atom::complete_v); // the unkeyed item
  auto& c = writer_state().committed;
  CAF_REQUIRE_EQUAL(c.size(), 1u);
  CAF_CHECK_EQUAL(answers,
                  std::vector<std::string>({"in_flight, accepted " + c[0].n.id}));
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(a failed batch commit fails the whole request) {
  send(ingest_request{"good", true, 0, {item("k1", h1), item()}});
  end_commits(atom::release_v);
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_NOT_EQUAL(answers[0].find("db_unavailable"), std::string::npos);
  CAF_CHECK_EQUAL(guard_state().table.claims_size(), 0u);
}

CAF_TEST(inspect shows the counters) {
  submit_now("", "", atom::complete_v);
  std::string state;
  sys.spawn([&](caf::event_based_actor* client) {
    client->request(ing, caf::infinite, atom::inspect_v)
      .then([&](actor_info& info) { state = info.kind + " " + info.state; });
  });
  drain();
  CAF_CHECK_NOT_EQUAL(state.find("ingest {\"requests\":1"), std::string::npos);
  CAF_CHECK_NOT_EQUAL(state.find("\"accepted\":1"), std::string::npos);
}

CAF_TEST_FIXTURE_SCOPE_END()
