// herald-test-links: herald_actors
// The cluster actor between simulated nodes (CAF's io_dsl: two or three
// actor systems in this process, connected through the test multiplexer):
// the join handshake both ways, readiness, a member that falls silent (down
// after connection-timeout, its leases taken over, up again when heard; a
// killed peer is the e2e suite's: the test multiplexer reports no
// connection loss), a taken name refused, the mesh completed through a peer, and the
// same owners on every node.
#define CAF_SUITE cluster
#include <caf/test/io_dsl.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actors/cluster.hpp"
#include "actors/config.hpp"
#include "actors/rate_limiter.hpp"
#include "support/fake_store.hpp"

using herald::test::fake_store;
using herald::test::fake_store_state;

/// The state of a stateful typed actor of this process.
template <class State, class Handle>
State& state_in(const Handle& hdl) {
  using impl = caf::stateful_actor<State, typename Handle::base>;
  return dynamic_cast<impl&>(*hdl.operator->()).state;
}

using namespace herald;
using namespace std::chrono_literals;

namespace {

struct herald_io_config : herald_actor_config {
  herald_io_config() {
    load<caf::io::middleman>();
  }
};

using base_fixture = test_coordinator_fixture<herald_io_config>;
using planet = test_node_fixture<base_fixture>;

/// Stands in for an ingest actor: keeps the owner views it is sent.
struct view_sink_state {
  static inline const char* name = "view-sink";
  std::shared_ptr<const owner_table> table;
  int views = 0;
};

ingest_actor::behavior_type
view_sink(ingest_actor::stateful_pointer<view_sink_state> self) {
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "view-sink", "", "", "{}");
    },
    [](atom::submit, ingest_request&) -> ingest_result { return {}; },
    [self](atom::view, owner_view& v) {
      self->state.table = std::move(v.table);
      ++self->state.views;
    },
  };
}

/// One simulated node: its cluster actor with a fake store (takeovers), a
/// limiter registry (an owner) and a view sink (the owner views).
struct node {
  std::string name;
  std::string address;
  cluster_actor cluster;
  store_actor store;
  ingest_actor sink;
  limiter_registry_actor limiters;

  /// Stops every actor of this node: actors whose handles went to another
  /// node stay registered there and would keep the system alive.
  void stop() {
    if (!cluster)
      return;
    caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(limiters, caf::exit_reason::user_shutdown);
  }

  void start(planet& p, std::string node_name, std::string addr,
             std::vector<std::string> seeds,
             std::vector<std::string> roles = {"ingest", "worker"}) {
    name = std::move(node_name);
    address = std::move(addr);
    store = p.sys.spawn(fake_store);
    sink = p.sys.spawn(view_sink);
    cluster_settings cs;
    cs.node = name;
    cs.roles = roles;
    cs.address = address;
    cs.seeds = std::move(seeds);
    cluster_locals cl;
    cl.store = store;
    limiters = p.sys.spawn(limiter_registry, limiter_settings{});
    cl.limiters = limiters;
    cl.ingest = {sink};
    cluster = p.sys.spawn(herald::cluster, cs, cl);
  }

  fake_store_state& store_state() {
    return state_in<fake_store_state>(store);
  }

  view_sink_state& sink_state() {
    return state_in<view_sink_state>(sink);
  }
};

/// What node `n` sees now: its members' states ("up", "down"; "absent"
/// if unknown; itself "up" once ready), after every planet ran.
struct seen {
  bool ready = false;
  std::map<std::string, std::string> states;
  std::map<std::string, std::string> addresses;
  std::shared_ptr<const owner_table> table;
};

template <class Fixture>
seen view_of(Fixture& f, planet&, node& n) {
  f.settle();
  auto& st = state_in<cluster_state>(n.cluster);
  seen out;
  out.ready = st.ready;
  if (st.ready)
    out.states[st.settings.node] = "up";
  for (auto& [name, m] : st.members) {
    out.states[name] = m.up ? "up" : "down";
    out.addresses[name] = m.card.address;
  }
  out.table = st.table;
  return out;
}

std::string member_state(const seen& v, const std::string& name) {
  auto i = v.states.find(name);
  return i == v.states.end() ? "absent" : i->second;
}

double share(const seen& v, const std::string& name) {
  return v.table ? v.table->ring.share(name) : 0.0;
}

/// Whether `n`'s cluster actor still answers (a dead one does not).
template <class Fixture>
bool alive(Fixture& f, planet& p, node& n) {
  f.settle();
  p.self->send(n.cluster, atom::get_v);
  f.settle();
  bool answered = false;
  p.self->receive([&](cluster_view&) { answered = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  return answered;
}

/// Publishes `hdl` on `port` of `p`.
template <class Handle>
void publish(planet& p, const Handle& hdl, uint16_t port) {
  p.sched.inline_next_enqueue();
  auto res = p.mm.publish(hdl, port);
  CAF_CHECK(res);
}

/// One step of work on `p` (a message or network event), if any.
bool step(planet& p) {
  return p.sched.try_run_once() || p.mpx.read_data()
         || p.mpx.try_exec_runnable() || p.mpx.try_accept_connection();
}

/// Moves `p`'s clock forward, fires the timers due by then (ticks,
/// request timeouts) and handles what follows.
template <class Fixture>
void advance(Fixture& f, planet& p, caf::timespan d) {
  p.sched.advance_time(d);
  f.settle();
}

struct two_nodes : point_to_point_fixture<base_fixture> {
  node e; // earth: joins mars (its seed)
  node m; // mars: alone by config

  /// Handles every message and network event without firing timers: the
  /// cluster actors' ticks re-arm forever (exec_all would never end).
  void settle() {
    while (step(earth) || step(mars))
      ; // repeat
  }

  // Stop the cluster actors before the base fixture runs everything to the
  // end (timers included).
  ~two_nodes() {
    for (auto* n : {&e, &m})
      n->stop();
    settle();
  }

  void start(std::string earth_name = "earth") {
    // Mars publishes first; earth's first tick connects to it.
    m.start(mars, "mars", "mars:7102", {});
    settle(); // publish runs the next message inline: nothing may wait
    prepare_connection(mars, earth, "mars", 7102);
    publish(mars, m.cluster, 7102);
    e.start(earth, std::move(earth_name), "earth:7101", {"mars:7102"});
    settle();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(two_node_tests, two_nodes)

CAF_TEST(two nodes join each other and are ready) {
  start();
  auto ve = view_of(*this, earth, e);
  auto vm = view_of(*this, mars, m);
  CAF_CHECK(ve.ready);
  CAF_CHECK(vm.ready);
  CAF_CHECK_EQUAL(member_state(ve, "mars"), "up");
  CAF_CHECK_EQUAL(member_state(vm, "earth"), "up");
  CAF_CHECK_EQUAL(member_state(ve, "earth"), "up"); // itself
  CAF_CHECK_EQUAL(vm.addresses["earth"], "earth:7101");
  // Both ingest members share the ring.
  CAF_CHECK_GREATER(share(ve, "mars"), 0.1);
  CAF_CHECK_GREATER(share(ve, "earth"), 0.1);
}

CAF_TEST(a node with seeds is not ready before it joined) {
  m.start(mars, "mars", "mars:7102", {});
  // No connection prepared: earth's seed does not answer.
  e.start(earth, "earth", "earth:7101", {"mars:7102"});
  settle();
  auto ve = view_of(*this, earth, e);
  CAF_CHECK(!ve.ready);
  CAF_CHECK_EQUAL(member_state(ve, "mars"), "absent");
  // Alone by config: ready at once.
  CAF_CHECK(view_of(*this, mars, m).ready);
}

CAF_TEST(a silent member is down after the timeout and rejoins) {
  start();
  CAF_REQUIRE_EQUAL(member_state(view_of(*this, earth, e), "mars"), "up");
  auto since = state_in<cluster_state>(e.cluster).members["mars"].since_ms;
  // Earth's clock runs on, mars's stands still: no heartbeat from mars.
  for (int i = 0; i < 4; ++i)
    advance(*this, earth, 500ms);
  CAF_CHECK_EQUAL(member_state(view_of(*this, earth, e), "mars"), "up");
  CAF_CHECK(e.store_state().taken_over.empty()); // 2 s: not yet
  advance(*this, earth, 600ms); // 2.6 s without a heartbeat
  // Down: its leases were taken over (fence bumped) ...
  auto& taken = e.store_state().taken_over;
  CAF_REQUIRE_EQUAL(taken.size(), 1u);
  CAF_CHECK_EQUAL(taken[0], "mars");
  // ... and, as mars still answers here (frozen clock, not a frozen
  // process), earth's reconnection made it a member again at once: a new
  // membership, not the old one.
  auto& st = state_in<cluster_state>(e.cluster);
  CAF_CHECK_EQUAL(member_state(view_of(*this, earth, e), "mars"), "up");
  CAF_CHECK_GREATER(st.epoch, 2);
  CAF_CHECK_GREATER_OR_EQUAL(st.members["mars"].since_ms, since);
  // Heartbeats flow again and keep it up.
  advance(*this, mars, 500ms);
  advance(*this, earth, 1000ms);
  CAF_CHECK_EQUAL(member_state(view_of(*this, earth, e), "mars"), "up");
  CAF_CHECK_EQUAL(taken.size(), 1u);
}

CAF_TEST(a node may not take the name of the node it joins) {
  m.start(mars, "mars", "mars:7102", {});
  settle();
  prepare_connection(mars, earth, "mars", 7102);
  publish(mars, m.cluster, 7102);
  e.start(earth, "mars", "earth:7101", {"mars:7102"}); // a second "mars"
  settle();
  auto vm = view_of(*this, mars, m);
  CAF_CHECK_EQUAL(vm.states.size(), 1u); // mars alone
  CAF_CHECK(alive(*this, mars, m));
  CAF_CHECK(!alive(*this, earth, e)); // it quit with the conflict
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

struct three_nodes : belt_fixture<base_fixture> {
  node a; // on earth, seed: mars
  node b; // on mars, no seeds
  node c; // on jupiter, seed: mars; learns earth from mars

  void settle() {
    while (step(earth) || step(mars) || step(jupiter))
      ; // repeat
  }

  ~three_nodes() {
    for (auto* n : {&a, &b, &c})
      n->stop();
    settle();
  }

  three_nodes() {
    // One acceptor per published port, several prepared connections each.
    auto mars_acceptor = next_accept_handle();
    auto earth_acceptor = next_accept_handle();
    prepare_connection(mars, earth, "mars", 7102, mars_acceptor);
    prepare_connection(mars, jupiter, "mars", 7102, mars_acceptor);
    prepare_connection(earth, jupiter, "earth", 7101, earth_acceptor);
    b.start(mars, "b", "mars:7102", {});
    settle(); // publish runs the next message inline: nothing may wait
    publish(mars, b.cluster, 7102);
    a.start(earth, "a", "earth:7101", {"mars:7102"});
    settle();
    publish(earth, a.cluster, 7101);
    settle();
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(three_node_tests, three_nodes)

CAF_TEST(a node learns the others through its seed and the mesh completes) {
  c.start(jupiter, "c", "jupiter:7103", {"mars:7102"});
  settle();
  // c knows a only through b's card; its next tick connects to a.
  advance(*this, jupiter, 500ms);
  auto va = view_of(*this, earth, a);
  auto vb = view_of(*this, mars, b);
  auto vc = view_of(*this, jupiter, c);
  for (auto* v : {&va, &vb, &vc}) {
    CAF_CHECK(v->ready);
    for (auto name : {"a", "b", "c"})
      CAF_CHECK_EQUAL(member_state(*v, name), "up");
  }
  // Every node decides the same owners.
  auto ta = a.sink_state().table;
  auto tb = b.sink_state().table;
  auto tc = c.sink_state().table;
  CAF_REQUIRE(ta && tb && tc);
  CAF_CHECK_EQUAL(ta->ring.size(), 3u);
  size_t differ = 0;
  std::map<std::string, int> owned;
  for (int i = 0; i < 1000; ++i) {
    auto tenant = "tenant-" + std::to_string(i);
    auto& o = ta->limiter_owner(tenant);
    ++owned[o];
    if (o != tb->limiter_owner(tenant) || o != tc->limiter_owner(tenant))
      ++differ;
  }
  CAF_CHECK_EQUAL(differ, 0u);
  CAF_CHECK_EQUAL(owned.size(), 3u); // each owns some
  for (size_t s = 0; s < owner_table::idempotency_shards; ++s)
    if (ta->shard_owner(s) != tc->shard_owner(s))
      ++differ;
  CAF_CHECK_EQUAL(differ, 0u);
}

CAF_TEST(a second node with a taken name is refused) {
  // c calls itself "a" while a is alive.
  c.start(jupiter, "a", "jupiter:7103", {"mars:7102"});
  settle();
  auto vb = view_of(*this, mars, b);
  CAF_CHECK_EQUAL(member_state(vb, "a"), "up");
  CAF_CHECK_EQUAL(vb.addresses["a"], "earth:7101"); // the first one
  CAF_CHECK(alive(*this, earth, a));
  CAF_CHECK(!alive(*this, jupiter, c)); // c's cluster actor quit
}

CAF_TEST_FIXTURE_SCOPE_END()
