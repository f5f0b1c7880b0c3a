#include "actors/cluster.hpp"

#include <algorithm>

#include <caf/io/middleman.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/config.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metric_catalog.hpp"
#include "actors/node_stats.hpp"
#include "actors/template_cache.hpp"

namespace herald {

std::string cluster_app_identifier(const std::string& cluster_name,
                                   int version) {
  return "herald-cluster/v" + std::to_string(version) + "/" + cluster_name;
}

namespace {

using cluster_ptr = cluster_actor::stateful_pointer<cluster_state>;

/// The first reconnection delay; doubled per failure up to the cap.
constexpr auto first_retry = std::chrono::milliseconds(100);

bool has_role(const std::vector<std::string>& roles, const char* role) {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

int64_t ms_of(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
}

member_card own_card(cluster_ptr self) {
  auto& st = self->state;
  member_card c;
  c.name = st.settings.node;
  c.address = st.settings.address;
  c.roles = st.settings.roles;
  c.incarnation = st.incarnation;
  c.credits = st.credits;
  for (auto& [name, m] : st.members)
    if (m.up)
      c.peers.push_back(m.card.address);
  c.cluster = caf::actor_cast<caf::actor>(self);
  c.limiters = caf::actor_cast<caf::actor>(st.locals.limiters);
  for (auto& g : st.locals.guards)
    c.guards.push_back(caf::actor_cast<caf::actor>(g));
  c.dispatcher = caf::actor_cast<caf::actor>(st.locals.dispatcher);
  return c;
}

/// Builds the owner table of the members up now and hands it to the
/// ingest actors and the writer.
void publish_view(cluster_ptr self) {
  auto& st = self->state;
  auto t = std::make_shared<owner_table>(st.settings.virtual_nodes);
  t->epoch = st.epoch;
  t->self = st.settings.node;
  if (has_role(st.settings.roles, "ingest")) {
    t->ring.add(st.settings.node);
    t->owners[st.settings.node] = {st.locals.limiters, st.locals.guards};
  }
  if (st.locals.dispatcher)
    t->workers.push_back({st.settings.node, st.locals.dispatcher, st.credits});
  for (auto& [name, m] : st.members) {
    if (!m.up)
      continue;
    if (has_role(m.card.roles, "ingest") && m.card.limiters) {
      owner_table::owner o;
      o.limiters = caf::actor_cast<limiter_registry_actor>(m.card.limiters);
      for (auto& g : m.card.guards)
        o.guards.push_back(caf::actor_cast<idempotency_guard_actor>(g));
      t->ring.add(name);
      t->owners[name] = std::move(o);
    }
    if (has_role(m.card.roles, "worker") && m.card.dispatcher)
      t->workers.push_back(
        {name, caf::actor_cast<dispatcher_actor>(m.card.dispatcher),
         m.card.credits});
  }
  st.table = t;
  auto& m = metrics();
  double up = 1;
  m.gauge(metric::member_up, {{"member", st.settings.node}}).set(1);
  for (auto& [name, mem] : st.members) {
    up += mem.up ? 1 : 0;
    m.gauge(metric::member_up, {{"member", name}}).set(mem.up ? 1 : 0);
  }
  m.gauge(metric::members_up).set(up);
  owner_view v{t};
  for (auto& i : st.locals.ingest)
    self->send(i, atom::view_v, v);
  if (st.locals.writer)
    self->send(st.locals.writer, atom::view_v, v);
}

/// Keeps `address` among the addresses to stay connected to.
void learn(cluster_ptr self, const std::string& address) {
  auto& st = self->state;
  if (address.empty() || address == st.settings.address)
    return;
  if (st.targets.emplace(address, cluster_state::target{}).second)
    st.targets[address].next_attempt = self->clock().now();
}

/// Frees a down member's leases (any survivor may: the statement only
/// touches rows that member still holds) and lets the dispatcher claim them.
void take_over(cluster_ptr self, const std::string& name) {
  auto& st = self->state;
  if (!st.locals.store)
    return;
  self
    ->request(st.locals.store, st.settings.request_timeout * 5,
              atom::takeover_v, name)
    .then(
      [self, name](int64_t rows) {
        auto& st = self->state;
        ++st.takeovers;
        st.rows_taken_over += rows;
        metrics().counter(metric::takeovers).inc();
        metrics().counter(metric::taken_over).inc(static_cast<uint64_t>(rows));
        HERALD_LOG(info, "cluster", "took over ", rows,
                   " notifications leased to ", name);
        if (st.locals.dispatcher)
          self->send(st.locals.dispatcher, atom::claim_v);
      },
      [self, name](caf::error& err) {
        // The leases expire anyway (herald.delivery.lease-ttl).
        HERALD_LOG(warn, "cluster", "taking over the leases of ", name,
                   " failed: ", self->system().render(err));
      });
}

/// Whether this node's own tick is overdue by more than the connection
/// timeout (it was frozen, and the connections it sees closing were closed
/// by peers that timed it out). Also true while it drops its work after a
/// pause.
bool self_was_frozen(cluster_ptr self) {
  auto& st = self->state;
  auto now = liveness_gate::clock::now();
  if (st.dropping || now < st.frozen_until)
    return true;
  if (st.last_tick == liveness_gate::clock::time_point{})
    return false;
  return now - st.last_tick > st.settings.connection_timeout;
}

void mark_down(cluster_ptr self, const std::string& name,
               const std::string& why) {
  auto& st = self->state;
  auto i = st.members.find(name);
  if (i == st.members.end() || !i->second.up)
    return;
  auto& m = i->second;
  m.up = false;
  m.since_ms = wall_ms(self);
  m.down_reason = why;
  self->demonitor(m.handle.address());
  ++st.epoch;
  HERALD_LOG(warn, "cluster", "member ", name, " (", m.card.address,
             ") is down: ", why);
  publish_view(self);
  if (auto t = st.targets.find(m.card.address); t != st.targets.end()) {
    t->second.delay = caf::timespan{0};
    t->second.next_attempt = self->clock().now();
  }
  // Workers free a dead worker's leases for their sweepers; an ingest-only
  // node leaves that to them (no worker left: the leases expire). Not a
  // node that was frozen itself: the peers closed their connections to it,
  // they are not down, and taking their leases would make them deliver
  // twice.
  if (has_role(m.card.roles, "worker")
      && has_role(st.settings.roles, "worker") && !self_was_frozen(self))
    take_over(self, name);
  else if (has_role(m.card.roles, "worker"))
    HERALD_LOG(info, "cluster", "not taking over the leases of ", name,
               self_was_frozen(self) ? ": this node was frozen itself"
                                     : ": this node has no worker role");
}

/// Why `card` may not be a member now ("" if it may): its name is this
/// node's, or a live member's with another incarnation.
std::string refusal(cluster_ptr self, const member_card& card,
                    const cluster_actor& handle) {
  auto& st = self->state;
  if (card.name == st.settings.node)
    return "the node name " + card.name + " is this node's (at "
           + st.settings.address + ")";
  auto i = st.members.find(card.name);
  if (i == st.members.end() || !i->second.up || i->second.handle == handle)
    return {};
  auto& m = i->second;
  auto age = self->clock().now() - m.last_heartbeat;
  if (age < st.settings.connection_timeout)
    return "the node name " + card.name + " belongs to the live node at "
           + m.card.address;
  // Silent for longer than the timeout: the old one is gone (a restart
  // before its connection timed out).
  mark_down(self, card.name, "replaced by a new incarnation");
  return {};
}

/// Makes `card` an up member (joined either way, or heard again).
void admit(cluster_ptr self, member_card card, cluster_actor handle) {
  auto& st = self->state;
  auto& m = st.members[card.name];
  bool changed = !m.up || m.handle != handle;
  if (changed) {
    if (m.handle && m.handle != handle)
      self->demonitor(m.handle.address());
    self->monitor(handle);
    m.since_ms = wall_ms(self);
    m.down_reason.clear();
  }
  m.up = true;
  m.handle = std::move(handle);
  m.last_heartbeat = self->clock().now();
  bool credits_changed = m.card.credits != card.credits;
  m.card = std::move(card);
  learn(self, m.card.address);
  if (auto t = st.targets.find(m.card.address); t != st.targets.end()) {
    t->second.failures = 0;
    t->second.delay = caf::timespan{0};
    t->second.last_error.clear();
  }
  for (auto& p : m.card.peers)
    learn(self, p);
  if (changed) {
    ++st.epoch;
    if (!st.ready)
      HERALD_LOG(info, "cluster", "joined the cluster");
    st.ready = true;
    std::string roles;
    for (auto& r : m.card.roles)
      roles += (roles.empty() ? "" : ",") + r;
    HERALD_LOG(info, "cluster", "member ", m.card.name, " (", m.card.address,
               ", ", roles, ") is up");
  }
  if (changed || credits_changed)
    publish_view(self);
}

bool connected(const cluster_state& st, const std::string& address) {
  return std::any_of(st.members.begin(), st.members.end(), [&](auto& kv) {
    return kv.second.up && kv.second.card.address == address;
  });
}

void connect_failed(cluster_ptr self, const std::string& address,
                    const std::string& why) {
  auto& st = self->state;
  auto& t = st.targets[address];
  t.connecting = false;
  ++t.failures;
  t.delay = t.delay == caf::timespan{0}
              ? caf::timespan{first_retry}
              : std::min(t.delay * 2, st.settings.reconnect_max_delay);
  t.next_attempt = self->clock().now() + t.delay;
  if (t.failures == 1 || t.failures % 20 == 0 || t.last_error != why)
    HERALD_LOG(info, "cluster", "cannot join ", address, ": ", why,
               " (attempt ", t.failures, ", next in ", ms_of(t.delay), " ms)");
  t.last_error = why;
}

/// The node name is taken: this node cannot be a member. It quits with the
/// error, and the node supervisor stops the node (exit status 2).
void refused(cluster_ptr self, const std::string& address,
             const caf::error& err) {
  auto why = self->system().render(err);
  HERALD_LOG(error, "cluster", "the node at ", address,
             " refused this node: ", why,
             "; herald.node.name must be unique in the cluster");
  self->quit(err);
}

void join(cluster_ptr self, const std::string& address,
          cluster_actor handle) {
  auto& st = self->state;
  self->request(handle, st.settings.request_timeout, atom::join_v, own_card(self))
    .then(
      [self, address, handle](member_card& card) {
        auto& st = self->state;
        st.targets[address].connecting = false;
        if (auto why = refusal(self, card, handle); !why.empty()) {
          // Two nodes answer to one name: the first one stays; the other
          // is refused when it joins this node.
          ++st.refused_joins;
          connect_failed(self, address, why);
          return;
        }
        admit(self, std::move(card), handle);
      },
      [self, address](caf::error& err) {
        if (is(err, ec::conflict)) {
          refused(self, address, err);
          return;
        }
        connect_failed(self, address, self->system().render(err));
      });
}

void connect(cluster_ptr self, const std::string& address) {
  auto& st = self->state;
  auto& t = st.targets[address];
  // Seeds are validated with the config; a peer's card is not: a bad
  // address is a failed attempt, never an exception in this actor.
  auto colon = address.rfind(':');
  auto digits = colon == std::string::npos ? std::string{}
                                           : address.substr(colon + 1);
  if (colon == 0 || digits.empty() || digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos
      || std::stoi(digits) < 1 || std::stoi(digits) > 65535) {
    connect_failed(self, address, "not a \"host:port\" address");
    return;
  }
  auto host = address.substr(0, colon);
  auto port = static_cast<uint16_t>(std::stoi(digits));
  t.connecting = true;
  auto mm = self->system().middleman().actor_handle();
  self
    ->request(mm, st.settings.request_timeout, caf::connect_atom::value, host,
              port)
    .then(
      [self, address](const caf::node_id& nid, caf::strong_actor_ptr& ptr,
                      const std::set<std::string>&) {
        auto& st = self->state;
        if (nid == self->system().node()) {
          // Our own address under another name (a seed list that names
          // every node): not a target.
          st.targets.erase(address);
          return;
        }
        if (!ptr) {
          connect_failed(self, address, "no cluster actor published there");
          return;
        }
        join(self, address, caf::actor_cast<cluster_actor>(ptr));
      },
      [self, address](caf::error& err) {
        auto why = self->system().render(err);
        if (err == caf::sec::incompatible_application_ids)
          why += ": that node speaks another cluster protocol version or "
                 "has another herald.cluster.name";
        connect_failed(self, address, why);
      });
}

/// The liveness gate: open while heartbeats go out on time. A tick later
/// than the connection timeout means this node was frozen (or starved)
/// that long: other nodes have taken over its leases by now, so the
/// dispatcher drops what it holds before the gate opens again.
void keep_alive(cluster_ptr self) {
  auto& st = self->state;
  if (!st.locals.gate)
    return;
  auto now = liveness_gate::clock::now();
  auto gap = now - st.last_tick;
  bool paused = st.last_tick != liveness_gate::clock::time_point{}
                && gap > st.settings.connection_timeout;
  st.last_tick = now;
  if (st.dropping)
    return;
  if (!paused || !st.locals.dispatcher) {
    st.locals.gate->open_until(now + st.settings.connection_timeout);
    return;
  }
  ++st.pauses;
  st.locals.gate->close();
  st.dropping = true;
  st.frozen_until = now + 2 * st.settings.connection_timeout;
  // Silence heard while this node was frozen says nothing about the
  // peers: they get a fresh timeout.
  for (auto& kv : st.members)
    kv.second.last_heartbeat = self->clock().now();
  HERALD_LOG(warn, "cluster", "this node was unresponsive for ",
             ms_of(gap), " ms: other nodes may hold its leases now; "
             "dropping the work it holds before delivering again");
  auto reopen = [self] {
    auto& st = self->state;
    st.dropping = false;
    st.locals.gate->open_until(liveness_gate::clock::now()
                               + st.settings.connection_timeout);
  };
  self
    ->request(st.locals.dispatcher, st.settings.request_timeout * 5,
              atom::takeover_v)
    .then([reopen](bool) { reopen(); },
          [reopen](caf::error&) { reopen(); });
}

void tick(cluster_ptr self) {
  auto& st = self->state;
  keep_alive(self);
  auto now = self->clock().now();
  // Credits for the next heartbeat: what the dispatcher has room for.
  if (st.locals.dispatcher)
    self->request(st.locals.dispatcher, st.settings.heartbeat_interval,
                  atom::reserve_v)
      .then([self](int32_t room) { self->state.credits = room; },
            [](caf::error&) {});
  auto card = own_card(self);
  std::vector<std::pair<std::string, std::string>> silent;
  for (auto& [name, m] : st.members) {
    if (!m.up)
      continue;
    if (now - m.last_heartbeat > st.settings.connection_timeout)
      silent.emplace_back(name, "no heartbeat for "
                                  + std::to_string(ms_of(now - m.last_heartbeat))
                                  + " ms");
    else
      self->send(m.handle, atom::heartbeat_v, card);
  }
  for (auto& [name, why] : silent)
    mark_down(self, name, why);
  for (auto& [address, t] : st.targets)
    if (!t.connecting && now >= t.next_attempt && !connected(st, address))
      connect(self, address);
  self->delayed_send(self, st.settings.heartbeat_interval, atom::tick_v);
}

cluster_view view_of(cluster_ptr self) {
  auto& st = self->state;
  cluster_view v;
  v.node = st.settings.node;
  v.ready = st.ready;
  v.epoch = st.epoch;
  auto share = [&](const std::string& name) {
    return st.table ? st.table->ring.share(name) : 0.0;
  };
  member_status me;
  me.name = st.settings.node;
  me.address = st.settings.address;
  me.roles = st.settings.roles;
  me.state = st.ready ? "up" : "joining";
  me.since_ms = st.started_ms;
  me.heartbeat_age_ms = 0;
  me.ring_share = share(me.name);
  me.credits = st.credits;
  me.incarnation = st.incarnation;
  me.self = true;
  v.members.push_back(std::move(me));
  auto now = self->clock().now();
  for (auto& [name, m] : st.members) {
    member_status x;
    x.name = name;
    x.address = m.card.address;
    x.roles = m.card.roles;
    x.state = m.up ? "up" : "down";
    x.since_ms = m.since_ms;
    x.heartbeat_age_ms = ms_of(now - m.last_heartbeat);
    x.ring_share = m.up ? share(name) : 0.0;
    x.credits = m.card.credits;
    x.incarnation = m.card.incarnation;
    v.members.push_back(std::move(x));
  }
  return v;
}

std::string state_json(cluster_ptr self) {
  auto& st = self->state;
  nlohmann::json j;
  j["ready"] = st.ready;
  j["epoch"] = st.epoch;
  j["address"] = st.settings.address;
  size_t up = 0;
  for (auto& kv : st.members)
    up += kv.second.up ? 1 : 0;
  j["members_up"] = up;
  j["members_known"] = st.members.size();
  auto targets = nlohmann::json::object();
  for (auto& [address, t] : st.targets) {
    nlohmann::json x;
    x["connected"] = connected(st, address);
    x["failures"] = t.failures;
    x["retry_delay_ms"] = ms_of(t.delay);
    x["last_error"] = t.last_error;
    targets[address] = x;
  }
  j["targets"] = targets;
  j["credits"] = st.credits;
  j["takeovers"] = st.takeovers;
  j["rows_taken_over"] = st.rows_taken_over;
  j["refused_joins"] = st.refused_joins;
  j["pauses"] = st.pauses;
  j["gate_open"] = st.locals.gate ? st.locals.gate->is_open() : true;
  return j.dump();
}

/// Asks every node up (this one included) `xs...` and delivers one `Out`:
/// `merge(out, answer)` for each answer, `failed(out, node, why)` for a
/// node that does not answer in time. Local answers are immediate; a remote
/// node gets twice the request timeout (it may fan out itself).
template <class Answer, class Out, class Merge, class Failed, class... Ts>
caf::typed_response_promise<Out>
ask_every_node(cluster_ptr self, Merge merge, Failed failed, Ts... xs) {
  auto& st = self->state;
  auto rp = self->make_response_promise<Out>();
  auto out = std::make_shared<Out>();
  std::vector<std::pair<std::string, cluster_actor>> nodes;
  nodes.emplace_back(st.settings.node, self);
  for (auto& [name, m] : st.members)
    if (m.up)
      nodes.emplace_back(name, m.handle);
  auto left = std::make_shared<size_t>(nodes.size());
  for (auto& [name, hdl] : nodes) {
    auto done = [rp, out, left]() mutable {
      if (--*left == 0)
        rp.deliver(std::move(*out));
    };
    self->request(hdl, st.settings.request_timeout * 2, xs...)
      .then(
        [out, done, merge](Answer& x) mutable {
          merge(*out, x);
          done();
        },
        [self, out, done, failed, name = name](caf::error& err) mutable {
          failed(*out, name, "unreachable: " + self->system().render(err));
          done();
        });
  }
  return rp;
}

} // namespace

cluster_actor::behavior_type
cluster(cluster_actor::stateful_pointer<cluster_state> self,
        cluster_settings settings, cluster_locals locals) {
  auto& st = self->state;
  st.settings = std::move(settings);
  st.locals = std::move(locals);
  st.incarnation = wall_ms(self);
  st.started_ms = st.incarnation;
  for (auto& seed : st.settings.seeds)
    learn(self, seed);
  // Alone by config: no seed but this node's own address.
  st.ready = st.targets.empty();
  publish_view(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (auto& [name, m] : st.members)
      if (m.up && m.handle.address() == msg.source) {
        mark_down(self, name, "connection lost ("
                                + self->system().render(msg.reason) + ")");
        return;
      }
  });
  // An error that arrives as a message (an answer to a one-way message a
  // peer could not handle; seen rarely right after a pause) would make the
  // actor quit by default, and the node with it: it is logged instead.
  self->set_error_handler([self](caf::error& err) {
    HERALD_LOG(warn, "cluster", "ignored an error message: ",
               self->system().render(err));
  });
  self->send(self, atom::tick_v);
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "cluster", "", self->state.settings.node, state_json(self));
    },
    [self](atom::join, member_card& card) -> caf::result<member_card> {
      auto& st = self->state;
      auto handle = caf::actor_cast<cluster_actor>(card.cluster);
      if (!handle)
        return make_error(ec::invalid_input, "a join without a cluster actor");
      if (auto why = refusal(self, card, handle); !why.empty()) {
        ++st.refused_joins;
        HERALD_LOG(warn, "cluster", "refused a join from ", card.address, ": ",
                   why);
        return make_error(ec::conflict, why);
      }
      admit(self, std::move(card), handle);
      return own_card(self);
    },
    [self](atom::heartbeat, member_card& card) {
      auto handle = caf::actor_cast<cluster_actor>(card.cluster);
      if (!handle)
        return;
      auto& st = self->state;
      auto i = st.members.find(card.name);
      if (i != st.members.end() && i->second.up && i->second.handle == handle) {
        admit(self, std::move(card), handle);
        return;
      }
      // Heard from a node this one has not admitted (its join answer got
      // lost, or it was marked down while frozen): it rejoins, unless its
      // name is taken.
      if (refusal(self, card, handle).empty())
        admit(self, std::move(card), handle);
    },
    [self](atom::get) -> cluster_view { return view_of(self); },
    [self](atom::actors) -> caf::result<std::vector<actor_info>> {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<actor_info>>();
      auto out = std::make_shared<std::vector<actor_info>>();
      auto left = std::make_shared<size_t>(st.locals.actors.size() + 1);
      auto node = st.settings.node;
      auto done = [rp, out, left]() mutable {
        if (--*left == 0)
          rp.deliver(std::move(*out));
      };
      // Itself first, then every service of this node.
      out->push_back(describe(self, "cluster", "", node, state_json(self)));
      done();
      for (auto& a : st.locals.actors) {
        auto id = static_cast<int64_t>(a.id());
        self->request(a, st.settings.request_timeout, atom::inspect_v)
          .then(
            [out, done, node](actor_info& info) mutable {
              if (info.node.empty())
                info.node = node;
              out->push_back(std::move(info));
              done();
            },
            [self, out, done, node, id](caf::error& err) mutable {
              actor_info info;
              info.kind = "?";
              info.node = node;
              info.id = id;
              info.error = self->system().render(err);
              out->push_back(std::move(info));
              done();
            });
      }
      return rp;
    },
    [self](atom::list, atom::actors) -> caf::result<std::vector<actor_info>> {
      return ask_every_node<std::vector<actor_info>, std::vector<actor_info>>(
        self,
        [](std::vector<actor_info>& out, std::vector<actor_info>& xs) {
          out.insert(out.end(), std::make_move_iterator(xs.begin()),
                     std::make_move_iterator(xs.end()));
        },
        [](std::vector<actor_info>& out, const std::string& name,
           const std::string& why) {
          actor_info x;
          x.kind = "node";
          x.node = name;
          x.error = why;
          out.push_back(std::move(x));
        },
        atom::actors_v);
    },
    [self](atom::invalidate, const std::string& tenant, const std::string& code,
           bool forward) {
      auto& st = self->state;
      if (st.locals.templates)
        st.locals.templates->erase(tenant, code);
      if (!forward)
        return;
      for (auto& [name, m] : st.members)
        if (m.up)
          self->send(m.handle, atom::invalidate_v, tenant, code, false);
    },
    [self](atom::stats) -> std::string {
      auto& st = self->state;
      return node_stats_json(st.settings.node, st.settings.roles, wall_ms(self));
    },
    [self](atom::list, atom::stats) -> caf::result<std::vector<std::string>> {
      return ask_every_node<std::string, std::vector<std::string>>(
        self,
        [](std::vector<std::string>& out, std::string& x) {
          out.push_back(std::move(x));
        },
        [](std::vector<std::string>& out, const std::string& name,
           const std::string& why) {
          out.push_back(nlohmann::json{{"node", name}, {"error", why}}.dump());
        },
        atom::stats_v);
    },
    [self](atom::tick) { tick(self); },
    [self](atom::connect, std::string& address) {
      learn(self, address);
    },
  };
}

} // namespace herald
