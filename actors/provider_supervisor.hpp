#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/policy/circuit_breaker.hpp"
#include "actors/policy/token_bucket.hpp"
#include "core/metrics.hpp"
#include "actors/policy/restart_intensity.hpp"

namespace herald {

/// Spawns one sender as a child of the calling actor (for blocking
/// providers: `detached`). Called again to replace a sender that died or hung.
using sender_factory = std::function<sender_actor(caf::local_actor*)>;

/// One provider's supervisor (herald.breaker.* and the pool's settings).
struct provider_settings {
  std::string channel;
  std::string provider; // e.g. the webhook endpoint scheme://host:port
  std::string node;     // this node's name, for the outcomes it makes itself
  /// Senders at most (spawned as work arrives): the endpoint's concurrency.
  int senders = 8;
  /// Deadline of one call to a sender, longer than the provider's own
  /// timeout: a sender that has not answered by then is taken as hung.
  caf::timespan call_timeout = std::chrono::seconds(15);
  breaker_settings breaker;
  /// Sender restarts allowed (crashed or hung) before it escalates.
  restart_intensity_settings restarts;
  /// A job that was held by this many senders that died or hung is answered
  /// `failed` (retryable: the attempt budget decides) instead of re-queued
  /// again: one poison job must not escalate up the supervision tree.
  int max_job_crashes = 3;
  /// Stops after this long with nothing queued or in flight and the breaker
  /// not open, so one-off endpoints do not keep threads. Zero: never.
  caf::timespan idle_timeout = std::chrono::minutes(5);
  /// Outbound quota: at most this many calls per second (a token bucket of
  /// `burst` tokens, 0 = rate_per_sec), so Herald never exceeds what the
  /// provider allows. 0 = none.
  int rate_per_sec = 0;
  int burst = 0;
};

struct provider_supervisor_state {
  static inline const char* name = "provider-supervisor";

  /// A job a sender holds.
  struct call {
    delivery_job job;
    bool probe = false; // holds a half-open permit of the breaker
  };

  provider_settings settings;
  sender_pool_actor pool;
  sender_factory factory;
  circuit_breaker breaker;
  std::optional<token_bucket> quota; // settings.rate_per_sec > 0
  bool quota_wait = false;           // a wake-up for the next token is due
  uint64_t throttled = 0;            // times a job waited for the quota
  metric_counter* throttled_counter = nullptr; // the same in the metrics
  metric_gauge* breaker_gauge = nullptr; // the breaker's state in the metrics
  restart_intensity intensity;
  std::deque<delivery_job> queue; // waiting for a sender (or for the probe)
  /// Live senders. Shared with the exit hook: CAF 0.17 destroys the state
  /// before attached functors run.
  std::shared_ptr<std::vector<sender_actor>> senders;
  std::vector<sender_actor> idle;
  std::map<caf::actor_addr, call> busy; // what each sender holds
  std::map<std::string, int> crashes;   // notification id → senders lost
  bool active = false;                  // since the last idle check
  bool draining = false;
  caf::typed_response_promise<std::vector<delivery_job>> drain_rp;
  std::vector<delivery_job> unsent; // handed back on drain

  // Counters for the admin endpoint.
  uint64_t sent = 0;     // outcomes of calls
  uint64_t deferred = 0; // jobs answered `deferred` (breaker open)
  uint64_t requeued = 0; // jobs taken back from a crashed or hung sender
  uint64_t restarts = 0; // senders replaced
};

/// The supervisor of one provider: its circuit breaker and its senders.
///
/// Each job goes to an idle sender (one is spawned if fewer than
/// settings.senders exist) when the breaker allows a call; outcomes go to
/// `pool` as `atom::outcome`. Results feed the breaker: delivered and
/// permanent failures (the endpoint answered, it is alive) count as
/// successes, retryable failures (timeouts, connection errors, 5xx, 429) as
/// failures. While the breaker is open every job, queued or new, is answered
/// `deferred` at once with the remaining cool-down and no call (DESIGN.md
/// invariant 6); the dispatcher brings it back later. Half-open, only the
/// breaker's probes go out; the rest wait for the probe's result.
///
/// A sender whose call fails (it died, e.g. an exception in its handler) or
/// does not answer within call_timeout (it hangs) is killed and replaced:
/// the job it held goes back to the front of the queue (at-least-once; it
/// is not an attempt the provider answered), up to max_job_crashes times.
/// Past the restart intensity it escalates: it exits with ec::unavailable
/// and its pool takes over its jobs.
///
/// Uses the actor clock (virtual under the test coordinator).
provider_actor::behavior_type
provider_supervisor(provider_actor::stateful_pointer<provider_supervisor_state> self,
                    sender_pool_actor pool, sender_factory factory,
                    provider_settings settings);

} // namespace herald
