// Group commit: requests that arrive during a commit share the next one, and
// nobody is answered before their own transaction committed.
#define CAF_SUITE writer

#include <algorithm>

#include <caf/test/dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include "actors/config.hpp"
#include "actors/dispatcher.hpp"
#include "actors/writer.hpp"
#include "http/codec.hpp"
#include "support/fake_store.hpp"

using namespace herald;
using namespace herald::test;

namespace {

struct fixture : test_coordinator_fixture<herald_actor_config> {
  std::vector<store_actor> stores; // the writer's connections
  store_actor store;               // the first of them
  dispatcher_actor disp;
  writer_actor wr;

  explicit fixture(int capacity = 100, size_t connections = 1,
                   writer_settings ws = {}) {
    for (size_t i = 0; i < connections; ++i)
      stores.push_back(sys.spawn(fake_store));
    store = stores.front();
    dispatcher_settings ds;
    ds.node = "n1";
    ds.capacity = capacity;
    // No pools: dispatched jobs are recorded as failed ("no provider").
    disp = sys.spawn(dispatcher, store, std::map<std::string, pool_factory>{},
                     ds);
    if (ws.node.empty())
      ws.node = "n1";
    wr = sys.spawn(writer, stores, disp, ws);
    drain();
  }

  ~fixture() {
    self->send_exit(wr, caf::exit_reason::user_shutdown);
    self->send_exit(disp, caf::exit_reason::user_shutdown);
    for (auto& s : stores)
      self->send_exit(s, caf::exit_reason::user_shutdown);
    drain();
  }

  fake_store_state& store_state() {
    return state_of<fake_store_state>(*this, store);
  }

  /// Processes messages without firing timeouts: the dispatcher's periodic
  /// sweep would re-arm forever under run().
  void drain() {
    while (sched.try_run_once())
      ; // nop
  }

  /// Submits jobs from a client actor that records the answer.
  void submit(std::vector<delivery_job> jobs) {
    sys.spawn([this, jobs](caf::event_based_actor* client) {
      client->request(wr, caf::infinite, atom::submit_v, jobs)
        .then([this](bool ok) { answers.push_back(ok ? "ok" : "false"); },
              [this](caf::error& err) { answers.push_back(sys.render(err)); });
    });
  }

  void submit(const std::string& id) {
    submit(std::vector<delivery_job>{make_job(id)});
  }

  /// A submit of one notification with an idempotency key (as an ingest
  /// actor sends it).
  void submit_keyed(const std::string& id, const std::string& key) {
    auto job = make_job(id);
    job.n.idempotency_key = key;
    submit(std::vector<delivery_job>{std::move(job)});
  }

  /// Answers so far.
  std::vector<std::string> collect() {
    return answers;
  }

  std::vector<std::string> answers;
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(writer_tests, fixture)

CAF_TEST(requests arriving during a commit share the next transaction) {
  store_state().hold_inserts = true;
  submit("a");
  submit("b");
  submit("c");
  drain();
  // "a" is being committed; "b" and "c" wait for the connection.
  CAF_REQUIRE_EQUAL(store_state().inserts.size(), 1u);
  CAF_CHECK_EQUAL(store_state().inserts[0].size(), 1u);
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).waiting.size(), 2u);
  // Nothing is acknowledged before the commit.
  drain();
  CAF_CHECK(answers.empty());
  // Commit "a": it is answered, then "b" and "c" go out in ONE transaction.
  self->send(store, atom::ping_v);
  drain();
  CAF_REQUIRE_EQUAL(store_state().inserts.size(), 2u);
  CAF_CHECK_EQUAL(store_state().inserts[1].size(), 2u);
  CAF_CHECK_EQUAL(store_state().inserts[1][0].id, "b");
  CAF_CHECK_EQUAL(store_state().inserts[1][1].id, "c");
  self->send(store, atom::ping_v);
  drain();
  auto xs = collect();
  CAF_REQUIRE_EQUAL(xs.size(), 3u);
  for (auto& x : xs)
    CAF_CHECK_EQUAL(x, "ok");
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).commits, 2u);
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).rows, 3u);
}

CAF_TEST(committed leased rows go to the dispatcher and are recorded) {
  submit("a");
  drain();
  CAF_REQUIRE_EQUAL(store_state().insert_leased.size(), 1u);
  CAF_CHECK(store_state().insert_leased[0]);
  // No pool for "webhook" in this fixture: the dispatcher dead-letters the
  // job (no call, so "deferred": no attempt) rather than dropping it.
  CAF_REQUIRE_EQUAL(store_state().outcomes.size(), 1u);
  CAF_CHECK_EQUAL(store_state().outcomes[0][0].id, "a");
  CAF_CHECK_EQUAL(to_string(store_state().outcomes[0][0].outcome), "deferred");
  CAF_CHECK_EQUAL(to_string(store_state().outcomes[0][0].status), "dead_lettered");
  CAF_CHECK_EQUAL(store_state().outcomes[0][0].fence, 1);
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 0);
}

CAF_TEST(rows scheduled beyond the lease horizon are left to the sweeper) {
  // writer_settings{}: a horizon of 10 s.
  auto now = now_ms();
  auto soon = make_job("soon");
  soon.n.send_at_ms = now + 2000;
  auto later = make_job("later");
  later.n.send_at_ms = now + 3600 * 1000;
  submit(std::vector<delivery_job>{make_job("now"), later, soon});
  drain();
  CAF_REQUIRE_EQUAL(store_state().insert_leased.size(), 1u);
  CAF_CHECK(store_state().insert_leased[0]);
  // The store gets the bound it must apply: the same rows count as due.
  auto bound = store_state().insert_due_by[0];
  CAF_CHECK(bound >= now + 10000 && bound < now + 3600 * 1000);
  CAF_CHECK(!due_by(later.n, bound));
  CAF_CHECK(due_by(soon.n, bound));
  // Only the due rows reach the dispatcher: "now" is dead-lettered at once
  // (no pool in this fixture), "soon" waits on its timer, "later" is not
  // held at all.
  CAF_REQUIRE_EQUAL(store_state().outcomes.size(), 1u);
  CAF_CHECK_EQUAL(store_state().outcomes[0].size(), 1u);
  CAF_CHECK_EQUAL(store_state().outcomes[0][0].id, "now");
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 1);
  // A batch with nothing due is inserted unleased without asking the
  // dispatcher for room.
  auto also_later = make_job("also-later");
  also_later.n.send_at_ms = now + 7200 * 1000;
  submit(std::vector<delivery_job>{also_later});
  drain();
  CAF_REQUIRE_EQUAL(store_state().insert_leased.size(), 2u);
  CAF_CHECK(!store_state().insert_leased[1]);
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 1);
  CAF_CHECK_EQUAL(collect().size(), 2u);
}

CAF_TEST(a failed commit answers every request of the batch with the error) {
  store_state().fail_inserts = true;
  submit("a");
  submit("b");
  drain();
  auto xs = collect();
  CAF_REQUIRE_EQUAL(xs.size(), 2u);
  for (auto& x : xs)
    CAF_CHECK(x.find("db_unavailable") != std::string::npos);
  // One connection: "a" and "b" each met the outage in their own commit.
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).failed_commits, 2u);
  // The places reserved in the dispatcher are given back.
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 0);
  CAF_CHECK(store_state().outcomes.empty());
}

CAF_TEST(a taken idempotency key fails only its own request) {
  store_state().hold_inserts = true;
  submit("first"); // occupies the connection so the next three share a batch
  auto taken = make_job("b");
  taken.n.idempotency_key = "k1";
  store_state().taken_keys = {"k1"};
  submit("a");
  submit(std::vector<delivery_job>{taken});
  submit("c");
  drain();
  store_state().hold_inserts = false;
  self->send(store, atom::ping_v); // commits "first"
  drain();
  auto xs = collect();
  CAF_REQUIRE_EQUAL(xs.size(), 4u);
  size_t ok = 0;
  size_t conflicts = 0;
  for (auto& x : xs) {
    if (x == "ok")
      ++ok;
    else if (x.find("conflict") != std::string::npos)
      ++conflicts;
  }
  CAF_CHECK_EQUAL(ok, 3u);
  CAF_CHECK_EQUAL(conflicts, 1u);
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).conflicts, 1u);
  // "a" and "c" were committed, each alone after the split.
  size_t rows = 0;
  for (auto& batch : store_state().inserts)
    rows += batch.size();
  CAF_CHECK_EQUAL(rows, 3u);
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 0);
}

CAF_TEST(a keyed submit shares the transaction and is answered after its commit) {
  store_state().hold_inserts = true;
  submit("first"); // occupies the connection so the next two share a batch
  submit_keyed("a", "k-a");
  submit("b");
  drain();
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).waiting_rows, 2u);
  self->send(store, atom::ping_v); // commits "first"
  drain();
  CAF_REQUIRE_EQUAL(store_state().inserts.size(), 2u);
  CAF_REQUIRE_EQUAL(store_state().inserts[1].size(), 2u);
  CAF_CHECK_EQUAL(store_state().inserts[1][0].idempotency_key, "k-a");
  // Not answered before its commit.
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"ok"}));
  self->send(store, atom::ping_v);
  drain();
  CAF_CHECK_EQUAL(answers,
                  std::vector<std::string>({"ok", "ok", "ok"}));
}

CAF_TEST(a keyed submit whose key is taken gets the conflict) {
  store_state().taken_keys = {"k1"};
  submit_keyed("a", "k1");
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 1u);
  CAF_CHECK_NOT_EQUAL(answers[0].find("conflict"), std::string::npos);
  submit_keyed("b", "k2");
  drain();
  CAF_REQUIRE_EQUAL(answers.size(), 2u);
  CAF_CHECK_EQUAL(answers[1], "ok");
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

struct full_fixture : fixture {
  full_fixture() : fixture(1) {
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(writer_full_tests, full_fixture)

CAF_TEST(without room in the dispatcher rows are inserted unleased) {
  store_state().hold_inserts = true;
  submit(std::vector<delivery_job>{make_job("a"), make_job("b")});
  drain();
  CAF_REQUIRE_EQUAL(store_state().insert_leased.size(), 1u);
  // Capacity 1 cannot hold 2 rows: all unleased, the sweeper claims them.
  CAF_CHECK(!store_state().insert_leased[0]);
  CAF_CHECK_EQUAL(state_of<dispatcher_state>(*this, disp).held, 0);
  self->send(store, atom::ping_v);
  drain();
  CAF_CHECK_EQUAL(collect().size(), 1u);
}

CAF_TEST_FIXTURE_SCOPE_END()

CAF_TEST(a second transaction starts only once enough rows wait) {
  writer_settings s;
  s.parallel_rows = 3;
  CAF_CHECK(!start_commit_now(0, 0, s));
  CAF_CHECK(start_commit_now(0, 1, s));
  CAF_CHECK(!start_commit_now(1, 2, s));
  CAF_CHECK(start_commit_now(1, 3, s));
  CAF_CHECK(start_commit_now(2, 5, s));
}

namespace {

/// Two writer connections, a second transaction beside one in flight only
/// from 3 waiting rows on; both hold their inserts until pinged.
writer_settings parallel_from_3() {
  writer_settings ws;
  ws.parallel_rows = 3;
  return ws;
}

struct two_connections_fixture : fixture {
  two_connections_fixture() : fixture(100, 2, parallel_from_3()) {
    for (auto& s : stores)
      state_of<fake_store_state>(*this, s).hold_inserts = true;
  }

  /// Rows per insert over both connections, smallest first.
  std::vector<size_t> inserts() {
    std::vector<size_t> out;
    for (auto& s : stores)
      for (auto& xs : state_of<fake_store_state>(*this, s).inserts)
        out.push_back(xs.size());
    std::sort(out.begin(), out.end());
    return out;
  }

  /// Lets both connections "commit" what they hold.
  void commit_all() {
    for (auto& s : stores)
      self->send(s, atom::ping_v);
    drain();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(writer_parallel_tests, two_connections_fixture)

CAF_TEST(few waiting rows wait for the commit in flight) {
  submit("a");
  drain();
  submit("b");
  submit("c");
  drain();
  // "a" in flight; "b" and "c" (2 rows < 3) wait although the other connection is idle.
  CAF_CHECK_EQUAL(inserts(), std::vector<size_t>({1}));
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).waiting_rows, 2u);
  // A third waiting row: the second connection takes all three.
  submit("d");
  drain();
  CAF_CHECK_EQUAL(inserts(), std::vector<size_t>({1, 3}));
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).waiting_rows, 0u);
  CAF_CHECK(answers.empty());
  commit_all();
  CAF_CHECK_EQUAL(answers.size(), 4u);
}

CAF_TEST(rows left waiting go out when the commit in flight ends) {
  submit("a");
  drain();
  submit("b");
  drain();
  CAF_CHECK_EQUAL(inserts(), std::vector<size_t>({1}));
  commit_all();
  // "a" committed and answered; "b" goes next, alone.
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"ok"}));
  CAF_CHECK_EQUAL(inserts(), std::vector<size_t>({1, 1}));
  CAF_CHECK_EQUAL(state_of<writer_state>(*this, wr).waiting_rows, 0u);
  commit_all();
  CAF_CHECK_EQUAL(answers, std::vector<std::string>({"ok", "ok"}));
}

CAF_TEST_FIXTURE_SCOPE_END()
