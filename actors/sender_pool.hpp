#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "actors/policy/circuit_breaker.hpp"
#include "actors/provider_supervisor.hpp"
#include "actors/policy/restart_intensity.hpp"

namespace herald {

/// A named provider of a channel (email, sms, push: API.md "Providers"),
/// with its own supervisor settings (pool size, breaker and quota overrides)
/// and the factory of its senders.
struct named_provider {
  std::string name;
  std::string kind; // smtp | twilio | fcm | webpush
  provider_settings settings;
  sender_factory factory;
};

struct sender_pool_settings {
  std::string channel;
  /// The channel's providers in fail-over order. Empty (webhooks): one
  /// supervisor per provider_key, spawned with `factory`.
  std::vector<named_provider> named;
  std::string node; // this node's name, for outcomes made without a call
  /// Senders per provider (per webhook endpoint).
  int senders_per_provider = 8;
  /// Deadline of one call to a sender: longer than the provider's own
  /// timeout (a sender past it is taken as hung and replaced).
  caf::timespan call_timeout = std::chrono::seconds(15);
  breaker_settings breaker;
  /// Sender restarts a provider supervisor allows before it escalates.
  restart_intensity_settings sender_restarts;
  /// See provider_settings::max_job_crashes.
  int max_job_crashes = 3;
  /// Provider supervisor restarts the pool allows before it escalates.
  restart_intensity_settings provider_restarts;
  /// A provider supervisor with nothing to do stops after this long.
  caf::timespan idle_timeout = std::chrono::minutes(5);
  /// Deadline of the pool's own requests to its supervisors (breakers,
  /// reset); drain waits for in-flight calls, so it gets call_timeout more.
  caf::timespan admin_timeout = std::chrono::seconds(5);
};

/// The provider a job goes to, i.e. its breaker: for webhooks the endpoint
/// scheme://host:port (the channel for an invalid URL: its sender answers
/// a permanent failure); for other channels the pinned provider, else the
/// channel.
std::string provider_key(const delivery_job& job);

/// Whether a provider of `kind` can deliver `job`: a push job addressed to a
/// Web Push subscription (JSON) needs webpush, a device token needs fcm.
bool provider_accepts(const std::string& kind, const delivery_job& job);

/// The settings of the supervisor of `provider` in a pool.
provider_settings provider_settings_of(const sender_pool_settings& s,
                                       const std::string& provider);

struct sender_pool_state {
  static inline const char* name = "sender-pool";

  /// A provider supervisor and the jobs it holds (by notification id) until
  /// their outcome comes back: if it dies, they go to its replacement.
  struct child {
    provider_actor hdl;
    std::map<std::string, delivery_job> held;
  };

  sender_pool_settings settings;
  dispatcher_actor dispatcher;
  sender_factory factory;
  restart_intensity intensity;
  std::map<std::string, child> providers;                // by provider key
  std::unordered_map<caf::actor_addr, std::string> keys; // for down_msg
  /// Named providers: until when each is known to defer (its breaker is
  /// open), and which providers deferred a job in its current routing.
  std::map<std::string, caf::actor_clock::time_point> open_until;
  std::unordered_map<std::string, std::vector<std::string>> deferred_by;
  /// Live supervisors. Shared with the exit hook: CAF 0.17 destroys the
  /// state before attached functors run.
  std::shared_ptr<std::map<caf::actor_addr, provider_actor>> live;
  bool draining = false;
  size_t drains_pending = 0;
  caf::typed_response_promise<std::vector<delivery_job>> drain_rp;
  std::vector<delivery_job> unsent; // handed back on drain

  // Counters for the admin endpoint.
  uint64_t routed = 0;
  uint64_t outcomes = 0;
  uint64_t spawned = 0;  // supervisors started (restarts included)
  uint64_t stopped = 0;  // supervisors that stopped when idle
  uint64_t restarts = 0; // supervisors restarted after a failure
  uint64_t failovers = 0; // jobs sent on to the next provider
};

/// A channel's sender pool: routes each job to the supervisor of its
/// provider (provider_key), spawning it on first use, and forwards the
/// supervisors' outcomes to the dispatcher. With named providers, a job
/// goes to the first provider in fail-over order that accepts it and is not
/// known to be open (or to the pinned one); a `deferred` answer (breaker
/// open, no call made) sends it on to the next one, and only when every
/// provider deferred does the dispatcher get `deferred` (DESIGN.md
/// invariant 6), with the shortest cool-down. Supervisors are monitored: one
/// that stops when idle is forgotten; one that fails is restarted (one for
/// one) and the jobs it held go to the replacement. Past the restart
/// intensity (settings.provider_restarts) the pool escalates: it exits with
/// ec::unavailable, and the dispatcher, linked to it, sees that.
sender_pool_actor::behavior_type
sender_pool(sender_pool_actor::stateful_pointer<sender_pool_state> self,
            dispatcher_actor dispatcher, sender_factory factory,
            sender_pool_settings settings);

} // namespace herald
