#include "actors/sender_pool.hpp"

#include "actors/config.hpp"

#include <algorithm>
#include <optional>

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metric_catalog.hpp"
#include "channels/webhook_client.hpp"

namespace herald {

std::string provider_key(const delivery_job& job) {
  if (job.n.channel == "webhook")
    return endpoint_of(job.n.to).value_or(job.n.channel);
  if (!job.n.provider.empty())
    return job.n.provider;
  return job.n.channel;
}

bool provider_accepts(const std::string& kind, const delivery_job& job) {
  if (kind == "webpush")
    return !job.n.to.empty() && job.n.to.front() == '{';
  if (kind == "fcm")
    return job.n.to.empty() || job.n.to.front() != '{';
  return true;
}

provider_settings provider_settings_of(const sender_pool_settings& s,
                                       const std::string& provider) {
  provider_settings ps;
  ps.channel = s.channel;
  ps.provider = provider;
  ps.node = s.node;
  ps.senders = s.senders_per_provider;
  ps.call_timeout = s.call_timeout;
  ps.breaker = s.breaker;
  ps.restarts = s.sender_restarts;
  ps.max_job_crashes = s.max_job_crashes;
  ps.idle_timeout = s.idle_timeout;
  return ps;
}

namespace {

using pool_ptr = sender_pool_actor::stateful_pointer<sender_pool_state>;

void maybe_finish_drain(pool_ptr self) {
  auto& st = self->state;
  if (st.draining && st.drains_pending == 0 && st.drain_rp.pending()) {
    st.drain_rp.deliver(std::move(st.unsent));
    st.unsent.clear();
  }
}

const named_provider* named_at(const sender_pool_state& st,
                               const std::string& key) {
  for (auto& p : st.settings.named)
    if (p.name == key)
      return &p;
  return nullptr;
}

/// Spawns the supervisor of `key` (monitored) with the jobs it is to hold.
void spawn_provider(pool_ptr self, const std::string& key,
                    std::map<std::string, delivery_job> held = {}) {
  auto& st = self->state;
  auto* np = named_at(st, key);
  auto hdl = self->spawn(provider_supervisor,
                         caf::actor_cast<sender_pool_actor>(self),
                         np != nullptr ? np->factory : st.factory,
                         np != nullptr ? np->settings
                                       : provider_settings_of(st.settings, key));
  self->monitor(hdl);
  ++st.spawned;
  st.keys.emplace(hdl.address(), key);
  st.live->emplace(hdl.address(), hdl);
  for (auto& [id, job] : held)
    self->send(hdl, atom::deliver_v, job);
  st.providers[key] = sender_pool_state::child{hdl, std::move(held)};
}

/// An outcome the pool makes itself, without a call.
attempt_report pool_outcome(pool_ptr self, const delivery_job& job,
                            attempt_result outcome, std::string error) {
  attempt_report out;
  out.id = job.n.id;
  out.tenant_id = job.n.tenant_id;
  out.fence = job.fence;
  out.outcome = outcome;
  out.error = std::move(error);
  out.node = self->state.settings.node;
  out.started_at_ms = wall_ms(self);
  return out;
}

void send_to(pool_ptr self, const std::string& key, delivery_job job);

/// Named providers: the first that accepts the job, has not deferred it in
/// this routing and is not known to be open; else `deferred` to the
/// dispatcher with the shortest remaining cool-down (no call anywhere).
void route_named(pool_ptr self, delivery_job job) {
  auto& st = self->state;
  std::vector<const named_provider*> candidates;
  for (auto& p : st.settings.named)
    if ((job.n.provider.empty() || job.n.provider == p.name)
        && provider_accepts(p.kind, job))
      candidates.push_back(&p);
  if (candidates.empty()) {
    st.deferred_by.erase(job.n.id);
    auto why = job.n.provider.empty()
                 ? "no provider of channel " + st.settings.channel
                     + " can deliver to this address"
                 : "provider " + job.n.provider + " does not serve channel "
                     + st.settings.channel + " on this node";
    auto out = pool_outcome(self, job, attempt_result::failed, std::move(why));
    out.retryable = false;
    ++st.outcomes;
    self->send(st.dispatcher, atom::outcome_v, std::move(out));
    return;
  }
  auto now = self->clock().now();
  auto& tried = st.deferred_by[job.n.id];
  auto wait = caf::timespan::max();
  for (auto* p : candidates) {
    auto was_tried = std::find(tried.begin(), tried.end(), p->name)
                     != tried.end();
    auto i = st.open_until.find(p->name);
    auto open = i != st.open_until.end() && i->second > now;
    if (!was_tried && !open) {
      if (p != candidates.front()) {
        ++st.failovers;
        metrics().counter(metric::provider_failovers,
                          {{"channel", st.settings.channel},
                           {"provider", p->name}}).inc();
      }
      send_to(self, p->name, std::move(job));
      return;
    }
    wait = std::min(wait, open ? caf::timespan{i->second - now}
                               : caf::timespan::zero());
  }
  st.deferred_by.erase(job.n.id);
  auto out = pool_outcome(self, job, attempt_result::deferred,
                          "every provider of channel " + st.settings.channel
                            + " has its breaker open");
  out.retryable = true;
  out.retry_after_ms = std::max<int64_t>(
    std::chrono::ceil<std::chrono::milliseconds>(wait).count(), 1);
  ++st.outcomes;
  self->send(st.dispatcher, atom::outcome_v, std::move(out));
}

void route(pool_ptr self, delivery_job job) {
  auto& st = self->state;
  if (!st.settings.named.empty()) {
    ++st.routed;
    route_named(self, std::move(job));
    return;
  }
  ++st.routed;
  auto key = provider_key(job); // before the job is moved from
  send_to(self, key, std::move(job));
}

void send_to(pool_ptr self, const std::string& key, delivery_job job) {
  auto& st = self->state;
  auto i = st.providers.find(key);
  if (i == st.providers.end()) {
    spawn_provider(self, key);
    i = st.providers.find(key);
  }
  i->second.held[job.n.id] = job;
  self->send(i->second.hdl, atom::deliver_v, std::move(job));
}

/// The child at `key` if it is still the actor `addr`.
sender_pool_state::child* child_at(sender_pool_state& st, const std::string& key,
                                   const caf::actor_addr& addr) {
  auto i = st.providers.find(key);
  if (i == st.providers.end() || i->second.hdl.address() != addr)
    return nullptr;
  return &i->second;
}

/// A supervisor ended. Stopped when idle: forgotten. Failed: restarted
/// (one for one) within the pool's restart intensity. Either way the jobs
/// it still held go to its replacement (a job may have raced with an idle
/// stop), or back to the drain's caller while draining.
void on_down(pool_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  auto k = st.keys.find(msg.source);
  if (k == st.keys.end())
    return;
  auto key = std::move(k->second);
  st.keys.erase(k);
  st.live->erase(msg.source);
  auto* c = child_at(st, key, msg.source);
  if (c == nullptr)
    return;
  auto held = std::move(c->held);
  st.providers.erase(key);
  auto failed = msg.reason && msg.reason != caf::exit_reason::normal;
  if (failed) {
    ++st.restarts;
    metrics().counter(metric::sender_restarts, {{"pool", st.settings.channel}}).inc();
    HERALD_LOG(warn, "sender-pool", st.settings.channel, ": supervisor of ",
               key, " failed holding ", held.size(), " jobs, restarting it: ",
               self->system().render(msg.reason));
    if (!st.intensity.record(self->clock().now())) {
      HERALD_LOG(error, "sender-pool", st.settings.channel, ": more than ",
                 st.intensity.settings().max_restarts,
                 " supervisor restarts within ",
                 st.intensity.settings().window.count(), " ms, escalating");
      self->quit(make_error(ec::unavailable,
                            "sender pool " + st.settings.channel
                              + ": provider restart intensity exceeded"));
      return;
    }
  } else {
    ++st.stopped;
  }
  if (held.empty())
    return; // the next job for `key` spawns a fresh supervisor
  if (st.draining) {
    for (auto& [id, job] : held)
      st.unsent.push_back(std::move(job));
    return;
  }
  spawn_provider(self, key, std::move(held));
}

/// Answers with the breakers of every supervisor (those that do not answer
/// in time are left out).
caf::result<std::vector<breaker_info>> collect_breakers(pool_ptr self) {
  auto& st = self->state;
  if (st.providers.empty())
    return std::vector<breaker_info>{};
  struct fan_in {
    caf::typed_response_promise<std::vector<breaker_info>> rp;
    std::vector<breaker_info> xs;
    size_t pending = 0;
    void done() {
      if (--pending > 0)
        return;
      std::sort(xs.begin(), xs.end(), [](auto& x, auto& y) {
        return x.provider < y.provider;
      });
      rp.deliver(std::move(xs));
    }
  };
  auto f = std::make_shared<fan_in>();
  f->rp = self->make_response_promise<std::vector<breaker_info>>();
  f->pending = st.providers.size();
  for (auto& [key, c] : st.providers)
    self->request(c.hdl, st.settings.admin_timeout, atom::breakers_v)
      .then(
        [f](breaker_info& x) {
          f->xs.push_back(std::move(x));
          f->done();
        },
        [f](caf::error&) { f->done(); });
  return f->rp;
}

caf::result<std::vector<delivery_job>> start_drain(pool_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return std::vector<delivery_job>{};
  auto rp = self->make_response_promise<std::vector<delivery_job>>();
  st.draining = true;
  st.drain_rp = rp;
  st.deferred_by.clear();
  st.drains_pending = st.providers.size();
  for (auto& [key, c] : st.providers) {
    auto addr = c.hdl.address();
    self->request(c.hdl, st.settings.call_timeout + st.settings.admin_timeout,
                  atom::drain_v)
      .then(
        [self, key = key, addr](std::vector<delivery_job>& unsent) {
          auto& st = self->state;
          if (auto* c = child_at(st, key, addr))
            for (auto& j : unsent)
              c->held.erase(j.n.id);
          for (auto& j : unsent)
            st.unsent.push_back(std::move(j));
          --st.drains_pending;
          maybe_finish_drain(self);
        },
        [self, key = key, addr](caf::error&) {
          // No answer: what it holds is handed back as not started (its
          // leases make that safe: at-least-once).
          auto& st = self->state;
          if (auto* c = child_at(st, key, addr)) {
            for (auto& [id, j] : c->held)
              st.unsent.push_back(std::move(j));
            c->held.clear();
          }
          --st.drains_pending;
          maybe_finish_drain(self);
        });
  }
  maybe_finish_drain(self);
  return rp;
}

std::string state_json(const sender_pool_state& st) {
  size_t held = 0;
  for (auto& [key, c] : st.providers)
    held += c.held.size();
  nlohmann::json j;
  j["channel"] = st.settings.channel;
  j["providers"] = st.providers.size();
  j["senders_per_provider"] = st.settings.senders_per_provider;
  j["held"] = held;
  j["routed"] = st.routed;
  j["outcomes"] = st.outcomes;
  j["spawned"] = st.spawned;
  j["stopped"] = st.stopped;
  j["restarts"] = st.restarts;
  j["draining"] = st.draining;
  if (!st.settings.named.empty()) {
    auto order = nlohmann::json::array();
    for (auto& p : st.settings.named)
      order.push_back(p.name);
    j["failover_order"] = order;
    j["failovers"] = st.failovers;
  }
  return j.dump();
}

} // namespace

sender_pool_actor::behavior_type
sender_pool(sender_pool_actor::stateful_pointer<sender_pool_state> self,
            dispatcher_actor dispatcher, sender_factory factory,
            sender_pool_settings settings) {
  auto& st = self->state;
  st.dispatcher = std::move(dispatcher);
  st.factory = std::move(factory);
  st.intensity = restart_intensity{settings.provider_restarts};
  st.settings = std::move(settings);
  st.live = std::make_shared<std::map<caf::actor_addr, provider_actor>>();
  // Stops the supervisors (and so their senders) with the pool. Must not
  // touch self->state (gone by then), nor send as `self`.
  self->attach_functor([live = st.live] {
    for (auto& [addr, hdl] : *live)
      caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
  return {
    [self](atom::inspect) -> actor_info {
      auto& st = self->state;
      return describe(self, "sender-pool", st.settings.channel,
                      st.settings.node, state_json(st),
                      static_cast<int64_t>(st.restarts));
    },
    [self](atom::deliver, delivery_job& job) {
      auto& st = self->state;
      if (st.draining) {
        st.unsent.push_back(std::move(job));
        return;
      }
      route(self, std::move(job));
    },
    [self](atom::outcome, attempt_report& out) {
      auto& st = self->state;
      std::optional<delivery_job> job;
      if (auto& from = self->current_sender()) {
        auto k = st.keys.find(from->address());
        if (k != st.keys.end())
          if (auto* c = child_at(st, k->second, from->address())) {
            if (auto i = c->held.find(out.id); i != c->held.end()) {
              job = std::move(i->second);
              c->held.erase(i);
            }
          }
      }
      if (!st.settings.named.empty()) {
        if (out.outcome == attempt_result::deferred && job && !st.draining
            && named_at(st, out.provider) != nullptr) {
          // Its breaker is open: remember for how long, try the next one.
          auto& tried = st.deferred_by[out.id];
          tried.push_back(out.provider);
          st.open_until[out.provider]
            = self->clock().now()
              + std::chrono::milliseconds{std::max<int64_t>(out.retry_after_ms, 0)};
          route_named(self, std::move(*job));
          return;
        }
        st.deferred_by.erase(out.id);
      }
      ++st.outcomes;
      self->send(st.dispatcher, atom::outcome_v, std::move(out));
    },
    [self](atom::breakers) -> caf::result<std::vector<breaker_info>> {
      return collect_breakers(self);
    },
    [self](atom::reset, const std::string& provider) -> caf::result<bool> {
      auto& st = self->state;
      auto i = st.providers.find(provider);
      if (i == st.providers.end())
        return false;
      auto rp = self->make_response_promise<bool>();
      self->request(i->second.hdl, st.settings.admin_timeout, atom::reset_v)
        .then([rp](bool ok) mutable { rp.deliver(ok); },
              [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
    [self](atom::drain) -> caf::result<std::vector<delivery_job>> {
      return start_drain(self);
    },
  };
}

} // namespace herald
