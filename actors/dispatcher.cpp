#include "actors/dispatcher.hpp"

#include <algorithm>

#include <caf/typed_event_based_actor.hpp>

#include "actors/error.hpp"
#include "actors/log.hpp"
#include "http/codec.hpp"

namespace herald {

namespace {

using dispatcher_ptr = dispatcher_actor::stateful_pointer<dispatcher_state>;

void flush(dispatcher_ptr self);
void sweep(dispatcher_ptr self);
void maybe_finish_drain(dispatcher_ptr self);

/// Hands a job to its channel's pool, or holds it until its send_at.
void route(dispatcher_ptr self, delivery_job job) {
  auto& st = self->state;
  auto now = now_ms();
  if (job.n.send_at_ms > now) {
    // Scheduled delivery: a timer in this actor; the row stays leased to us
    // (leases are renewed), so a crash hands it to the next claimer.
    auto delay = std::chrono::milliseconds(job.n.send_at_ms - now);
    self->delayed_send(self, delay, atom::dispatch_v,
                       std::vector<delivery_job>{std::move(job)});
    return;
  }
  auto i = st.pools.find(job.n.channel);
  if (i == st.pools.end()) {
    delivery_outcome out;
    out.id = job.n.id;
    out.tenant_id = job.n.tenant_id;
    out.fence = job.fence;
    out.outcome = "failed";
    out.error = "no provider configured for channel " + job.n.channel;
    out.node = st.settings.node;
    out.started_at_ms = now;
    self->send(self, atom::outcome_v, std::move(out));
    return;
  }
  ++st.dispatched;
  self->send(i->second, atom::deliver_v, std::move(job));
}

/// Records buffered outcomes in one store call; the next batch starts when
/// this one is answered, so batches grow with load (like group commit).
void flush(dispatcher_ptr self) {
  auto& st = self->state;
  if (st.flushing || st.outcomes.empty())
    return;
  st.flushing = true;
  auto batch = std::make_shared<std::vector<delivery_outcome>>();
  batch->swap(st.outcomes);
  self->request(st.store, st.settings.store_timeout, atom::outcome_v, *batch)
    .then(
      [self, batch](int64_t fenced) {
        auto& st = self->state;
        st.flushing = false;
        st.fenced_out += static_cast<uint64_t>(fenced);
        for (auto& o : *batch)
          (o.outcome == "delivered" ? st.delivered : st.failed) += 1;
        st.held -= static_cast<int64_t>(batch->size());
        flush(self);
        maybe_finish_drain(self);
        // Room was freed: claim at once only if the store has a backlog;
        // otherwise the periodic sweep is enough (a claim costs a query).
        if (st.backlog)
          sweep(self);
      },
      [self, batch](caf::error& err) {
        // Keep the outcomes (the rows are still leased to us) and retry.
        auto& st = self->state;
        st.flushing = false;
        ++st.store_errors;
        HERALD_LOG(warn, "dispatcher", "recording ", batch->size(),
                   " outcomes failed, retrying: ", self->system().render(err));
        st.outcomes.insert(st.outcomes.begin(), batch->begin(), batch->end());
        self->delayed_send(self, std::chrono::seconds(1), atom::flush_v);
      });
}

/// Claims due work (unleased rows, expired leases, our own old leases after
/// a restart) while there is room.
void sweep(dispatcher_ptr self) {
  auto& st = self->state;
  if (st.claiming || st.draining)
    return;
  auto room = st.settings.capacity - st.held;
  // Claim in reasonable chunks only: tiny claims cost a query each.
  if (room < std::min<int64_t>(st.settings.claim_batch, st.settings.capacity / 4))
    return;
  auto limit = static_cast<int32_t>(std::min<int64_t>(room, st.settings.claim_batch));
  st.claiming = true;
  st.held += limit;
  auto reclaim = !st.reclaimed_own;
  self->request(st.store, st.settings.store_timeout, atom::claim_v, limit, reclaim)
    .then(
      [self, limit, reclaim](std::vector<delivery_job>& jobs) {
        auto& st = self->state;
        st.claiming = false;
        st.reclaimed_own = st.reclaimed_own || reclaim;
        auto got = static_cast<int32_t>(jobs.size());
        st.held -= limit - got;
        st.claimed += jobs.size();
        st.backlog = got == limit;
        if (got > 0)
          HERALD_LOG(debug, "dispatcher", "claimed ", got, " notifications");
        for (auto& j : jobs)
          route(self, std::move(j));
        if (got == limit)
          sweep(self);
      },
      [self, limit](caf::error& err) {
        auto& st = self->state;
        st.claiming = false;
        st.held -= limit;
        ++st.store_errors;
        HERALD_LOG(debug, "dispatcher",
                   "claim failed: ", self->system().render(err));
      });
}

void maybe_finish_drain(dispatcher_ptr self) {
  auto& st = self->state;
  if (!st.draining || st.pools_draining > 0 || st.flushing
      || !st.outcomes.empty() || !st.drain_rp.pending())
    return;
  // Everything sent is recorded: hand back what is still only queued.
  self->request(st.store, st.settings.store_timeout, atom::release_v)
    .then(
      [self](int64_t n) {
        HERALD_LOG(info, "dispatcher", "handed back ", n,
                   " queued notifications");
        self->state.drain_rp.deliver(true);
      },
      [self](caf::error& err) {
        // The leases expire by themselves; nothing is lost.
        HERALD_LOG(warn, "dispatcher", "could not hand back leases: ",
                   self->system().render(err));
        self->state.drain_rp.deliver(true);
      });
}

std::string state_json(const dispatcher_state& st) {
  return "{\"held\":" + std::to_string(st.held)
         + ",\"capacity\":" + std::to_string(st.settings.capacity)
         + ",\"pending_outcomes\":" + std::to_string(st.outcomes.size())
         + ",\"dispatched\":" + std::to_string(st.dispatched)
         + ",\"claimed\":" + std::to_string(st.claimed)
         + ",\"delivered\":" + std::to_string(st.delivered)
         + ",\"failed\":" + std::to_string(st.failed)
         + ",\"fenced_out\":" + std::to_string(st.fenced_out)
         + ",\"store_errors\":" + std::to_string(st.store_errors)
         + ",\"draining\":" + (st.draining ? "true" : "false") + "}";
}

} // namespace

dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           store_actor store, std::map<std::string, pool_factory> pools,
           dispatcher_settings settings) {
  auto& st = self->state;
  st.store = std::move(store);
  auto me = caf::actor_cast<dispatcher_actor>(self);
  for (auto& [channel, make] : pools) {
    auto pool = make(self, me);
    self->link_to(pool);
    st.pools.emplace(channel, pool);
  }
  st.settings = std::move(settings);
  self->send(self, atom::sweep_v);
  self->delayed_send(self, st.settings.renew_interval, atom::renew_v);
  return {
    [self](atom::inspect) -> actor_info {
      return {"dispatcher", "", self->state.settings.node,
              state_json(self->state)};
    },
    [self](atom::reserve, int32_t n) -> int32_t {
      auto& st = self->state;
      if (st.draining || n <= 0)
        return 0;
      auto granted = static_cast<int32_t>(
        std::clamp<int64_t>(st.settings.capacity - st.held, 0, n));
      st.held += granted;
      return granted;
    },
    [self](atom::release, int32_t n) { self->state.held -= n; },
    [self](atom::dispatch, std::vector<delivery_job>& jobs) {
      for (auto& j : jobs)
        route(self, std::move(j));
    },
    [self](atom::outcome, delivery_outcome& out) {
      self->state.outcomes.push_back(std::move(out));
      flush(self);
    },
    [self](atom::drain) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      if (st.draining)
        return true;
      st.draining = true;
      st.drain_rp = rp;
      st.pools_draining = st.pools.size();
      for (auto& [channel, pool] : st.pools) {
        self->request(pool, st.settings.store_timeout, atom::drain_v)
          .then(
            [self](std::vector<delivery_job>& unsent) {
              // Unsent jobs stay leased and 'queued': release hands them back.
              self->state.held -= static_cast<int64_t>(unsent.size());
              --self->state.pools_draining;
              maybe_finish_drain(self);
            },
            [self](caf::error&) {
              --self->state.pools_draining;
              maybe_finish_drain(self);
            });
      }
      maybe_finish_drain(self);
      return rp;
    },
    [self](atom::sweep) {
      sweep(self);
      self->delayed_send(self, self->state.settings.sweep_interval,
                         atom::sweep_v);
    },
    [self](atom::flush) { flush(self); },
    [](atom::cancel, const std::string&) {},
    [](atom::breakers) -> std::vector<breaker_info> { return {}; },
    [](atom::reset, const std::string&) -> bool { return false; },
    [self](atom::renew) {
      auto& st = self->state;
      self->delayed_send(self, st.settings.renew_interval, atom::renew_v);
      if (st.held == 0)
        return;
      self->request(st.store, st.settings.store_timeout, atom::renew_v)
        .then([](int64_t) {},
              [self](caf::error& err) {
                ++self->state.store_errors;
                HERALD_LOG(warn, "dispatcher", "lease renewal failed: ",
                           self->system().render(err));
              });
    },
  };
}

} // namespace herald
