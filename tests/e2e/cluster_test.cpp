// herald-test-links: herald_channels herald_policy
// (herald_channels only for CAF, httplib and nlohmann::json: the nodes run as
// processes; herald_policy for the hash ring that names a tenant's owner)
#define CAF_SUITE cluster

// End-to-end tests of a Herald cluster: several real `herald` processes on
// loopback that form a full mesh over CAF's network layer
// (herald.cluster.*), one PostgreSQL (HERALD_TEST_DB_URL) and a
// fake-provider receiver:
//   1. three nodes (node1 ingest-only, node2 and node3 workers) form a mesh:
//      /ready, GET /admin/cluster, cluster-wide /admin/actors, delivery of
//      what node1 accepts by the workers' dispatchers;
//   2. a worker killed (SIGKILL) under load: the survivors mark it down,
//      take over its leases and deliver everything; duplicates are bounded
//      by what was in flight;
//   3. a worker frozen (SIGSTOP) under load: the same after the connection
//      timeout; after SIGCONT it rejoins, its stale queue produces no more
//      duplicates than it held, and it leaves the live worker's leases
//      alone;
//   4. a node under the name of a live member is refused and exits;
//   5. a node of another protocol version never joins;
//   6. a tenant's rate limit holds cluster-wide with three ingest nodes, and
//      again once the node that owned the limiter is killed.
// Every test starts and stops its own nodes (names carry a random tag) and
// uses tenants with random ids, so tests and runs can share the database.
// Nothing is left open in it: every notification is delivered before a
// test ends.

#include <caf/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/policy/hash_ring.hpp"
#include "support/node_harness.hpp"
#include "support/process.hpp"

#include <caf/test/unit_test_impl.hpp>

using namespace std::chrono_literals;
using namespace herald::test::harness;
using herald::test::child_process;
using herald::test::eventually;
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// -- environment and node configuration ------------------------------------------

std::string db_url() {
  auto x = env("HERALD_TEST_DB_URL");
  if (x.empty())
    CAF_FAIL("HERALD_TEST_DB_URL is not set: the e2e cluster tests need a "
             "real PostgreSQL (scripts/test.sh exports it; for a local run: "
             "bash scripts/pg.sh start /tmp/herald-pg-cluster 55491)");
  return x;
}

const std::string admin_token = "e2e-cluster-admin-" + random_suffix();

/// herald.channels.webhook.pool-size: calls in flight per worker and
/// endpoint, which bounds what a crash can make the receiver see twice.
constexpr int pool_size = 16;

using roles_t = std::vector<std::string>;

std::string ini_list(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (auto& x : xs)
    out += (out.size() > 1 ? ", " : "") + quote(x);
  return out + "]";
}

std::string address_of(int port) {
  return "127.0.0.1:" + std::to_string(port);
}

/// The options of one cluster node. The lease TTL stays at its default
/// (1 min): within the deadlines of these tests only a takeover, never an
/// expired lease, can hand a dead worker's work to another node.
option_map cluster_options(const std::string& name, const roles_t& roles,
                           int port, const std::vector<int>& seed_ports) {
  std::vector<std::string> seeds;
  for (auto p : seed_ports)
    seeds.push_back(address_of(p));
  return {
    {"herald.node.name", quote(name)},
    {"herald.node.roles", ini_list(roles)},
    {"herald.api.host", quote("127.0.0.1")},
    {"herald.api.port", "0"},
    {"herald.api.threads", "48"},
    {"herald.admin.host", quote("127.0.0.1")},
    {"herald.admin.port", "0"},
    {"herald.admin.token", quote(admin_token)},
    {"herald.db.url", quote(db_url())},
    {"herald.cluster.name", quote("herald")},
    {"herald.cluster.host", quote("127.0.0.1")},
    {"herald.cluster.port", std::to_string(port)},
    {"herald.cluster.seeds", ini_list(seeds)},
    {"herald.cluster.heartbeat-interval", "500ms"},
    {"herald.cluster.connection-timeout", "2s"},
    {"herald.cluster.reconnect-max-delay", "5s"},
    {"herald.delivery.sweep-interval", "200ms"},
    {"herald.channels.webhook.pool-size", std::to_string(pool_size)},
    {"herald.channels.webhook.timeout", "5s"},
    {"herald.retry.base-delay", "100ms"},
    {"herald.retry.max-delay", "1s"},
    {"herald.tenants.default-rate", "1000000"},
    {"herald.tenants.default-burst", "1000000"},
    // The cluster's INFO lines (joins, takeovers) are part of what is tested.
    {"herald.log.level", quote("info")},
  };
}

/// Sets an environment variable for the processes started while it lives
/// (child_process passes the test's environment on).
struct scoped_env {
  std::string name;
  scoped_env(std::string n, const std::string& value) : name(std::move(n)) {
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~scoped_env() {
    ::unsetenv(name.c_str());
  }
};

// -- observing nodes -------------------------------------------------------------

double seconds_since(steady_clock::time_point t0) {
  return std::chrono::duration<double>(steady_clock::now() - t0).count();
}

/// GET /ready on the node's API port.
reply ready_of(const herald_node& n) {
  auto c = n.api(5s);
  return request(*c, "GET", "/ready", "");
}

/// GET /admin/cluster; null unless 200.
json cluster_view(const herald_node& n) {
  auto c = n.admin();
  auto r = request(*c, "GET", "/admin/cluster", admin_token);
  return r.status == 200 && r.body.is_object() ? r.body : json(nullptr);
}

/// The member `name` of a cluster view; null if not listed.
json member_of(const json& view, const std::string& name) {
  if (!view.is_object() || !view["members"].is_array())
    return nullptr;
  for (auto& m : view["members"])
    if (text_field(m, "name") == name)
      return m;
  return nullptr;
}

/// The state of member `name` as `n` sees it ("" if not listed).
std::string state_seen_by(const herald_node& n, const std::string& name) {
  return text_field(member_of(cluster_view(n), name), "state");
}

/// The items of GET /admin/actors`query` on `n`; null unless 200.
json actors_of(const herald_node& n, const std::string& query = "") {
  auto c = n.admin();
  auto r = request(*c, "GET", "/admin/actors" + query, admin_token);
  return r.status == 200 && r.body.is_object() && r.body["items"].is_array()
           ? r.body["items"]
           : json(nullptr);
}

/// The state of `n`'s actor of `kind` (from its own admin port); null if it
/// has none.
json local_state(const herald_node& n, const std::string& kind) {
  auto items = actors_of(n);
  if (items.is_array())
    for (auto& a : items)
      if (text_field(a, "kind") == kind && a.contains("state"))
        return a["state"];
  return nullptr;
}

json dispatcher_state(const herald_node& n) {
  return local_state(n, "dispatcher");
}

/// The first line of `text` holding every one of `needles`; "" if none
/// does.
std::string line_with(const std::string& err,
                      const std::vector<std::string>& needles) {
  size_t pos = 0;
  while (pos < err.size()) {
    auto nl = err.find('\n', pos);
    if (nl == std::string::npos)
      nl = err.size();
    auto line = err.substr(pos, nl - pos);
    bool all = std::all_of(needles.begin(), needles.end(), [&](auto& x) {
      return line.find(x) != std::string::npos;
    });
    if (all)
      return line;
    pos = nl + 1;
  }
  return {};
}

/// Needles for a JSON log line (core/log.hpp) of `level` from `actor`
/// whose message starts with `msg_prefix` and holds `part`.
std::vector<std::string> log_of(const std::string& level, const std::string& actor,
                                 const std::string& msg_prefix,
                                 const std::string& part = "") {
  std::vector<std::string> xs{"\"level\":\"" + level + "\"",
                              "\"actor\":\"" + actor + "\"",
                              "\"msg\":\"" + msg_prefix};
  if (!part.empty())
    xs.push_back(part);
  return xs;
}

/// The first line of `n`'s stderr holding every one of `needles`.
std::string log_line(herald_node& n, const std::vector<std::string>& needles) {
  return line_with(n.proc().stderr_text(), needles);
}

json stats_of(const fake_provider& fp, bool ids = false) {
  return receiver_call(fp, ids ? "/stats?ids=1" : "/stats");
}

/// Counts of each status in a tenant's listing ({"?": 1} on an error).
std::map<std::string, size_t> census(httplib::Client& api,
                                     const std::string& key) {
  std::string error;
  auto items = all_pages(api, key, "/v1/notifications?limit=200", error);
  std::map<std::string, size_t> out;
  if (!error.empty()) {
    CAF_MESSAGE("listing failed: " << error);
    out["?"] = 1;
    return out;
  }
  for (auto& n : items)
    ++out[text_field(n, "status")];
  return out;
}

std::string census_text(const std::map<std::string, size_t>& c) {
  std::string out;
  for (auto& [status, n] : c)
    out += (out.empty() ? "" : " ") + status + "=" + std::to_string(n);
  return out.empty() ? "(none)" : out;
}

// -- the cluster -----------------------------------------------------------------

/// Nodes node1-TAG, node2-TAG, ... with the given roles, on free cluster
/// ports, each seeded with all of them. Stopped with SIGTERM at the end;
/// each node still running must then exit 0.
class cluster {
public:
  /// `extra` overrides or adds options of every node.
  explicit cluster(const std::vector<roles_t>& roles,
                   const option_map& extra = {})
    : tag_(random_suffix().substr(0, 6)), roles_(roles) {
    ports_ = free_ports(roles.size());
    CAF_REQUIRE_EQUAL(ports_.size(), roles.size());
    for (size_t i = 0; i < roles.size(); ++i) {
      auto opts = cluster_options(name(i), roles[i], ports_[i], ports_);
      for (auto& [k, v] : extra)
        opts[k] = v;
      nodes_.push_back(std::make_unique<herald_node>(opts));
    }
  }

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  ~cluster() {
    stop_all();
  }

  size_t size() const {
    return nodes_.size();
  }

  herald_node& operator[](size_t i) {
    return *nodes_[i];
  }

  std::string name(size_t i) const {
    return "node" + std::to_string(i + 1) + "-" + tag_;
  }

  std::string address(size_t i) const {
    return address_of(ports_[i]);
  }

  const roles_t& roles(size_t i) const {
    return roles_[i];
  }

  const std::vector<int>& ports() const {
    return ports_;
  }

  const std::string& tag() const {
    return tag_;
  }

  void start(size_t i) {
    if (!nodes_[i]->start())
      CAF_FAIL(name(i) << ": " << nodes_[i]->error());
  }

  void start_all() {
    for (size_t i = 0; i < size(); ++i)
      start(i);
  }

  /// Whether every node in `live` is ready (200, "joined") and lists every
  /// node in `live` as up with its address and roles; why not in `why`.
  bool mesh_formed(const std::vector<size_t>& live, std::string& why) {
    for (auto i : live) {
      auto r = ready_of(*nodes_[i]);
      if (r.status != 200 || r.field("cluster") != "joined") {
        why = name(i) + " /ready: " + r.describe();
        return false;
      }
      auto view = cluster_view(*nodes_[i]);
      for (auto j : live) {
        auto m = member_of(view, name(j));
        if (text_field(m, "state") != "up" || text_field(m, "address") != address(j)
            || m.value("roles", json::array()) != json(roles_[j])) {
          why = name(i) + " sees " + name(j) + " as "
                + (m.is_null() ? std::string{"nothing"} : m.dump());
          return false;
        }
      }
    }
    return true;
  }

  std::vector<size_t> all() const {
    std::vector<size_t> xs;
    for (size_t i = 0; i < size(); ++i)
      xs.push_back(i);
    return xs;
  }

  /// Waits for the mesh of `live` (default: all); fails the test with the
  /// last reason if it does not form in time. The seconds it took.
  double await_mesh(std::vector<size_t> live = {},
                    milliseconds timeout = 30s) {
    if (live.empty())
      live = all();
    auto t0 = steady_clock::now();
    std::string why;
    if (!eventually([&] { return mesh_formed(live, why); }, timeout, 100ms))
      CAF_FAIL("the mesh did not form within " << timeout.count()
                                               << " ms: " << why);
    return seconds_since(t0);
  }

  /// SIGTERM to every running node at once, then waits for each.
  void stop_all() {
    std::vector<size_t> running;
    for (size_t i = 0; i < size(); ++i)
      if (nodes_[i]->running()) {
        ::kill(nodes_[i]->proc().pid(), SIGTERM);
        running.push_back(i);
      }
    for (auto i : running) {
      auto rc = nodes_[i]->stop();
      if (rc != 0)
        CAF_MESSAGE(name(i) << ": " << nodes_[i]->error());
      CAF_CHECK_EQUAL(rc, 0);
    }
  }

private:
  std::string tag_;
  std::vector<roles_t> roles_;
  std::vector<int> ports_;
  std::vector<std::unique_ptr<herald_node>> nodes_;
};

const roles_t ingest_only{"ingest"};
const roles_t worker_only{"worker"};

tenant new_tenant(const herald_node& n, int rate, int burst) {
  auto t = make_tenant(n, admin_token, "e2e-cluster-" + random_suffix(),
                       {{"rate_per_sec", rate}, {"burst", burst}});
  if (!t.error.empty())
    CAF_FAIL(t.error);
  return t;
}

json note(const fake_provider& fp, int n) {
  return {{"channel", "webhook"},
          {"to", fp.url("/hooks/e2e-cluster")},
          {"body", "cluster " + std::to_string(n)},
          {"data", {{"n", n}}}};
}

/// Submits `n` notifications to `node` in batches of 50 (each batch leased
/// to one worker: several batches spread over the workers); fails the test
/// unless all are accepted.
std::vector<std::string> submit(const herald_node& node, const tenant& t,
                                const fake_provider& fp, int n) {
  std::vector<json> items;
  for (int i = 0; i < n; ++i)
    items.push_back(note(fp, i));
  auto api = node.api(30s);
  std::string error;
  auto ids = submit_batches(*api, t.key, items, error, 50);
  if (!error.empty())
    CAF_FAIL(error);
  CAF_REQUIRE_EQUAL(ids.size(), static_cast<size_t>(n));
  return ids;
}

/// "took over N notifications leased to NAME" -> N (-1 if not such a line).
int64_t taken_over(const std::string& line) {
  auto at = line.find("took over ");
  if (at == std::string::npos)
    return -1;
  return std::atoll(line.c_str() + at + 10);
}

/// Waits until the receiver has seen all `ids` and the database says each
/// is delivered; checks that nothing else arrived.
void expect_all_delivered(const fake_provider& fp, const herald_node& ingest,
                          const tenant& t, const std::vector<std::string>& ids,
                          milliseconds timeout) {
  auto total = static_cast<int64_t>(ids.size());
  auto t0 = steady_clock::now();
  json s;
  auto arrived = eventually(
    [&] {
      s = stats_of(fp);
      return int_field(s, "unique") >= total;
    },
    timeout, 100ms);
  CAF_MESSAGE("receiver has " << int_field(s, "unique") << " of " << total
                              << " after " << seconds_since(t0) << " s");
  CAF_CHECK(arrived);
  // Outcomes are recorded after the receiver answered: await the rows.
  auto api = ingest.api(30s);
  std::map<std::string, size_t> c;
  auto recorded = eventually(
    [&] {
      c = census(*api, t.key);
      return c["delivered"] == ids.size();
    },
    20s, 200ms);
  CAF_MESSAGE("in the database: " << census_text(c));
  CAF_CHECK(recorded);
  // Exactly ours, each at least once.
  auto seen = stats_of(fp, true).value("ids", json::object());
  size_t ours = 0;
  for (auto& id : ids)
    ours += seen.contains(id) ? 1 : 0;
  CAF_CHECK_EQUAL(ours, ids.size());
  CAF_CHECK_EQUAL(seen.size(), ids.size());
}

} // namespace

// -- 1. a mesh ------------------------------------------------------------------------

CAF_TEST(three nodes form a mesh and the workers deliver what the ingest node accepts) {
  fake_provider fp;
  CAF_REQUIRE(fp.ok());
  cluster c{{ingest_only, worker_only, worker_only}};
  // Alone, node1 has seeds but no one to join: not ready.
  c.start(0);
  auto early = ready_of(c[0]);
  CAF_MESSAGE("node1 alone: /ready " << early.describe());
  CAF_CHECK_EQUAL(early.status, 503);
  CAF_CHECK_EQUAL(early.field("cluster"), "joining");
  c.start(1);
  c.start(2);
  auto formed = c.await_mesh();
  CAF_MESSAGE("mesh formed " << formed << " s after the last start");
  // Every node's view: itself and the two others, up, with their roles.
  for (size_t i = 0; i < c.size(); ++i) {
    auto view = cluster_view(c[i]);
    CAF_REQUIRE(view.is_object());
    CAF_CHECK_EQUAL(text_field(view, "node"), c.name(i));
    CAF_CHECK_EQUAL(view.value("ready", false), true);
    CAF_CHECK_GREATER(int_field(view, "epoch"), 0);
    auto members = view.value("members", json::array());
    CAF_CHECK_EQUAL(members.size(), c.size());
    for (size_t j = 0; j < c.size(); ++j) {
      auto m = member_of(view, c.name(j));
      CAF_CHECK_EQUAL(text_field(m, "state"), "up");
      CAF_CHECK_EQUAL(text_field(m, "address"), c.address(j));
      CAF_CHECK_EQUAL(m.value("roles", json::array()), json(c.roles(j)));
      CAF_CHECK_EQUAL(m.value("self", false), i == j);
      CAF_CHECK(!text_field(m, "since").empty());
      CAF_CHECK_GREATER_OR_EQUAL(int_field(m, "heartbeat_age_ms"), 0);
      CAF_CHECK_LESS(int_field(m, "heartbeat_age_ms"), 2000);
    }
    // The limiter ring is over the ingest members only: node1 owns all.
    CAF_CHECK_GREATER(member_of(view, c.name(0)).value("ring_share", 0.0), 0.999);
    CAF_CHECK_EQUAL(member_of(view, c.name(1)).value("ring_share", 1.0), 0.0);
    CAF_CHECK_EQUAL(member_of(view, c.name(2)).value("ring_share", 1.0), 0.0);
  }
  // Every node's actors, from node1.
  auto items = actors_of(c[0], "?scope=cluster");
  CAF_REQUIRE(items.is_array());
  std::map<std::string, std::set<std::string>> kinds; // by node
  size_t errors = 0;
  for (auto& a : items) {
    kinds[text_field(a, "node")].insert(text_field(a, "kind"));
    if (a.contains("error")) {
      ++errors;
      CAF_MESSAGE("actor with an error: " << a.dump());
    }
    CAF_CHECK(a.contains("id"));
  }
  CAF_CHECK_EQUAL(errors, 0u);
  CAF_CHECK_EQUAL(kinds.size(), 3u);
  for (size_t i = 0; i < c.size(); ++i) {
    auto& ks = kinds[c.name(i)];
    CAF_CHECK_EQUAL(ks.count("cluster"), 1u);
    CAF_CHECK_EQUAL(ks.count("store"), 1u);
    CAF_CHECK_EQUAL(ks.count("dispatcher"), i == 0 ? 0u : 1u);
    CAF_CHECK_EQUAL(ks.count("writer"), i == 0 ? 1u : 0u);
  }
  {
    auto admin = c[0].admin();
    auto r = request(*admin, "GET", "/admin/actors/" + c.name(1) + "/dispatcher/",
                     admin_token);
    CAF_CHECK_EQUAL(r.status, 200);
    auto xs = r.body.value("items", json::array());
    CAF_REQUIRE_EQUAL(xs.size(), 1u);
    CAF_CHECK_EQUAL(text_field(xs[0], "node"), c.name(1));
    CAF_CHECK_EQUAL(text_field(xs[0], "kind"), "dispatcher");
    r = request(*admin, "GET", "/admin/actors/" + c.name(0) + "/dispatcher/",
                admin_token);
    CAF_CHECK_EQUAL(r.status, 404);
  }
  // Delivery: one notification, then 19 more one by one (each leased to the
  // worker with the most credits left: both get some).
  auto t = new_tenant(c[0], 100000, 100000);
  auto api = c[0].api();
  auto first = request(*api, "POST", "/v1/notifications", t.key, note(fp, 0));
  CAF_REQUIRE_EQUAL(first.status, 202);
  auto id = first.field("id");
  json doc;
  CAF_CHECK(eventually(
    [&] {
      doc = request(*api, "GET", "/v1/notifications/" + id, t.key).body;
      return text_field(doc, "status") == "delivered";
    },
    20s, 50ms));
  CAF_MESSAGE("the first notification: " << doc.dump());
  CAF_CHECK(stats_of(fp, true).value("ids", json::object()).contains(id));
  std::vector<std::string> ids{id};
  for (int i = 1; i < 20; ++i) {
    auto r = request(*api, "POST", "/v1/notifications", t.key, note(fp, i));
    CAF_REQUIRE_EQUAL(r.status, 202);
    ids.push_back(r.field("id"));
  }
  expect_all_delivered(fp, c[0], t, ids, 20s);
  // Dispatched and delivered by node2 and node3 (node1 has no dispatcher).
  json d2;
  json d3;
  auto counted = eventually(
    [&] {
      d2 = dispatcher_state(c[1]);
      d3 = dispatcher_state(c[2]);
      return int_field(d2, "delivered") + int_field(d3, "delivered") >= 20;
    },
    10s, 50ms);
  CAF_MESSAGE("node2 dispatcher: " << d2.dump());
  CAF_MESSAGE("node3 dispatcher: " << d3.dump());
  CAF_CHECK(counted);
  // Exactly ours, unless the workers' sweepers also claimed open rows that
  // something else left in the shared database (an aborted run).
  auto claimed = int_field(d2, "claimed") + int_field(d3, "claimed");
  if (claimed == 0) {
    CAF_CHECK_EQUAL(int_field(d2, "dispatched") + int_field(d3, "dispatched"), 20);
    CAF_CHECK_EQUAL(int_field(d2, "delivered") + int_field(d3, "delivered"), 20);
  } else {
    CAF_MESSAGE("the workers also claimed " << claimed << " open rows of "
                "others from the database: their counters are lower bounds");
    CAF_CHECK_GREATER_OR_EQUAL(
      int_field(d2, "dispatched") + int_field(d3, "dispatched"), 20);
  }
  CAF_CHECK_GREATER(int_field(d2, "dispatched"), 0);
  CAF_CHECK_GREATER(int_field(d3, "dispatched"), 0);
  CAF_CHECK(dispatcher_state(c[0]).is_null());
  auto s = stats_of(fp);
  CAF_CHECK_EQUAL(int_field(s, "duplicates"), 0);
  CAF_CHECK_EQUAL(int_field(s, "received"), 20);
  c.stop_all();
  CAF_CHECK_EQUAL(fp.terminate(), 0);
}

namespace {

/// Waits until `victim` is in mid-stream (it has delivered two senders'
/// worth of what it was handed: "dispatched" counts what went to its pool
/// at once, "delivered" what came back from the receiver) and returns its
/// dispatcher's state then.
json mid_stream(herald_node& victim) {
  json state;
  CAF_REQUIRE(eventually(
    [&] {
      state = dispatcher_state(victim);
      return int_field(state, "delivered") >= 2 * pool_size;
    },
    20s, 20ms));
  return state;
}

/// What the survivors logged after worker `v` died or froze at `t0`: the
/// line saying it is down, the line saying one of them took its leases
/// over, and when that came (seconds after t0; -1: not within 5 s).
struct takeover_seen {
  std::string down;
  std::string takeover;
  double takeover_s = -1;
  bool seen = false;
};

takeover_seen await_takeover(cluster& c, size_t v,
                             steady_clock::time_point t0) {
  takeover_seen x;
  x.seen = eventually(
    [&] {
      for (size_t i : {size_t{0}, 3 - v}) {
        if (x.down.empty())
          x.down = log_line(c[i], log_of("warn", "cluster", "member " + c.name(v) + " ("
                                                   + c.address(v) + ") is down: "));
        if (x.takeover.empty())
          x.takeover = log_line(c[i], log_of("info", "cluster", "took over ",
                                       " notifications leased to " + c.name(v)));
      }
      if (!x.takeover.empty() && x.takeover_s < 0)
        x.takeover_s = seconds_since(t0);
      return !x.down.empty() && !x.takeover.empty();
    },
    5s, 20ms);
  return x;
}

/// The worker (1 or 2) node1 handed the batch to: the one that had the most
/// credits at its last heartbeat got all of it.
size_t busiest_worker(cluster& c) {
  size_t pick = 0;
  CAF_REQUIRE(eventually(
    [&] {
      auto a = int_field(dispatcher_state(c[1]), "dispatched");
      auto b = int_field(dispatcher_state(c[2]), "dispatched");
      if (a <= 0 && b <= 0)
        return false;
      pick = a >= b ? 1 : 2;
      return true;
    },
    20s, 20ms));
  return pick;
}

} // namespace

// -- 2. a worker killed ---------------------------------------------------------------

CAF_TEST(a worker killed under load loses nothing and a survivor takes over its leases) {
  constexpr int total = 600;
  fake_provider fp;
  CAF_REQUIRE(fp.ok());
  // 200 ms per call: a worker delivers about pool_size / 0.2 s = 80/s, so
  // the victim still holds most of its share when it is killed.
  CAF_REQUIRE(!receiver_call(fp, "/control", {{"latency_ms", 200}}).empty());
  cluster c{{ingest_only, worker_only, worker_only}};
  c.start_all();
  c.await_mesh();
  auto t = new_tenant(c[0], 100000, 100000);
  auto ids = submit(c[0], t, fp, total);
  // node1 hands a batch to the worker with the most credits: it gets all.
  auto v = busiest_worker(c);
  auto& victim = c[v];
  auto& other = c[3 - v];
  auto before = mid_stream(victim);
  CAF_MESSAGE("the victim before the kill: " << before.dump());
  auto t_kill = steady_clock::now();
  victim.kill_hard();
  // The survivors say it is down; one of them frees its leases.
  auto [down, takeover, takeover_s, taken] = await_takeover(c, v, t_kill);
  CAF_MESSAGE("down: " << down);
  CAF_MESSAGE("takeover " << takeover_s << " s after the kill: " << takeover);
  CAF_CHECK(taken);
  CAF_CHECK_GREATER(taken_over(takeover), 0);
  for (size_t i : {size_t{0}, 3 - v})
    CAF_CHECK(eventually(
      [&] { return state_seen_by(c[i], c.name(v)) == "down"; }, 5s, 50ms));
  // Zero lost: all delivered, by node3 now.
  expect_all_delivered(fp, c[0], t, ids, 60s);
  // The receiver counts a call when it answers (after its 200 ms), so every
  // call the victim had in flight was counted although its answer went
  // nowhere; those rows were still leased and undecided, and the survivor
  // sends them again. Calls in flight per worker and endpoint are at most
  // the pool size, hence at most pool_size duplicates. (An outcome received
  // but not yet written would add one more; the victim's delivered counter
  // rises only once a round of outcomes is written, and the kill follows
  // it by milliseconds, the next round being 200 ms away.)
  auto s = stats_of(fp);
  CAF_MESSAGE("receiver: " << s.dump());
  CAF_MESSAGE("node3 dispatcher: " << dispatcher_state(other).dump());
  CAF_CHECK_EQUAL(int_field(s, "unique"), total);
  CAF_CHECK_LESS_OR_EQUAL(int_field(s, "duplicates"), pool_size);
}

// -- 3. a worker frozen ---------------------------------------------------------------

CAF_TEST(a worker frozen under load is taken over and rejoins when it wakes) {
  constexpr int total = 600;
  fake_provider fp;
  CAF_REQUIRE(fp.ok());
  CAF_REQUIRE(!receiver_call(fp, "/control", {{"latency_ms", 200}}).empty());
  cluster c{{ingest_only, worker_only, worker_only}};
  c.start_all();
  c.await_mesh();
  auto t = new_tenant(c[0], 100000, 100000);
  auto ids = submit(c[0], t, fp, total);
  // node1 hands a batch to the worker with the most credits: it gets all.
  auto v = busiest_worker(c);
  auto& victim = c[v];
  auto& other = c[3 - v];
  auto before = mid_stream(victim);
  CAF_MESSAGE("the victim before SIGSTOP: " << before.dump());
  // What it holds in memory (queued and in flight) when it freezes: of
  // ours, its dispatcher's jobs can only shrink from here (every row is
  // leased at insert). Rows of others it might claim from the shared
  // database until the stop never reach our receiver.
  auto held = int_field(before, "jobs");
  auto pid = victim.proc().pid();
  auto t_stop = steady_clock::now();
  CAF_REQUIRE_EQUAL(::kill(pid, SIGSTOP), 0);
  // A frozen node keeps its connections open: the others notice only after
  // connection-timeout (2 s) without a word from it, when CAF's middleman
  // closes the connection (middleman.connection-timeout) or the cluster
  // actor's heartbeat check fires at its next tick (every 500 ms); its last
  // heartbeat may be up to 500 ms old at the stop, hence at least 1.5 s.
  double down_s = -1;
  auto marked = eventually(
    [&] {
      if (state_seen_by(c[0], c.name(v)) != "down")
        return false;
      down_s = seconds_since(t_stop);
      return true;
    },
    6s, 20ms);
  CAF_MESSAGE("node1 marks the frozen node down " << down_s
                                                  << " s after SIGSTOP");
  CAF_REQUIRE(marked);
  CAF_CHECK_GREATER_OR_EQUAL(down_s, 1.4);
  CAF_CHECK_LESS_OR_EQUAL(down_s, 3.5);
  auto [down, takeover, takeover_s, taken] = await_takeover(c, v, t_stop);
  CAF_MESSAGE("down: " << down);
  CAF_MESSAGE("takeover " << takeover_s << " s after SIGSTOP: " << takeover);
  CAF_CHECK(taken);
  CAF_CHECK_GREATER(taken_over(takeover), 0);
  CAF_CHECK(eventually(
    [&] { return state_seen_by(other, c.name(v)) == "down"; }, 2s, 50ms));
  // Zero lost while it sleeps: node3 delivers its share too.
  expect_all_delivered(fp, c[0], t, ids, 60s);
  auto asleep = stats_of(fp);
  CAF_MESSAGE("receiver before SIGCONT: " << asleep.dump());
  // A second wave while it sleeps: node3, the only worker left, holds all
  // of it (leased to node3) and is delivering it when the frozen one wakes.
  // Nothing of it is the woken node's business.
  constexpr int wave = 300;
  auto node3_before = int_field(dispatcher_state(other), "delivered");
  auto ids2 = submit(c[0], t, fp, wave);
  json node3_state;
  CAF_REQUIRE(eventually(
    [&] {
      node3_state = dispatcher_state(other);
      return int_field(node3_state, "delivered") >= node3_before + 2 * pool_size;
    },
    20s, 20ms));
  auto node3_held = int_field(node3_state, "jobs");
  // It wakes and rejoins.
  auto t_cont = steady_clock::now();
  CAF_REQUIRE_EQUAL(::kill(pid, SIGCONT), 0);
  double up_s = -1;
  auto rejoined = eventually(
    [&] {
      if (state_seen_by(c[0], c.name(v)) != "up")
        return false;
      up_s = seconds_since(t_cont);
      return true;
    },
    10s, 50ms);
  CAF_MESSAGE("node1 sees it up again " << up_s << " s after SIGCONT");
  if (!rejoined) {
    CAF_MESSAGE("the woken node's stderr:\n" << victim.proc().stderr_text());
    CAF_MESSAGE("node1's view: " << cluster_view(c[0]).dump());
  }
  CAF_CHECK(rejoined);
  CAF_CHECK(eventually(
    [&] { return state_seen_by(other, c.name(v)) == "up"; }, 10s, 50ms));
  // Zero lost of both waves.
  auto both = ids;
  both.insert(both.end(), ids2.begin(), ids2.end());
  expect_all_delivered(fp, c[0], t, both, 60s);
  // Whatever the woken node still sends has its outcome fenced out (the
  // rows stay delivered). Wait until both workers hold nothing, so that
  // every call is counted.
  json after;
  json after3;
  auto idle = eventually(
    [&] {
      after = dispatcher_state(victim);
      after3 = dispatcher_state(other);
      return int_field(after, "jobs") == 0
             && int_field(after, "pending_outcomes") == 0
             && int_field(after3, "jobs") == 0
             && int_field(after3, "pending_outcomes") == 0;
    },
    30s, 100ms);
  CAF_MESSAGE("the woken node's dispatcher: " << after.dump());
  CAF_MESSAGE("node3's dispatcher: " << after3.dump());
  CAF_CHECK(idle);
  auto s = stats_of(fp, true);
  auto seen = s.value("ids", json::object());
  auto dups_in = [&](const std::vector<std::string>& xs) {
    int64_t n = 0;
    for (auto& id : xs)
      n += seen.value(id, 0) > 1 ? 1 : 0;
    return n;
  };
  auto dups1 = dups_in(ids);
  auto dups2 = dups_in(ids2);
  s.erase("ids");
  CAF_MESSAGE("receiver after the wake: " << s.dump());
  CAF_MESSAGE("duplicates: " << dups1 << " of the first wave (the victim held "
                             << held << " jobs when frozen), " << dups2
                             << " of the second (node3 held " << node3_held
                             << " when the victim woke)");
  CAF_CHECK_EQUAL(int_field(s, "unique"), total + wave);
  // The first wave: what the victim had on the wire when it froze was
  // counted by the receiver and sent again by node3 (pool_size calls). On
  // waking, its liveness gate is closed (its last heartbeat is older than
  // the connection timeout) until its dispatcher has dropped what it held,
  // so nothing more should go out twice (README, "A frozen node"). The
  // bound checked is the brief's: never more than the victim held.
  CAF_CHECK_LESS_OR_EQUAL(dups1, held);
  CAF_CHECK_LESS_OR_EQUAL(dups1, pool_size);
  // The database still says delivered for every one.
  auto api = c[0].api(30s);
  auto end = census(*api, t.key);
  CAF_MESSAGE("in the database after the wake: " << census_text(end));
  CAF_CHECK_EQUAL(end["delivered"], both.size());
  // The woken node knew it had been frozen: its clock jumped past the
  // connection timeout. It saw the others' connections close (they timed
  // it out) but did not take over node3's leases, so nothing of the
  // second wave, which node3 held and delivered, went out twice.
  auto paused = log_line(victim, log_of("warn", "cluster", "this node was unresponsive for "));
  CAF_MESSAGE("the woken node: " << paused);
  CAF_CHECK(!paused.empty());
  for (size_t i : {size_t{0}, 3 - v}) {
    auto line = log_line(victim, log_of("warn", "cluster", "member " + c.name(i), "is down"));
    if (!line.empty())
      CAF_MESSAGE("the woken node: " << line);
  }
  auto kept = log_line(victim, {"not taking over the leases of " + c.name(3 - v)});
  if (!kept.empty())
    CAF_MESSAGE("the woken node: " << kept);
  auto stolen = log_line(victim, {"took over", "leased to " + c.name(3 - v)});
  CAF_CHECK(stolen.empty());
  CAF_CHECK_EQUAL(dups2, 0);
  // The woken node, like the others, stops with exit code 0 (~cluster).
}

// -- 4. a duplicate name ----------------------------------------------------------------

CAF_TEST(a node under the name of a live member is refused and exits) {
  cluster c{{ingest_only, worker_only, worker_only}};
  c.start_all();
  c.await_mesh();
  // Since when node1 and node3 have node2 up: unchanged at the end.
  std::map<size_t, std::string> since;
  for (size_t i : {size_t{0}, size_t{2}})
    since[i] = text_field(member_of(cluster_view(c[i]), c.name(1)), "since");
  // A second node2, on its own port, seeded with the cluster.
  auto port = free_ports(1);
  CAF_REQUIRE_EQUAL(port.size(), 1u);
  auto seeds = c.ports();
  seeds.push_back(port[0]);
  auto path = write_file("twin-" + random_suffix() + ".ini",
                         render_ini(cluster_options(c.name(1), worker_only,
                                                    port[0], seeds)));
  auto t0 = steady_clock::now();
  child_process twin{HERALD_BINARY, {"--config-file=" + path}};
  // Refused at once, and it says why.
  std::string why;
  auto told = eventually(
    [&] {
      why = line_with(twin.stderr_text(), log_of("error", "cluster", "", "must be unique"));
      return !why.empty();
    },
    15s, 20ms);
  CAF_MESSAGE("the twin, after " << seconds_since(t0) << " s: " << why);
  CAF_CHECK(told);
  CAF_CHECK(why.find(c.name(1)) != std::string::npos);
  // Then it exits, non-zero.
  auto rc = twin.wait_exit(15s);
  auto took = seconds_since(t0);
  CAF_MESSAGE("the twin exited with " << rc << " after " << took << " s");
  auto err = twin.stderr_text();
  if (rc <= 0 || rc >= 128)
    CAF_MESSAGE("its stdout:\n" << twin.stdout_text() << "its stderr:\n"
                                 << err);
  CAF_CHECK_GREATER(rc, 0);
  CAF_CHECK_LESS(rc, 128); // an exit, not a crash (-1: still running)
  // Some member refused it by name.
  std::string refusal;
  for (size_t i = 0; i < c.size() && refusal.empty(); ++i)
    refusal = log_line(c[i], {"refused a join from " + address_of(port[0])});
  CAF_MESSAGE("refused by: " << refusal);
  CAF_CHECK(!refusal.empty());
  // node2 is still the same member everywhere, and nobody lists the twin.
  std::string why_not;
  CAF_CHECK(c.mesh_formed(c.all(), why_not));
  if (!why_not.empty())
    CAF_MESSAGE(why_not);
  for (size_t i = 0; i < c.size(); ++i) {
    auto view = cluster_view(c[i]);
    if (i != 1)
      CAF_CHECK_EQUAL(text_field(member_of(view, c.name(1)), "since"), since[i]);
    for (auto& m : view.value("members", json::array()))
      CAF_CHECK_NOT_EQUAL(text_field(m, "address"), address_of(port[0]));
    CAF_CHECK_EQUAL(view.value("members", json::array()).size(), c.size());
  }
}

// -- 5. another protocol version ----------------------------------------------------------

CAF_TEST(a node of another protocol version never joins) {
  cluster c{{ingest_only, worker_only, worker_only}};
  c.start_all();
  c.await_mesh();
  auto port = free_ports(1);
  CAF_REQUIRE_EQUAL(port.size(), 1u);
  auto seeds = c.ports();
  seeds.push_back(port[0]);
  auto name = "node4-" + c.tag();
  herald_node stranger{cluster_options(name, {"ingest", "worker"}, port[0], seeds)};
  {
    scoped_env v2{"HERALD_CLUSTER_PROTOCOL_VERSION", "2"};
    if (!stranger.start())
      CAF_FAIL(stranger.error());
  }
  // For 5 s: never ready (always 503 "joining"), never listed by the others.
  std::string seen;
  size_t polls = 0;
  auto broken = eventually(
    [&] {
      ++polls;
      auto r = ready_of(stranger);
      if (r.status != 503 || r.field("cluster") != "joining") {
        seen = "its /ready: " + r.describe();
        return true;
      }
      for (size_t i = 0; i < c.size(); ++i) {
        auto view = cluster_view(c[i]);
        if (!member_of(view, name).is_null()
            || view.value("members", json::array()).size() != c.size()) {
          seen = c.name(i) + " lists it: " + view.dump();
          return true;
        }
      }
      return false;
    },
    5s, 100ms);
  CAF_MESSAGE(polls << " polls in 5 s" << (broken ? ": " + seen : ""));
  CAF_CHECK(!broken);
  CAF_CHECK_GREATER(polls, 10u);
  // It says why, naming each address it tried: CAF refused the handshake
  // (the app identifiers carry the protocol version).
  for (size_t i = 0; i < c.size(); ++i) {
    auto line = log_line(stranger, log_of("info", "cluster", "cannot join " + c.address(i) + ": "));
    CAF_MESSAGE("the stranger: " << (line.empty() ? "(no line for " + c.address(i) + ")" : line));
    CAF_CHECK(!line.empty());
    CAF_CHECK(line.find("incompatible_application_ids") != std::string::npos);
  }
  CAF_CHECK(log_line(stranger, {"joined the cluster"}).empty());
  std::string why_not;
  CAF_CHECK(c.mesh_formed(c.all(), why_not));
  auto rc = stranger.stop();
  if (rc != 0)
    CAF_MESSAGE(stranger.error());
  CAF_CHECK_EQUAL(rc, 0);
}

// -- 6. one rate limit for the whole cluster ------------------------------------------------

namespace {

/// One request of a paced load: when it was sent, when answered, how.
struct sample {
  steady_clock::time_point sent;
  steady_clock::time_point answered;
  int status = 0; // 0: no answer
};

class recorder {
public:
  void add(const sample& x) {
    std::lock_guard<std::mutex> guard{mtx_};
    xs_.push_back(x);
  }

  std::vector<sample> samples() {
    std::lock_guard<std::mutex> guard{mtx_};
    return xs_;
  }

private:
  std::mutex mtx_;
  std::vector<sample> xs_;
};

constexpr size_t load_threads = 12; // per node

/// Paced single submissions to `n` at `rate` per second from `start` to
/// `end`, every answer recorded.
load_stats load(const herald_node& n, const std::string& key,
                const std::string& body, double rate,
                steady_clock::time_point start, steady_clock::time_point end,
                recorder& rec) {
  return paced_load(n.api_port, load_threads, rate, start, end,
                    [&](httplib::Client& c, size_t) {
                      sample x;
                      x.sent = steady_clock::now();
                      auto r = c.Post("/v1/notifications", bearer(key), body,
                                      "application/json");
                      x.answered = steady_clock::now();
                      x.status = r ? r->status : 0;
                      rec.add(x);
                      return r;
                    });
}

struct window {
  double accepted = 0; // 202 answers per second
  double offered = 0;  // requests sent per second
};

/// Rates of the samples of `recs` within [from, to): 202 answers by their
/// answer time, requests by their send time.
window rates_in(const std::vector<recorder*>& recs,
                steady_clock::time_point from, steady_clock::time_point to) {
  size_t ok = 0;
  size_t sent = 0;
  for (auto* r : recs)
    for (auto& x : r->samples()) {
      if (x.status == 202 && x.answered >= from && x.answered < to)
        ++ok;
      if (x.sent >= from && x.sent < to)
        ++sent;
    }
  auto secs = std::chrono::duration<double>(to - from).count();
  return {static_cast<double>(ok) / secs, static_cast<double>(sent) / secs};
}

/// The nodes whose limiter registry holds the limiter of `tenant_id` (its
/// state lists the tenants whose limiters it holds), from GET
/// /admin/actors?scope=cluster on `n`. (The per-tenant rate-limiter actors
/// themselves are not listed there.)
std::vector<std::string> limiter_hosts(const herald_node& n,
                                       const std::string& tenant_id) {
  std::vector<std::string> out;
  auto items = actors_of(n, "?scope=cluster");
  if (!items.is_array())
    return out;
  for (auto& a : items) {
    if (text_field(a, "kind") != "limiter-registry")
      continue;
    auto tenants = a.value("state", json::object()).value("tenants", json::array());
    if (std::find(tenants.begin(), tenants.end(), json(tenant_id)) != tenants.end())
      out.push_back(text_field(a, "node"));
  }
  return out;
}

} // namespace

CAF_TEST(a tenant rate limit holds across three ingest nodes and after its owner is killed) {
  constexpr int limit = 1000;
  constexpr double per_node = 800; // 2,400/s offered in all
  fake_provider fp;
  CAF_REQUIRE(fp.ok());
  // No workers: accepted rows stay unleased until the end of the test. A
  // request stuck inside a node ends after 2 s (not the default 10 s), so
  // that one cannot hold a load thread into the measured windows (see the
  // odd answers below).
  constexpr auto request_timeout = 2s;
  cluster c{{ingest_only, ingest_only, ingest_only},
            {{"herald.api.request-timeout", "2s"}}};
  c.start_all();
  c.await_mesh();
  // A small burst, so that the bucket's initial fill hardly counts.
  auto t = new_tenant(c[0], limit, 50);
  auto body = note(fp, 0).dump();
  // One submission first: the owner starts the tenant's limiter (its
  // registry lists the tenant). It is the owner the ring over the three
  // names says.
  {
    auto api = c[0].api();
    auto r = request(*api, "POST", "/v1/notifications", t.key, note(fp, 0));
    CAF_REQUIRE_EQUAL(r.status, 202);
  }
  herald::hash_ring ring;
  for (size_t i = 0; i < c.size(); ++i)
    ring.add(c.name(i));
  auto expected_owner = ring.owner("limiter/" + t.id);
  auto hosts = limiter_hosts(c[0], t.id);
  CAF_REQUIRE_EQUAL(hosts.size(), 1u);
  auto owner = hosts[0];
  CAF_MESSAGE("the tenant's limiter is on " << owner << " (the ring says "
                                            << expected_owner << ")");
  CAF_CHECK_EQUAL(owner, expected_owner);
  size_t victim = 0;
  while (victim < c.size() && c.name(victim) != owner)
    ++victim;
  CAF_REQUIRE_LESS(victim, c.size());
  std::vector<size_t> survivors;
  for (size_t i = 0; i < c.size(); ++i)
    if (i != victim)
      survivors.push_back(i);
  // Phase 1: all three nodes for 6 s. Phase 2: the survivors go on for 8 s
  // more (one paced load each, without a pause), and the owner is killed
  // as soon as its own load has ended.
  std::vector<recorder> recs(c.size());
  std::vector<load_stats> loads(c.size());
  auto start = steady_clock::now() + 500ms;
  auto end1 = start + 6s;
  auto end2 = end1 + 8s;
  steady_clock::time_point t_kill;
  {
    std::vector<std::thread> loaders;
    for (size_t i = 0; i < c.size(); ++i)
      loaders.emplace_back([&, i] {
        loads[i] = load(c[i], t.key, body, per_node, start,
                        i == victim ? end1 : end2, recs[i]);
      });
    // Every request to the owner has been answered: kill it.
    loaders[victim].join();
    t_kill = steady_clock::now();
    c[victim].kill_hard();
    for (size_t i = 0; i < c.size(); ++i)
      if (i != victim)
        loaders[i].join();
  }
  CAF_MESSAGE("owner " << owner << " killed "
                       << std::chrono::duration<double>(t_kill - end1).count()
                       << " s after the end of phase 1");
  std::vector<recorder*> all_recs;
  std::vector<recorder*> survivor_recs;
  for (size_t i = 0; i < c.size(); ++i) {
    all_recs.push_back(&recs[i]);
    if (i != victim)
      survivor_recs.push_back(&recs[i]);
  }
  load_stats total;
  for (auto& x : loads)
    total.merge(x);
  CAF_MESSAGE("both phases: sent " << total.sent << ", 202: " << total.ok
                                   << ", 429: " << total.limited << ", 5xx: "
                                   << total.server_err << ", other: "
                                   << total.other << ", no answer: "
                                   << total.no_answer << ", p50 "
                                   << quantile(total.latency_ms, 0.5)
                                   << " ms, p99 "
                                   << quantile(total.latency_ms, 0.99)
                                   << " ms; load average " << load_average());
  if (!total.first_unexpected.empty())
    CAF_MESSAGE("first odd answer: " << total.first_unexpected);
  // Every answer is 202 or 429, across the kill too: the owner was killed
  // after its own load ended, and a survivor's request in flight to it is
  // asked again of the new owner (README, "Owners").
  // A survivor's request in flight to the killed owner, or sent in the
  // instant before the survivors saw it go, is asked again of the new
  // owner: no 503 (README, "Owners").
  size_t odd = 0;
  for (size_t i = 0; i < c.size(); ++i)
    for (auto& x : recs[i].samples()) {
      if (x.status == 202 || x.status == 429)
        continue;
      ++odd;
      auto sent = std::chrono::duration<double>(x.sent - t_kill).count();
      CAF_MESSAGE("odd answer: " << c.name(i) << " answered " << x.status
                                 << " to a request sent " << sent
                                 << " s after the kill");
    }
  CAF_CHECK_EQUAL(odd, 0u);
  // Phase 1 after its first second; phase 2 from 5 s after the kill.
  auto w1 = rates_in(all_recs, start + 1s, end1);
  auto w2 = rates_in(survivor_recs, t_kill + 5s, end2);
  auto w_move = rates_in(survivor_recs, t_kill, t_kill + 5s);
  CAF_MESSAGE("three nodes: " << w1.accepted << " accepted/s of "
                              << w1.offered << " offered/s (limit " << limit
                              << "/s)");
  CAF_MESSAGE("two nodes, 5 s after the kill: "
              << w2.accepted << " accepted/s of " << w2.offered
              << " offered/s; in the 5 s after the kill: " << w_move.accepted
              << " accepted/s");
  if (w1.offered < 0.95 * 3 * per_node)
    CAF_MESSAGE("the machine did not produce the 2400/s asked for: "
                << w1.offered << "/s offered in phase 1");
  if (w2.offered < 0.95 * 2 * per_node)
    CAF_MESSAGE("the machine did not produce the 1600/s asked for: "
                << w2.offered << "/s offered in phase 2");
  // Without demand well over the limit the rate proves nothing. (Checks,
  // not requirements: the test goes on to deliver what was accepted.)
  CAF_CHECK_GREATER_OR_EQUAL(w1.offered, 1.5 * limit);
  CAF_CHECK_GREATER_OR_EQUAL(w2.offered, 1.5 * limit);
  if (w1.offered >= 1.5 * limit) {
    CAF_CHECK_GREATER_OR_EQUAL(w1.accepted, 0.95 * limit);
    CAF_CHECK_LESS_OR_EQUAL(w1.accepted, 1.05 * limit);
  }
  if (w2.offered >= 1.5 * limit) {
    CAF_CHECK_GREATER_OR_EQUAL(w2.accepted, 0.95 * limit);
    CAF_CHECK_LESS_OR_EQUAL(w2.accepted, 1.05 * limit);
  }
  // The limiter moved to the ring's owner among the survivors.
  herald::hash_ring rest;
  for (auto i : survivors)
    rest.add(c.name(i));
  auto new_owner = rest.owner("limiter/" + t.id);
  auto now_hosts = limiter_hosts(c[survivors[0]], t.id);
  std::string listed;
  for (auto& h : now_hosts)
    listed += h + " ";
  CAF_MESSAGE("after the kill, limiters on: " << listed << "(the ring says "
                                              << new_owner << ")");
  CAF_CHECK_EQUAL(now_hosts.size(), 1u);
  CAF_CHECK(std::find(now_hosts.begin(), now_hosts.end(), new_owner)
            != now_hosts.end());
  // Nothing accepted is lost, by the killed node either: a worker delivers
  // every accepted notification (and leaves no open rows behind).
  auto accepted = total.ok + 1;
  auto drain_opts = cluster_options("drain-" + c.tag(), worker_only, 0, {});
  drain_opts["herald.channels.webhook.pool-size"] = "64";
  herald_node drain{drain_opts};
  if (!drain.start())
    CAF_FAIL(drain.error());
  auto t0 = steady_clock::now();
  json s;
  auto drained = eventually(
    [&] {
      s = stats_of(fp);
      return int_field(s, "unique") >= static_cast<int64_t>(accepted);
    },
    120s, 250ms);
  CAF_MESSAGE("a worker delivered " << int_field(s, "unique") << " of "
                                    << accepted << " accepted in "
                                    << seconds_since(t0) << " s");
  CAF_CHECK(drained);
  CAF_CHECK_EQUAL(int_field(s, "unique"), static_cast<int64_t>(accepted));
  auto api = c[survivors[0]].api(30s);
  std::map<std::string, size_t> done;
  CAF_CHECK(eventually(
    [&] {
      done = census(*api, t.key);
      return done["delivered"] == accepted;
    },
    30s, 500ms));
  CAF_MESSAGE("in the database: " << census_text(done));
  auto rc = drain.stop();
  if (rc != 0)
    CAF_MESSAGE(drain.error());
  CAF_CHECK_EQUAL(rc, 0);
}

// -- templates ------------------------------------------------------------------------

CAF_TEST(a template version published on one node is rendered by the others at once) {
  fake_provider fp;
  CAF_REQUIRE(fp.ok());
  cluster c{{ingest_only, ingest_only}};
  c.start_all();
  c.await_mesh();
  auto t = new_tenant(c[0], 1000, 1000);
  auto a = c[0].api();
  auto b = c[1].api();
  auto version_body = [](int v) {
    return json{{"default_locale", "en"},
                {"locales", {{"en", {{"webhook", {{"body", "v" + std::to_string(v)
                                                             + " {{name}}"}}}}}}}};
  };
  auto create = version_body(1);
  create["code"] = "greeting";
  auto r = request(*a, "POST", "/v1/templates", t.key, create);
  CAF_REQUIRE_EQUAL(r.status, 201);
  auto submit_on_b = [&] {
    auto s = request(*b, "POST", "/v1/notifications", t.key,
                     {{"channel", "webhook"}, {"to", fp.url("/hooks/tmpl")},
                      {"template", "greeting"}, {"variables", {{"name", "Ann"}}}});
    CAF_REQUIRE_EQUAL(s.status, 202);
    auto g = request(*b, "GET", "/v1/notifications/" + s.field("id"), t.key);
    return g.body.value("body", "");
  };
  // node2 renders (and caches) version 1.
  CAF_CHECK_EQUAL(submit_on_b(), "v1 Ann");
  CAF_CHECK_EQUAL(submit_on_b(), "v1 Ann");
  // Version 2 published on node1: node2 drops its copy when node1's
  // cluster actor tells it, well before the cache's 5 s TTL.
  auto p = request(*a, "POST", "/v1/templates/greeting/versions", t.key,
                   version_body(2));
  CAF_REQUIRE_EQUAL(p.status, 201);
  CAF_CHECK_EQUAL(p.body.value("version", 0), 2);
  auto t0 = steady_clock::now();
  std::string seen;
  CAF_CHECK(eventually([&] { return (seen = submit_on_b()) == "v2 Ann"; }, 3s, 20ms));
  CAF_MESSAGE("node2 rendered version 2 " << seconds_since(t0)
                                         << " s after node1 published it");
  CAF_CHECK_LESS(seconds_since(t0), 2.0);
  // Archived on node1: node2 refuses it too.
  CAF_CHECK_EQUAL(request(*a, "DELETE", "/v1/templates/greeting", t.key).status, 200);
  CAF_CHECK(eventually(
    [&] {
      auto s = request(*b, "POST", "/v1/notifications", t.key,
                       {{"channel", "webhook"}, {"to", fp.url("/hooks/tmpl")},
                        {"template", "greeting"}, {"variables", {{"name", "A"}}}});
      return s.status == 422;
    },
    3s, 20ms));
}
