#include "actors/provider_supervisor.hpp"

#include <algorithm>

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/log.hpp"
#include "core/metric_catalog.hpp"
#include "core/json_text.hpp"
#include "actors/config.hpp"

namespace herald {

namespace {

using sup_ptr = provider_actor::stateful_pointer<provider_supervisor_state>;
using time_point = circuit_breaker::time_point;
using std::chrono::milliseconds;

time_point now_of(sup_ptr self) {
  return self->clock().now();
}

int64_t ms_until(std::optional<time_point> until, time_point now) {
  if (!until || *until <= now)
    return 0;
  return std::chrono::ceil<milliseconds>(*until - now).count();
}

void maybe_finish_drain(sup_ptr self) {
  auto& st = self->state;
  if (st.draining && st.busy.empty() && st.drain_rp.pending()) {
    st.drain_rp.deliver(std::move(st.unsent));
    st.unsent.clear();
  }
}

/// An outcome the supervisor makes itself (no answer of the provider).
attempt_report own_outcome(sup_ptr self, const delivery_job& job,
                           attempt_result outcome, std::string error) {
  const auto& st = self->state;
  attempt_report out;
  out.id = job.n.id;
  out.tenant_id = job.n.tenant_id;
  out.fence = job.fence;
  out.outcome = outcome;
  out.retryable = true;
  out.error = std::move(error);
  out.node = st.settings.node;
  out.provider = st.settings.provider;
  out.started_at_ms = wall_ms(self);
  return out;
}

/// Answers a job without a call: the breaker is open (invariant 6: nothing
/// is counted, the dispatcher brings the job back after the cool-down).
void defer(sup_ptr self, const delivery_job& job, time_point now) {
  auto& st = self->state;
  auto out = own_outcome(self, job, attempt_result::deferred, "breaker open");
  out.retry_after_ms = ms_until(st.breaker.open_until(), now);
  ++st.deferred;
  self->send(st.pool, atom::outcome_v, std::move(out));
}

void start(sup_ptr self, sender_actor sender, delivery_job job, bool probe);

/// The breaker's state in the metrics (0 closed, 1 half-open, 2 open).
void publish_breaker(provider_supervisor_state& st, time_point now) {
  double x = 0;
  switch (st.breaker.state(now)) {
    case breaker_state::closed:
      x = 0;
      break;
    case breaker_state::half_open:
      x = 1;
      break;
    case breaker_state::open:
      x = 2;
      break;
  }
  if (st.breaker_gauge)
    st.breaker_gauge->set(x);
}

void pump_queue(sup_ptr self);

/// Hands queued jobs to senders as far as the breaker and the senders allow;
/// answers every queued job `deferred` while the breaker is open.
void pump(sup_ptr self) {
  pump_queue(self);
  publish_breaker(self->state, now_of(self));
}

void pump_queue(sup_ptr self) {
  auto& st = self->state;
  auto now = now_of(self);
  auto max_senders = static_cast<size_t>(std::max(st.settings.senders, 1));
  while (!st.queue.empty()) {
    auto before = st.breaker.state(now);
    if (before == breaker_state::open) {
      st.breaker.try_acquire(now); // refused; counted as such by the breaker
      defer(self, st.queue.front(), now);
      st.queue.pop_front();
      continue;
    }
    if (st.idle.empty() && st.senders->size() >= max_senders)
      return;
    if (st.quota) {
      // Out of quota: wake up when the next token is there.
      auto d = st.quota->take(1, now);
      if (!d.allowed) {
        ++st.throttled;
        if (st.throttled_counter)
          st.throttled_counter->inc();
        if (!st.quota_wait) {
          st.quota_wait = true;
          self->delayed_send(self, std::max(d.retry_after, token_bucket::duration{1000000}),
                             atom::probe_v);
        }
        return;
      }
    }
    if (!st.breaker.try_acquire(now))
      return; // half-open with every probe out: wait for a probe's result
    sender_actor sender;
    if (!st.idle.empty()) {
      sender = st.idle.back();
      st.idle.pop_back();
    } else {
      sender = st.factory(self);
      st.senders->push_back(sender);
    }
    auto job = std::move(st.queue.front());
    st.queue.pop_front();
    start(self, std::move(sender), std::move(job),
          before == breaker_state::half_open);
  }
}

/// Feeds the breaker with the result of a call: only retryable failures
/// speak against the provider's health; a permanent failure means the
/// endpoint answered.
void record(provider_supervisor_state& st, const attempt_report& out,
            bool probe, time_point now) {
  if (out.outcome == attempt_result::delivered || (out.outcome == attempt_result::failed && !out.retryable))
    st.breaker.record_success(now);
  else if (out.outcome == attempt_result::failed)
    st.breaker.record_failure(now);
  else if (probe)
    st.breaker.release(now); // no verdict on the provider
}

void on_result(sup_ptr self, const sender_actor& sender,
               attempt_report& out) {
  auto& st = self->state;
  auto now = now_of(self);
  st.active = true;
  auto i = st.busy.find(sender.address());
  if (i != st.busy.end()) {
    record(st, out, i->second.probe, now);
    st.crashes.erase(i->second.job.n.id);
    st.busy.erase(i);
  }
  ++st.sent;
  if (out.provider.empty())
    out.provider = st.settings.provider;
  self->send(st.pool, atom::outcome_v, std::move(out));
  st.idle.push_back(sender);
  pump(self);
  maybe_finish_drain(self);
}

/// A job that took down max_job_crashes senders: answered as a failed
/// attempt (retryable, so its attempt budget decides), not re-queued again.
void give_up(sup_ptr self, const delivery_job& job, const caf::error& err) {
  auto& st = self->state;
  self->send(st.pool, atom::outcome_v,
             own_outcome(self, job, attempt_result::failed,
                         "sender failed "
                           + std::to_string(st.settings.max_job_crashes)
                           + " times on it: " + self->system().render(err)));
}

/// The sender died or hung: take its job back and replace it.
void on_failure(sup_ptr self, const sender_actor& sender,
                const caf::error& err) {
  auto& st = self->state;
  auto now = now_of(self);
  st.active = true;
  auto i = st.busy.find(sender.address());
  std::string held = "nothing";
  if (i != st.busy.end()) {
    auto& job = i->second.job;
    if (i->second.probe)
      st.breaker.release(now);
    held = job.n.id;
    if (++st.crashes[job.n.id] >= std::max(st.settings.max_job_crashes, 1)) {
      st.crashes.erase(job.n.id);
      give_up(self, job, err);
    } else if (st.draining) {
      st.unsent.push_back(std::move(job));
      ++st.requeued;
    } else {
      // Not an attempt the provider answered: no outcome, the job runs again
      // (at-least-once: a hung call may still have reached the provider).
      st.queue.push_front(std::move(job));
      ++st.requeued;
    }
    st.busy.erase(i);
  }
  // A hung detached sender ends once its blocking call returns.
  self->send_exit(sender, caf::exit_reason::kill);
  auto& all = *st.senders;
  all.erase(std::remove(all.begin(), all.end(), sender), all.end());
  ++st.restarts;
  metrics().counter(metric::sender_restarts, {{"pool", st.settings.channel}}).inc();
  HERALD_LOG(warn, "provider-supervisor", st.settings.provider,
             ": sender failed holding ", held, ", replacing it: ",
             self->system().render(err));
  if (!st.intensity.record(now)) {
    HERALD_LOG(error, "provider-supervisor", st.settings.provider,
               ": more than ", st.intensity.settings().max_restarts,
               " sender restarts within ",
               st.intensity.settings().window.count(), " ms, escalating");
    self->quit(make_error(ec::unavailable,
                          "provider " + st.settings.provider
                            + ": sender restart intensity exceeded"));
    return;
  }
  pump(self);
  maybe_finish_drain(self);
}

void start(sup_ptr self, sender_actor sender, delivery_job job, bool probe) {
  auto& st = self->state;
  st.busy.emplace(sender.address(),
                  provider_supervisor_state::call{job, probe});
  self->request(sender, st.settings.call_timeout, atom::deliver_v, std::move(job))
    .then(
      [self, sender](attempt_report& out) { on_result(self, sender, out); },
      [self, sender](caf::error& err) { on_failure(self, sender, err); });
}

breaker_info info_of(provider_supervisor_state& st, time_point now) {
  auto sum = st.breaker.summary(now);
  breaker_info x;
  x.provider = st.settings.provider;
  x.channel = st.settings.channel;
  x.state = to_string(sum.state);
  x.last_trip = to_string(sum.last_trip);
  x.open_for_ms = sum.state == breaker_state::open
                    ? ms_until(sum.open_until, now)
                    : 0;
  x.open_timeout_ms = sum.open_timeout.count();
  x.trips = static_cast<int64_t>(sum.trips);
  x.consecutive_failures = sum.consecutive_failures;
  x.window_calls = sum.window_calls;
  x.window_failures = sum.window_failures;
  x.rejected = static_cast<int64_t>(sum.rejected);
  x.deferred = static_cast<int64_t>(st.deferred);
  x.queued = static_cast<int64_t>(st.queue.size());
  x.busy = static_cast<int64_t>(st.busy.size());
  x.restarts = static_cast<int64_t>(st.restarts);
  return x;
}

std::string state_json(provider_supervisor_state& st, time_point now) {
  auto b = info_of(st, now);
  nlohmann::json j;
  j["channel"] = st.settings.channel;
  j["provider"] = st.settings.provider;
  j["breaker"] = b.state;
  j["open_for_ms"] = b.open_for_ms;
  j["trips"] = b.trips;
  j["senders"] = st.senders->size();
  j["max_senders"] = st.settings.senders;
  j["queued"] = b.queued;
  j["busy"] = b.busy;
  j["sent"] = st.sent;
  j["deferred"] = st.deferred;
  j["requeued"] = st.requeued;
  j["restarts"] = st.restarts;
  j["draining"] = st.draining;
  if (st.quota) {
    j["quota_per_sec"] = st.settings.rate_per_sec;
    j["quota_burst"] = st.quota->burst();
    j["throttled"] = st.throttled;
  }
  return j.dump();
}

} // namespace

provider_actor::behavior_type
provider_supervisor(provider_actor::stateful_pointer<provider_supervisor_state> self,
                    sender_pool_actor pool, sender_factory factory,
                    provider_settings settings) {
  auto& st = self->state;
  st.pool = std::move(pool);
  st.factory = std::move(factory);
  st.breaker = circuit_breaker{settings.breaker};
  st.breaker_gauge = &metrics().gauge(metric::breaker_state,
                                      {{"channel", settings.channel},
                                       {"provider", settings.provider}});
  st.intensity = restart_intensity{settings.restarts};
  if (settings.rate_per_sec > 0) {
    st.quota.emplace(settings.rate_per_sec,
                     settings.burst > 0 ? settings.burst : settings.rate_per_sec);
    st.throttled_counter = &metrics().counter(metric::provider_throttled,
                                              {{"channel", settings.channel},
                                               {"provider", settings.provider}});
  }
  st.settings = std::move(settings);
  st.senders = std::make_shared<std::vector<sender_actor>>();
  // Stops the senders with the supervisor. Must not touch self->state (gone
  // by then), nor send as `self`: anonymous exit messages.
  self->attach_functor([senders = st.senders] {
    for (auto& s : *senders)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  });
  if (st.settings.idle_timeout > caf::timespan::zero())
    self->delayed_send(self, st.settings.idle_timeout, atom::idle_v);
  return {
    [self](atom::inspect) -> actor_info {
      auto& st = self->state;
      return describe(self, "provider-supervisor", st.settings.provider,
                      st.settings.node, state_json(st, now_of(self)),
                      static_cast<int64_t>(st.restarts));
    },
    [self](atom::deliver, delivery_job& job) {
      auto& st = self->state;
      st.active = true;
      if (st.draining) {
        st.unsent.push_back(std::move(job));
        return;
      }
      st.queue.push_back(std::move(job));
      pump(self);
    },
    [self](atom::breakers) -> breaker_info {
      return info_of(self->state, now_of(self));
    },
    [self](atom::reset) -> bool {
      auto& st = self->state;
      st.active = true;
      st.breaker.reset(now_of(self));
      HERALD_LOG(info, "provider-supervisor", st.settings.provider,
                 ": breaker reset by hand");
      pump(self);
      return true;
    },
    [self](atom::drain) -> caf::result<std::vector<delivery_job>> {
      auto& st = self->state;
      if (st.draining)
        return std::vector<delivery_job>{};
      auto rp = self->make_response_promise<std::vector<delivery_job>>();
      st.draining = true;
      st.drain_rp = rp;
      for (auto& j : st.queue)
        st.unsent.push_back(std::move(j));
      st.queue.clear();
      maybe_finish_drain(self);
      return rp;
    },
    [self](atom::probe) {
      self->state.quota_wait = false;
      pump(self);
    },
    [self](atom::idle) {
      auto& st = self->state;
      auto quiet = !st.active && st.queue.empty() && st.busy.empty()
                   && !st.draining
                   && st.breaker.state(now_of(self)) != breaker_state::open;
      if (quiet) {
        HERALD_LOG(debug, "provider-supervisor", st.settings.provider,
                   ": idle, stopping");
        self->quit();
        return;
      }
      st.active = false;
      self->delayed_send(self, st.settings.idle_timeout, atom::idle_v);
    },
  };
}

} // namespace herald
