#include "actors/node_supervisor.hpp"

#include "actors/template_cache.hpp"

#include "actors/config.hpp"

#include <algorithm>
#include <map>

#include <caf/typed_event_based_actor.hpp>

#include "actors/auth.hpp"
#include "actors/cluster.hpp"
#include "actors/dispatcher.hpp"
#include "actors/idempotency_guard.hpp"
#include "actors/ingest.hpp"
#include "actors/janitor.hpp"
#include "actors/rate_limiter.hpp"
#include "actors/sender_pool.hpp"
#include "actors/store.hpp"
#include "actors/api_sender.hpp"
#include "actors/email_sender.hpp"
#include "actors/webhook_sender.hpp"
#include "actors/writer.hpp"
#include "core/log.hpp"

namespace herald {

namespace {

using supervisor_ptr
  = node_supervisor_actor::stateful_pointer<node_supervisor_state>;

caf::timespan span(millis x) {
  return caf::timespan{x};
}

bool has_role(const node_config& cfg, const std::string& role) {
  return std::find(cfg.roles.begin(), cfg.roles.end(), role) != cfg.roles.end();
}

/// Remembers a service: monitored, stopped in the order added, listed by
/// the admin API if it answers `inspect`.
template <class Handle>
Handle adopt(supervisor_ptr self, std::string kind, Handle hdl,
             bool listed = true) {
  self->monitor(hdl);
  self->state.children.emplace_back(std::move(kind),
                                    caf::actor_cast<caf::actor>(hdl));
  if (listed)
    self->state.services.actors.push_back(
      caf::actor_cast<inspectable_actor>(hdl));
  return hdl;
}

/// herald.breaker.* with a provider's overrides (0 = inherit).
breaker_settings breaker_of(const node_config& cfg, const provider_config* p,
                            millis call_timeout) {
  breaker_settings b;
  auto pick = [](auto own, auto fallback) {
    return own > decltype(own){0} ? own : fallback;
  };
  b.failure_threshold = pick(p ? p->breaker_failure_threshold : 0,
                             cfg.breaker_failure_threshold);
  b.failure_rate = pick(p ? p->breaker_failure_rate : 0,
                        cfg.breaker_failure_rate) / 100.0;
  b.min_calls = pick(p ? p->breaker_min_calls : 0, cfg.breaker_min_calls);
  b.window = cfg.breaker_window;
  b.open_timeout = pick(p ? p->breaker_open_timeout : millis{0},
                        cfg.breaker_open_timeout);
  b.max_open_timeout = std::max(cfg.breaker_max_open_timeout, b.open_timeout);
  b.half_open_probes = pick(p ? p->breaker_half_open_probes : 0,
                            cfg.breaker_half_open_probes);
  // A probe whose sender hangs is given up with the call deadline.
  b.probe_timeout = call_timeout;
  return b;
}

/// The webhook channel's sender pool, as the dispatcher spawns it.
pool_factory webhook_pool(const node_config& cfg,
                          std::shared_ptr<const liveness_gate> gate) {
  return [cfg, gate](caf::local_actor* parent,
                     dispatcher_actor d) -> sender_pool_actor {
    sender_pool_settings ps;
    ps.channel = "webhook";
    ps.node = cfg.node_name;
    ps.senders_per_provider = cfg.webhook_pool_size;
    ps.call_timeout = caf::timespan{cfg.webhook_timeout + millis{5000}};
    ps.breaker = breaker_of(cfg, nullptr, cfg.webhook_timeout + millis{5000});
    ps.sender_restarts = {cfg.supervisor_max_restarts,
                          cfg.supervisor_restart_window};
    ps.provider_restarts = ps.sender_restarts;
    ps.idle_timeout = caf::timespan{cfg.webhook_provider_idle_timeout};
    auto node = cfg.node_name;
    auto timeout = cfg.webhook_timeout;
    sender_factory make_sender = [node, timeout, gate](caf::local_actor* pool) {
      return pool->spawn<caf::detached>(webhook_sender, node, timeout, gate);
    };
    return parent->spawn(sender_pool, std::move(d), make_sender, ps);
  };
}

/// The sender pool of a channel with named providers (email, sms, push), in
/// the fail-over order of herald.channels.NAME.providers.
pool_factory named_pool(const node_config& cfg, const std::string& channel,
                        std::shared_ptr<const liveness_gate> gate) {
  return [cfg, channel, gate](caf::local_actor* parent,
                              dispatcher_actor d) -> sender_pool_actor {
    sender_pool_settings ps;
    ps.channel = channel;
    ps.node = cfg.node_name;
    ps.sender_restarts = {cfg.supervisor_max_restarts,
                          cfg.supervisor_restart_window};
    ps.provider_restarts = ps.sender_restarts;
    ps.idle_timeout = caf::timespan::zero(); // a few, long-lived providers
    for (auto& name : cfg.channels.at(channel).providers) {
      const auto& p = cfg.providers.at(name);
      named_provider np;
      np.name = name;
      np.kind = p.kind;
      auto call_timeout = p.timeout + millis{5000};
      auto& s = np.settings;
      s.channel = channel;
      s.provider = name;
      s.node = cfg.node_name;
      s.senders = senders_of(p);
      s.call_timeout = caf::timespan{call_timeout};
      s.breaker = breaker_of(cfg, &p, call_timeout);
      s.restarts = ps.sender_restarts;
      s.idle_timeout = caf::timespan::zero();
      s.rate_per_sec = p.rate_per_sec;
      s.burst = p.burst;
      ps.call_timeout = std::max(ps.call_timeout, s.call_timeout);
      if (p.kind == "smtp") {
        email_sender_settings es;
        es.node = cfg.node_name;
        es.provider = name;
        es.smtp.url = p.url;
        es.smtp.starttls = p.starttls;
        es.smtp.username = p.username;
        es.smtp.password = p.password;
        es.smtp.timeout = p.timeout;
        es.smtp.verify_peer = p.tls_verify;
        es.smtp.ca_file = p.ca_file;
        es.from = p.from;
        es.reply_to = p.reply_to;
        np.factory = [es, gate](caf::local_actor* sup) {
          return sup->spawn<caf::detached>(email_sender, es, gate);
        };
      } else {
        api_sender_settings as;
        as.node = cfg.node_name;
        as.provider = name;
        as.kind = p.kind;
        as.timeout = p.timeout;
        if (!p.base_url.empty()) {
          as.twilio.base_url = p.base_url;
          as.fcm.base_url = p.base_url;
        }
        as.twilio.account_sid = p.account_sid;
        as.twilio.auth_token = p.auth_token;
        as.twilio.from = p.from;
        as.twilio.status_callback = p.status_callback;
        as.fcm.project = p.project;
        as.fcm.token = p.token;
        as.vapid_pem = p.vapid_pem;
        as.vapid_subject = p.vapid_subject;
        as.ttl = std::chrono::duration_cast<std::chrono::seconds>(p.ttl);
        np.factory = [as, gate](caf::local_actor* sup) {
          return sup->spawn<caf::detached>(api_sender, as, gate);
        };
      }
      ps.named.push_back(std::move(np));
    }
    // The pool's own requests wait for in-flight calls on drain.
    sender_factory none = [](caf::local_actor*) { return sender_actor{}; };
    return parent->spawn(sender_pool, std::move(d), none, ps);
  };
}

dispatcher_settings dispatcher_settings_of(const node_config& cfg) {
  dispatcher_settings ds;
  ds.node = cfg.node_name;
  ds.capacity = cfg.queue_capacity;
  ds.sweep_interval = span(cfg.sweep_interval);
  ds.renew_interval = span(cfg.lease_ttl / 3);
  ds.outcomes.fallback = {cfg.retry_base_delay, cfg.retry_max_delay,
                          cfg.retry_max_attempts};
  // herald.channels.webhook.retry.*: 0 = inherit herald.retry.*.
  auto webhook = ds.outcomes.fallback;
  if (cfg.webhook_retry_base_delay.count() > 0)
    webhook.base_delay = cfg.webhook_retry_base_delay;
  if (cfg.webhook_retry_max_delay.count() > 0)
    webhook.max_delay = cfg.webhook_retry_max_delay;
  if (cfg.webhook_retry_max_attempts > 0)
    webhook.max_attempts = cfg.webhook_retry_max_attempts;
  ds.outcomes.per_channel["webhook"] = webhook;
  // herald.channels.NAME.retry.* and herald.providers.NAME.retry.* of the
  // provider channels: 0 = inherit (a provider from its channel).
  auto override_with = [](retry_policy base, millis base_delay, millis max_delay,
                          int max_attempts) {
    if (base_delay.count() > 0)
      base.base_delay = base_delay;
    if (max_delay.count() > 0)
      base.max_delay = max_delay;
    if (max_attempts > 0)
      base.max_attempts = max_attempts;
    return base;
  };
  for (auto& [channel, cc] : cfg.channels) {
    auto policy = override_with(ds.outcomes.fallback, cc.retry_base_delay,
                                cc.retry_max_delay, cc.retry_max_attempts);
    ds.outcomes.per_channel[channel] = policy;
    for (auto& name : cc.providers) {
      auto& p = cfg.providers.at(name);
      if (p.retry_base_delay.count() > 0 || p.retry_max_delay.count() > 0
          || p.retry_max_attempts > 0)
        ds.outcomes.per_provider[name]
          = override_with(policy, p.retry_base_delay, p.retry_max_delay,
                          p.retry_max_attempts);
    }
  }
  ds.outcomes.horizon = cfg.retry_horizon;
  return ds;
}

cluster_settings cluster_settings_of(const node_config& cfg) {
  cluster_settings cs;
  cs.node = cfg.node_name;
  cs.roles = cfg.roles;
  cs.address = !cfg.cluster_advertise.empty()
                 ? cfg.cluster_advertise
                 : cfg.cluster_host + ":" + std::to_string(cfg.cluster_port);
  cs.seeds = cfg.cluster_seeds;
  cs.heartbeat_interval = span(cfg.cluster_heartbeat_interval);
  cs.connection_timeout = span(cfg.cluster_connection_timeout);
  cs.reconnect_max_delay = span(cfg.cluster_reconnect_max_delay);
  cs.virtual_nodes = cfg.cluster_virtual_nodes;
  return cs;
}

/// Spawns the services of this node's roles. The order of `children` is
/// the stop order: what takes requests first, the connections last.
void start_services(supervisor_ptr self) {
  auto& st = self->state;
  const auto& cfg = st.cfg;
  auto& svc = st.services;
  bool ingest_role = has_role(cfg, "ingest");
  bool worker_role = has_role(cfg, "worker");
  // Claims take work due within the retry horizon, to hold it on timers.
  store_settings ss{cfg.db_url, lease_spec{cfg.node_name, cfg.lease_ttl.count(),
                                           cfg.retry_horizon.count()}};
  // Connections are spawned first and adopted last (they stop last).
  std::vector<store_actor> workers;
  for (int i = 0; i < cfg.db_workers; ++i)
    workers.push_back(self->spawn<caf::detached>(store_worker, ss));
  std::vector<store_actor> commit_conns;
  if (ingest_role)
    for (int i = 0; i < cfg.db_writers; ++i)
      commit_conns.push_back(self->spawn<caf::detached>(store_worker, ss));
  auto store = self->spawn(store_router, workers);
  svc.store = store;
  svc.templates = std::make_shared<template_cache>();
  cluster_locals cl;
  cl.store = store;
  // In a cluster, senders deliver only while this node's heartbeats go out.
  if (cfg.cluster_port != 0)
    cl.gate = std::make_shared<liveness_gate>();
  // Delivery: the dispatcher and, linked to it, its sender pools (a pool
  // past its restart intensity takes the dispatcher down: escalation).
  if (worker_role) {
    std::map<std::string, pool_factory> pools;
    pools["webhook"] = webhook_pool(cfg, cl.gate);
    for (auto& [channel, cc] : cfg.channels)
      if (!cc.providers.empty())
        pools[channel] = named_pool(cfg, channel, cl.gate);
    svc.dispatcher = self->spawn(dispatcher, store, pools,
                                 dispatcher_settings_of(cfg));
  }
  auto au = self->spawn(auth, store, auth_settings{});
  svc.auth = au;
  if (ingest_role) {
    writer_settings ws;
    ws.max_batch = cfg.db_max_batch;
    ws.lease_horizon_ms = cfg.retry_horizon.count();
    ws.parallel_rows = cfg.db_parallel_rows;
    // Without the worker role the dispatcher handle is invalid: every row
    // is stored unleased for the workers' sweepers.
    ws.node = cfg.node_name;
    auto wr = self->spawn(writer, commit_conns, svc.dispatcher, ws);
    cl.writer = wr;
    // Ingress guards: one rate limiter per tenant behind the registry (the
    // ownership lookup), idempotency guards sharded by key.
    limiter_settings ls;
    ls.idle_interval = span(cfg.limiter_idle_timeout);
    ls.default_rate = cfg.tenant_default_rate;
    ls.default_burst = cfg.tenant_default_burst;
    auto limiters = self->spawn(limiter_registry, ls);
    cl.limiters = limiters;
    idempotency_guard_settings gs;
    gs.retention = span(cfg.idempotency_retention);
    std::vector<idempotency_guard_actor> guards;
    for (int i = 0; i < cfg.idempotency_shards; ++i)
      guards.push_back(self->spawn(idempotency_guard, store, gs,
                                   static_cast<size_t>(i)));
    // The submission protocol: one request from the HTTP thread each.
    ingest_settings is;
    is.timeout = span(cfg.api_request_timeout);
    is.default_rate = cfg.tenant_default_rate;
    is.default_burst = cfg.tenant_default_burst;
    for (int i = 0; i < cfg.api_ingest_actors; ++i)
      svc.ingest.push_back(adopt(self, "ingest",
                                 self->spawn(ingest, au, limiters, guards, wr,
                                             is, static_cast<size_t>(i))));
    cl.guards = guards;
    cl.ingest = svc.ingest;
    for (auto& g : guards)
      adopt(self, "idempotency-guard", g);
    adopt(self, "limiter-registry", limiters);
    adopt(self, "writer", wr);
  }
  adopt(self, "auth", au);
  if (svc.dispatcher)
    adopt(self, "dispatcher", svc.dispatcher);
  adopt(self, "janitor",
        self->spawn(janitor, store, span(cfg.idempotency_purge_interval)));
  adopt(self, "store", store);
  for (auto& w : commit_conns)
    adopt(self, "store-worker", w);
  for (auto& w : workers)
    adopt(self, "store-worker", w);
  if (cfg.cluster_port != 0) {
    // Membership: published by main.cpp. It stops first, so that other
    // nodes stop sending work here before the services go.
    cl.dispatcher = svc.dispatcher;
    cl.actors = svc.actors;
    cl.templates = svc.templates;
    svc.cluster = self->spawn(cluster, cluster_settings_of(cfg), std::move(cl));
    adopt(self, "cluster", svc.cluster, false);
    std::rotate(st.children.begin(), st.children.end() - 1, st.children.end());
  }
}

void stop_services(supervisor_ptr self) {
  auto& st = self->state;
  st.stopping = true;
  for (auto& child : st.children)
    self->send_exit(child.second, caf::exit_reason::user_shutdown);
}

std::string state_json(const node_supervisor_state& st) {
  std::map<std::string, int> kinds;
  for (auto& child : st.children)
    ++kinds[child.first];
  std::string services = "{";
  for (auto& [kind, n] : kinds) {
    if (services.size() > 1)
      services += ",";
    services += "\"" + kind + "\":" + std::to_string(n);
  }
  services += "}";
  std::string roles = "[";
  for (auto& r : st.cfg.roles) {
    if (roles.size() > 1)
      roles += ",";
    roles += "\"" + r + "\"";
  }
  roles += "]";
  return "{\"roles\":" + roles + ",\"services\":" + services
         + ",\"escalated\":" + (st.escalated ? "true" : "false")
         + ",\"died\":\"" + st.died + "\"}";
}

} // namespace

node_supervisor_actor::behavior_type
node_supervisor(node_supervisor_actor::stateful_pointer<node_supervisor_state> self,
                node_config cfg, std::function<void()> on_escalate) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.on_escalate = std::move(on_escalate);
  start_services(self);
  st.services.actors.insert(st.services.actors.begin(),
                            caf::actor_cast<inspectable_actor>(self));
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    // user_shutdown: stopped on purpose (this node's shutdown).
    if (st.stopping || st.escalated
        || msg.reason == caf::exit_reason::user_shutdown)
      return;
    std::string kind = "?";
    for (auto& child : st.children)
      if (child.second.address() == msg.source)
        kind = child.first;
    st.escalated = true;
    st.died = kind;
    HERALD_LOG(error, "node", "the ", kind, " service died (",
               caf::to_string(msg.reason), "): the node stops");
    if (st.on_escalate)
      st.on_escalate();
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    stop_services(self);
    self->quit(msg.reason);
  });
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "node-supervisor", self->state.cfg.node_name, "",
              state_json(self->state));
    },
    [self](atom::get) -> node_services { return self->state.services; },
    [self](atom::drain) -> caf::result<bool> {
      auto& st = self->state;
      if (!st.services.dispatcher)
        return !st.escalated;
      auto rp = self->make_response_promise<bool>();
      self
        ->request(st.services.dispatcher,
                  caf::timespan{st.cfg.webhook_timeout + millis{5000}},
                  atom::drain_v)
        .then([self, rp](bool) mutable { rp.deliver(!self->state.escalated); },
              [self, rp](caf::error& err) mutable {
                HERALD_LOG(warn, "node", "drain incomplete (leases will "
                                         "expire and be reclaimed): ",
                           self->system().render(err));
                rp.deliver(!self->state.escalated);
              });
      return rp;
    },
  };
}

} // namespace herald
