#include "actors/rate_limiter.hpp"

#include <algorithm>

#include "actors/config.hpp"

#include <caf/sec.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <nlohmann/json.hpp>

namespace herald {

namespace {

using limiter_ptr = rate_limiter_actor::stateful_pointer<rate_limiter_state>;

rate_decision to_rate_decision(const token_bucket::decision& d,
                               int32_t limit) {
  rate_decision out;
  out.allowed = d.allowed;
  out.granted = d.granted;
  out.limit = limit;
  out.remaining = d.remaining;
  // Rounded up: a client that waits retry_after_ms finds its token there,
  // and a denial never says "retry in 0 ms".
  out.reset_ms = ceil_millis(d.reset);
  out.retry_after_ms = ceil_millis(d.retry_after);
  return out;
}

void schedule_idle_check(limiter_ptr self) {
  auto interval = self->state.settings.idle_interval;
  if (interval > caf::timespan::zero())
    self->delayed_send(self, interval, atom::idle_v);
}

using registry_ptr =
  limiter_registry_actor::stateful_pointer<limiter_registry_state>;
using decision_promise = caf::typed_response_promise<rate_decision>;

limiter_registry_state::entry& entry_for(registry_ptr self,
                                         const std::string& tenant_id) {
  auto& st = self->state;
  if (auto i = st.limiters.find(tenant_id); i != st.limiters.end())
    return i->second;
  auto limiter = self->spawn(rate_limiter, tenant_id, st.settings);
  self->monitor(limiter);
  st.tenants.emplace(limiter.address(), tenant_id);
  ++st.spawned;
  auto& e = st.limiters[tenant_id];
  e.limiter = std::move(limiter);
  // A new limiter cannot stop before a whole idle interval has passed.
  e.last_sent = self->clock().now();
  return e;
}

void forget(registry_ptr self, const caf::actor_addr& addr) {
  auto& st = self->state;
  auto i = st.tenants.find(addr);
  if (i == st.tenants.end())
    return;
  auto j = st.limiters.find(i->second);
  if (j != st.limiters.end() && j->second.limiter.address() == addr)
    st.limiters.erase(j);
  st.tenants.erase(i);
}

void probe_done(registry_ptr self, const std::string& tenant_id,
                const rate_limiter_actor& limiter) {
  auto& st = self->state;
  auto i = st.limiters.find(tenant_id);
  if (i != st.limiters.end() && i->second.limiter == limiter)
    --i->second.probes;
}

void route(registry_ptr self, rate_request req, decision_promise rp,
           bool may_retry) {
  auto& st = self->state;
  auto& e = entry_for(self, req.tenant_id);
  auto now = self->clock().now();
  auto interval = st.settings.idle_interval;
  auto may_stop = interval > caf::timespan::zero()
                  && now - e.last_sent >= interval / 2;
  e.last_sent = now;
  // While a probe is out, its limiter may be gone: later requests wait for
  // the same certainty instead of being delegated into the void.
  if (e.probes == 0 && !may_stop) {
    rp.delegate(e.limiter, atom::acquire_v, std::move(req));
    return;
  }
  ++e.probes;
  ++st.probed;
  auto limiter = e.limiter;
  self->request(limiter, st.settings.probe_timeout, atom::acquire_v, req)
    .then(
      [self, rp, limiter, tenant_id = req.tenant_id](rate_decision& d) mutable {
        probe_done(self, tenant_id, limiter);
        rp.deliver(d);
      },
      [self, rp, limiter, req, may_retry](caf::error& err) mutable {
        probe_done(self, req.tenant_id, limiter);
        if (may_retry && err == caf::sec::request_receiver_down) {
          // It stopped just before this request (idle, so with a full
          // bucket, or it failed): a fresh one starts in that same state.
          ++self->state.stopped;
          forget(self, limiter.address());
          route(self, std::move(req), rp, false);
          return;
        }
        rp.deliver(err);
      });
}

} // namespace

rate_limiter_actor::behavior_type
rate_limiter(rate_limiter_actor::stateful_pointer<rate_limiter_state> self,
             std::string tenant_id, limiter_settings settings) {
  auto& st = self->state;
  st.tenant_id = std::move(tenant_id);
  st.settings = settings;
  schedule_idle_check(self);
  return {
    [self](atom::inspect) -> actor_info {
      auto& st = self->state;
      nlohmann::json j;
      j["tenant"] = st.tenant_id;
      if (st.bucket) {
        auto now = self->clock().now();
        st.bucket->available(now); // brings the fill up to date
        j["rate"] = st.bucket->rate();
        j["burst"] = st.bucket->burst();
        j["tokens"] = st.bucket->tokens();
      } else {
        j["rate"] = nullptr;
        j["burst"] = nullptr;
        j["tokens"] = nullptr;
      }
      j["allowed"] = st.allowed;
      j["denied"] = st.denied;
      return describe(self, "rate-limiter", st.tenant_id, "", j.dump());
    },
    [self](atom::acquire, const rate_request& req) -> rate_decision {
      auto& st = self->state;
      auto now = self->clock().now();
      auto rate = req.rate_per_sec > 0 ? req.rate_per_sec
                                       : st.settings.default_rate;
      auto burst = req.burst > 0 ? req.burst : st.settings.default_burst;
      if (!st.bucket)
        st.bucket.emplace(rate, burst);
      else if (st.bucket->rate() != rate || st.bucket->burst() != burst)
        st.bucket->reconfigure(rate, burst, now);
      st.asked = true;
      auto d = st.bucket->take_up_to(req.tokens, now);
      st.allowed += static_cast<uint64_t>(d.granted);
      if (req.tokens > d.granted)
        st.denied += static_cast<uint64_t>(req.tokens - d.granted);
      return to_rate_decision(d, st.bucket->burst());
    },
    [self](atom::idle) {
      auto& st = self->state;
      auto full = !st.bucket || st.bucket->full(self->clock().now());
      // The mailbox check keeps an acquire that is already queued from
      // being bounced by the stop.
      if (!st.asked && full && self->mailbox().empty()) {
        self->quit();
        return;
      }
      st.asked = false;
      schedule_idle_check(self);
    },
  };
}

limiter_registry_actor::behavior_type limiter_registry(
  limiter_registry_actor::stateful_pointer<limiter_registry_state> self,
  limiter_settings settings) {
  self->state.settings = settings;
  self->set_down_handler(
    [self](caf::down_msg& msg) { forget(self, msg.source); });
  // Limiters are monitored, not linked (one tenant's failure must not take
  // the registry down), so a shutdown of the registry is passed on by hand.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    if (!msg.reason)
      return; // a normal exit of a linked actor, as by default
    for (auto& [tenant, e] : self->state.limiters)
      self->send_exit(e.limiter, msg.reason);
    self->quit(msg.reason);
  });
  return {
    [self](atom::inspect) -> caf::result<actor_info> {
      // Its limiters too (the first 1,000 by tenant), which the admin
      // endpoint cannot reach by itself.
      auto& st = self->state;
      auto j = std::make_shared<nlohmann::json>();
      (*j)["limiters"] = st.limiters.size();
      std::vector<std::string> tenants;
      for (auto& kv : st.limiters)
        tenants.push_back(kv.first);
      std::sort(tenants.begin(), tenants.end());
      if (tenants.size() > 1000)
        tenants.resize(1000);
      (*j)["tenants"] = tenants;
      (*j)["spawned"] = st.spawned;
      (*j)["probed"] = st.probed;
      (*j)["stopped"] = st.stopped;
      (*j)["children"] = nlohmann::json::array();
      auto rp = self->make_response_promise<actor_info>();
      auto left = std::make_shared<size_t>(tenants.size() + 1);
      auto done = [self, rp, j, left]() mutable {
        if (--*left == 0)
          rp.deliver(describe(self, "limiter-registry", "", "", j->dump()));
      };
      for (auto& tenant : tenants)
        self
          ->request(st.limiters[tenant].limiter, st.settings.probe_timeout,
                    atom::inspect_v)
          .then(
            [j, done](actor_info& x) mutable {
              (*j)["children"].push_back(
                {{"kind", x.kind},
                 {"key", x.key},
                 {"id", x.id},
                 {"mailbox", x.mailbox},
                 {"state", nlohmann::json::parse(x.state, nullptr, false)}});
              done();
            },
            [done](caf::error&) mutable { done(); }); // it just stopped
      done();
      return rp;
    },
    [self](atom::acquire,
           rate_request& req) -> caf::result<rate_decision> {
      auto rp = self->make_response_promise<rate_decision>();
      route(self, std::move(req), rp, true);
      return rp;
    },
  };
}

} // namespace herald
