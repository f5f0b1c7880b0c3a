#include "actors/dispatcher.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <string_view>
#include <tuple>

#include <caf/typed_event_based_actor.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metric_catalog.hpp"
#include "actors/retry_scheduler.hpp"
#include "core/json_text.hpp"
#include "actors/config.hpp"

namespace herald {

namespace {

using dispatcher_ptr = dispatcher_actor::stateful_pointer<dispatcher_state>;

void flush(dispatcher_ptr self);
void sweep(dispatcher_ptr self);
void maybe_finish_drain(dispatcher_ptr self);
void maybe_finish_drop(dispatcher_ptr self);

/// When a job is due: the later of send_at and next_attempt_at.
int64_t due_of(const delivery_job& job) {
  return std::max(job.n.send_at_ms, job.n.next_attempt_at_ms);
}

/// Decides what an outcome means for its notification and queues it for
/// recording. Unknown ids (fenced or cancelled jobs) are recorded as they
/// are: the fence keeps them out of the row. `decided`: `out` already holds
/// its status (the dispatcher decided it without a policy).
void decide(dispatcher_ptr self, delivery_decision out, bool decided = false) {
  auto& st = self->state;
  auto i = st.jobs.find(out.id);
  if (out.outcome != attempt_result::deferred && out.attempt_key.empty())
    out.attempt_key = st.attempt_prefix + std::to_string(++st.attempt_seq);
  if (!decided) {
    if (i != st.jobs.end()) {
      auto& hj = i->second;
      auto counted = out.outcome != attempt_result::deferred;
      hj.job.budget_used = st.policy->decide(out, hj.job.n.channel,
                                             hj.job.budget_used, wall_ms(self));
      if (counted)
        ++hj.job.n.attempts;
      if (out.address_gone)
        out.address = hj.job.n.to; // removed from the recipients' devices
      if (hj.cancelled)
        out.keep_lease = false; // the row is cancelled: never retry it
    } else {
      st.policy->decide(out, "", 0, wall_ms(self));
      out.keep_lease = false;
    }
  }
  st.outcomes.push_back(std::move(out));
  flush(self);
}

/// Hands a job to its channel's pool, or to the retry scheduler until it is
/// due (send_at or a retry within the horizon). The row stays leased to this
/// node (leases are renewed), so a crash hands it to the next claimer.
/// `timer_fired`: the scheduler says it is due (its clock decides).
void route(dispatcher_ptr self, delivery_job job, bool timer_fired = false) {
  auto& st = self->state;
  auto now = wall_ms(self);
  auto& hj = st.jobs[job.n.id];
  hj.job = job;
  hj.waiting = false;
  hj.pooled_at_ms = 0;
  if (!timer_fired && due_of(job) > now) {
    hj.waiting = true;
    self->send(st.scheduler, atom::schedule_v, std::move(job), due_of(hj.job));
    return;
  }
  auto i = st.pools.find(job.n.channel);
  if (i == st.pools.end()) {
    // No call can be made: parked at once, no attempt counted.
    delivery_decision out;
    out.id = job.n.id;
    out.tenant_id = job.n.tenant_id;
    out.fence = job.fence;
    out.outcome = attempt_result::deferred;
    out.error = "no provider configured for channel " + job.n.channel;
    out.node = st.settings.node;
    out.started_at_ms = now;
    out.status = notification_status::dead_lettered;
    out.reason = "permanent: " + out.error;
    decide(self, std::move(out), true);
    return;
  }
  ++st.dispatched;
  hj.pooled_at_ms = now;
  self->send(i->second, atom::deliver_v, std::move(job));
}

/// After a batch is durable: retries kept on this node go on their timers,
/// everything else is finished here.
void recorded(dispatcher_ptr self, std::vector<delivery_decision>& batch) {
  auto& st = self->state;
  // (metric, tenant, channel) → count, added to the metrics once per batch.
  std::map<std::tuple<std::string_view, std::string, std::string>, uint64_t> counts;
  for (auto& o : batch) {
    auto i = st.jobs.find(o.id);
    auto channel = i != st.jobs.end() ? i->second.job.n.channel : std::string{};
    if (o.status == notification_status::delivered) {
      ++st.delivered;
      ++counts[{metric::delivered, o.tenant_id, channel}];
    } else if (o.status == notification_status::dead_lettered) {
      ++st.dead_lettered;
      ++counts[{metric::dead_lettered, o.tenant_id, channel}];
    } else if (o.outcome == attempt_result::deferred) {
      ++st.deferred;
    } else {
      ++st.retried;
      ++counts[{metric::retried, o.tenant_id, channel}];
    }
    if (i == st.jobs.end())
      continue;
    if (o.status == notification_status::retry_scheduled && o.keep_lease && !i->second.cancelled) {
      auto& job = i->second.job;
      job.n.status = notification_status::retry_scheduled;
      job.n.next_attempt_at_ms = o.next_attempt_ms;
      i->second.waiting = true;
      self->send(st.scheduler, atom::schedule_v, job, o.next_attempt_ms);
      continue;
    }
    st.jobs.erase(i);
    if (st.dropping)
      maybe_finish_drop(self);
    --st.held;
  }
  for (auto& [key, n] : counts)
    metrics()
      .counter(std::get<0>(key), {{"tenant", std::get<1>(key)},
                                  {"channel", std::get<2>(key)}})
      .inc(n);
}

/// The metric cells of one (channel, provider, outcome), looked up in the
/// registry once (its lock and label text are not for every attempt).
dispatcher_state::attempt_metric_cells&
attempt_cells(dispatcher_state& st, const std::string& channel,
              const std::string& provider, attempt_result outcome) {
  auto key = channel;
  key += '\n';
  key += provider;
  key += '\n';
  key += static_cast<char>('0' + static_cast<int>(outcome));
  auto i = st.attempt_metrics.find(key);
  if (i != st.attempt_metrics.end())
    return i->second;
  if (st.attempt_metrics.size() > 10000)
    st.attempt_metrics.clear(); // endpoints come and go; the registry caps too
  auto& m = metrics();
  dispatcher_state::attempt_metric_cells cells;
  cells.attempts = &m.counter(metric::attempts, {{"channel", channel},
                                                 {"provider", provider},
                                                 {"outcome", to_string(outcome)}});
  cells.duration = &m.histogram(metric::attempt_duration,
                                {{"channel", channel}, {"provider", provider}});
  return st.attempt_metrics.emplace(std::move(key), cells).first->second;
}

/// The pools' gauges: jobs in each pool and when the oldest went in.
void update_pool_metrics(dispatcher_ptr self) {
  auto& st = self->state;
  std::map<std::string, std::pair<int64_t, int64_t>> pools; // count, oldest
  for (auto& [channel, pool] : st.pools)
    pools[channel] = {0, 0};
  for (auto& [id, hj] : st.jobs) {
    if (hj.waiting || hj.pooled_at_ms == 0)
      continue;
    auto& p = pools[hj.job.n.channel];
    ++p.first;
    if (p.second == 0 || hj.pooled_at_ms < p.second)
      p.second = hj.pooled_at_ms;
  }
  auto& m = metrics();
  for (auto& [channel, p] : pools) {
    m.gauge(metric::pool_jobs, {{"pool", channel}}).set(static_cast<double>(p.first));
    m.age(metric::pool_oldest_age, {{"pool", channel}})
      .set(static_cast<double>(p.second));
  }
}

/// Records buffered outcomes in one store call; the next batch starts when
/// this one is answered, so batches grow with load (like group commit). A
/// second call may run alongside when a backlog has built up (the store has
/// several connections). Two batches never hold outcomes of one row: a
/// retry is sent only after its outcome is recorded.
void flush(dispatcher_ptr self) {
  auto& st = self->state;
  if (st.outcomes.empty() || st.flushing >= st.settings.max_flushes
      || (st.flushing > 0 && st.outcomes.size() < 100))
    return;
  ++st.flushing;
  // Bounded: a huge statement holds its row locks long and, past the store
  // timeout, is sent again (harmless thanks to attempt keys, but wasted).
  auto batch = std::make_shared<std::vector<delivery_decision>>();
  if (st.outcomes.size() <= st.settings.outcome_batch) {
    batch->swap(st.outcomes);
  } else {
    auto split = st.outcomes.begin()
                 + static_cast<std::ptrdiff_t>(st.settings.outcome_batch);
    batch->assign(std::make_move_iterator(st.outcomes.begin()),
                  std::make_move_iterator(split));
    st.outcomes.erase(st.outcomes.begin(), split);
  }
  self->request(st.store, st.settings.store_timeout, atom::outcome_v, *batch)
    .then(
      [self, batch](int64_t fenced) {
        auto& st = self->state;
        --st.flushing;
        st.fenced_out += static_cast<uint64_t>(fenced);
        recorded(self, *batch);
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
        --st.flushing;
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
  if (!st.draining || st.pools_draining > 0 || st.flushing > 0
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

/// After a pause: once no job handed to a pool before it is still out
/// (their senders answer at once while the liveness gate is closed), hands
/// back this node's leases and answers the cluster actor, which reopens
/// the gate. Until then nothing queued in a pool can be sent.
void maybe_finish_drop(dispatcher_ptr self) {
  auto& st = self->state;
  if (!st.dropping)
    return;
  for (auto& kv : st.jobs)
    if (kv.second.cancelled)
      return;
  st.dropping = false;
  auto rp = st.drop_rp;
  self->request(st.store, st.settings.store_timeout, atom::release_v)
    .then([rp](int64_t) mutable { rp.deliver(true); },
          [rp](caf::error&) mutable { rp.deliver(true); });
}

std::string state_json(const dispatcher_state& st) {
  return "{\"held\":" + std::to_string(st.held)
         + ",\"capacity\":" + std::to_string(st.settings.capacity)
         + ",\"pending_outcomes\":" + std::to_string(st.outcomes.size())
         + ",\"dispatched\":" + std::to_string(st.dispatched)
         + ",\"claimed\":" + std::to_string(st.claimed)
         + ",\"jobs\":" + std::to_string(st.jobs.size())
         + ",\"delivered\":" + std::to_string(st.delivered)
         + ",\"retried\":" + std::to_string(st.retried)
         + ",\"dead_lettered\":" + std::to_string(st.dead_lettered)
         + ",\"deferred\":" + std::to_string(st.deferred)
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
  auto seed = st.settings.random_seed;
  if (seed == 0)
    seed = (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}();
  st.policy = std::make_unique<outcome_policy>(st.settings.outcomes,
                                               make_unit_random(seed));
  st.attempt_prefix = st.settings.node + "/" + std::to_string(wall_ms(self)) + "/"
                      + std::to_string(seed % 1000000) + "/";
  st.scheduler = self->spawn<caf::linked>(retry_scheduler, me,
                                          st.settings.node);
  self->send(self, atom::sweep_v);
  self->delayed_send(self, st.settings.renew_interval, atom::renew_v);
  return {
    [self](atom::inspect) -> caf::result<actor_info> {
      // Its children too (pools: providers and restarts; the retry
      // scheduler), which the admin endpoint cannot reach by itself.
      auto& st = self->state;
      auto rp = self->make_response_promise<actor_info>();
      auto children = std::make_shared<std::vector<std::string>>();
      auto left = std::make_shared<size_t>(st.pools.size() + 1);
      auto done = [self, rp, children, left]() mutable {
        if (--*left > 0)
          return;
        auto state = state_json(self->state);
        state.pop_back(); // the closing brace
        state += ",\"children\":[";
        for (size_t i = 0; i < children->size(); ++i)
          state += (i > 0 ? "," : "") + (*children)[i];
        state += "]}";
        rp.deliver(describe(self, "dispatcher", "", self->state.settings.node,
                                  std::move(state)));
      };
      auto ask = [&](const auto& child) {
        self->request(child, st.settings.store_timeout / 5, atom::inspect_v)
          .then(
            [children, done](actor_info& info) mutable {
              children->push_back(
                "{\"kind\":\"" + info.kind + "\",\"key\":\"" + info.key
                + "\",\"id\":" + std::to_string(info.id) + ",\"mailbox\":"
                + std::to_string(info.mailbox) + ",\"restarts\":"
                + std::to_string(info.restarts) + ",\"state\":" + info.state
                + "}");
              done();
            },
            [done](caf::error&) mutable { done(); });
      };
      for (auto& [channel, pool] : st.pools)
        ask(pool);
      ask(st.scheduler);
      return rp;
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
    [self](atom::reserve) -> int32_t {
      auto& st = self->state;
      if (st.draining)
        return 0;
      return static_cast<int32_t>(
        std::clamp<int64_t>(st.settings.capacity - st.held, 0, INT32_MAX));
    },
    [self](atom::claim) { sweep(self); },
    [self](atom::takeover) -> caf::result<bool> {
      auto& st = self->state;
      size_t dropped = 0;
      for (auto i = st.jobs.begin(); i != st.jobs.end();) {
        ++dropped;
        if (!i->second.waiting) {
          i->second.cancelled = true; // in a pool: its outcome comes back
          ++i;
          continue;
        }
        self->send(st.scheduler, atom::cancel_v, i->first);
        i = st.jobs.erase(i);
        --st.held;
      }
      HERALD_LOG(warn, "dispatcher", "dropped ", dropped,
                 " jobs after a pause; handing back the leases still held "
                 "once the ones in the pools are back");
      if (st.dropping)
        return make_error(ec::conflict, "a drop is running");
      st.dropping = true;
      st.drop_rp = self->make_response_promise<bool>();
      auto rp = st.drop_rp;
      maybe_finish_drop(self);
      return rp;
    },
    [self](atom::release, int32_t n) { self->state.held -= n; },
    [self](atom::dispatch, std::vector<delivery_job>& jobs) {
      for (auto& j : jobs)
        route(self, std::move(j));
    },
    [self](atom::due, std::vector<delivery_job>& jobs) {
      // Only jobs still held: a cancel may have crossed the timer.
      for (auto& j : jobs) {
        auto i = self->state.jobs.find(j.n.id);
        if (i != self->state.jobs.end() && i->second.waiting)
          route(self, std::move(j), true);
      }
    },
    [self](atom::outcome, attempt_report& report) {
      auto& st = self->state;
      auto i = st.jobs.find(report.id);
      std::string channel;
      if (i != st.jobs.end()) {
        channel = i->second.job.n.channel;
        i->second.pooled_at_ms = 0;
      }
      auto& cells = attempt_cells(st, channel, report.provider, report.outcome);
      cells.attempts->inc();
      if (report.outcome != attempt_result::deferred)
        cells.duration->observe(static_cast<double>(report.duration_us) / 1e6);
      // Permanent failures at info; the rest (thousands a second under
      // load) at debug.
      auto permanent = report.outcome == attempt_result::failed
                       && !report.retryable;
      if (permanent || log_enabled(log_level::debug)) {
        auto rid = i != st.jobs.end() ? i->second.job.n.request_id : std::string{};
        auto lvl = permanent ? log_level::info : log_level::debug;
        log_with_request_id(lvl, "dispatcher", rid, "attempt of ", report.id,
                            " to ", report.provider, ": ",
                            to_string(report.outcome),
                            report.error.empty() ? "" : " (",
                            report.error,
                            report.error.empty() ? "" : ")");
      }
      decide(self, delivery_decision{std::move(report)});
    },
    [self](atom::drain) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      if (st.draining)
        return true;
      st.draining = true;
      st.drain_rp = rp;
      st.pools_draining = st.pools.size() + 1;
      // Jobs waiting on timers or not yet started in a pool stay leased;
      // release hands them back.
      auto drain_child = [self](const auto& child) {
        self->request(child, self->state.settings.store_timeout, atom::drain_v)
          .then(
            [self](std::vector<delivery_job>& unsent) {
              for (auto& j : unsent)
                if (self->state.jobs.erase(j.n.id) > 0)
                  --self->state.held;
              --self->state.pools_draining;
              maybe_finish_drain(self);
            },
            [self](caf::error&) {
              --self->state.pools_draining;
              maybe_finish_drain(self);
            });
      };
      drain_child(st.scheduler);
      for (auto& [channel, pool] : st.pools)
        drain_child(pool);
      maybe_finish_drain(self);
      return rp;
    },
    [self](atom::sweep) {
      sweep(self);
      update_pool_metrics(self);
      self->delayed_send(self, self->state.settings.sweep_interval,
                         atom::sweep_v);
    },
    [self](atom::flush) { flush(self); },
    [self](atom::cancel, const std::string& id) {
      auto& st = self->state;
      auto i = st.jobs.find(id);
      if (i == st.jobs.end())
        return;
      if (!i->second.waiting) {
        // In a pool right now: its outcome is fenced out; never retried.
        i->second.cancelled = true;
        return;
      }
      self->send(st.scheduler, atom::cancel_v, id);
      st.jobs.erase(i);
      --st.held;
    },
    [self](atom::breakers) -> caf::result<std::vector<breaker_info>> {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<breaker_info>>();
      auto acc = std::make_shared<std::vector<breaker_info>>();
      auto left = std::make_shared<size_t>(st.pools.size());
      if (*left == 0)
        return std::vector<breaker_info>{};
      for (auto& [channel, pool] : st.pools)
        self->request(pool, st.settings.store_timeout, atom::breakers_v)
          .then(
            [rp, acc, left](std::vector<breaker_info>& xs) mutable {
              acc->insert(acc->end(), xs.begin(), xs.end());
              if (--*left == 0)
                rp.deliver(std::move(*acc));
            },
            [rp, acc, left](caf::error&) mutable {
              if (--*left == 0)
                rp.deliver(std::move(*acc));
            });
      return rp;
    },
    [self](atom::reset, const std::string& provider) -> caf::result<bool> {
      auto& st = self->state;
      auto rp = self->make_response_promise<bool>();
      auto found = std::make_shared<bool>(false);
      auto left = std::make_shared<size_t>(st.pools.size());
      if (*left == 0)
        return false;
      for (auto& [channel, pool] : st.pools)
        self->request(pool, st.settings.store_timeout, atom::reset_v, provider)
          .then(
            [rp, found, left](bool ok) mutable {
              *found = *found || ok;
              if (--*left == 0)
                rp.deliver(*found);
            },
            [rp, found, left](caf::error&) mutable {
              if (--*left == 0)
                rp.deliver(*found);
            });
      return rp;
    },
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
