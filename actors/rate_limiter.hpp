#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include <caf/actor_addr.hpp>
#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>

#include "actors/actors.hpp"
#include "actors/policy/token_bucket.hpp"

namespace herald {

/// Settings of the limiter registry, handed to every limiter it spawns.
struct limiter_settings {
  /// How often a limiter checks whether it may stop: it stops when nobody
  /// asked since the previous check and its bucket is full (so stopping
  /// forgets nothing). Zero: limiters never stop.
  caf::timespan idle_interval = std::chrono::seconds(30);
  /// Used when a request carries rate_per_sec or burst <= 0 ("node
  /// default", herald.tenants.default-rate / default-burst).
  int32_t default_rate = 1000;
  int32_t default_burst = 2000;
  /// The registry's own request to a limiter that may be stopping (see
  /// limiter_registry). A local limiter answers at once; this only bounds
  /// a bug.
  caf::timespan probe_timeout = std::chrono::seconds(5);
};

struct rate_limiter_state {
  static inline const char* name = "rate-limiter";

  std::string tenant_id;
  limiter_settings settings;
  /// Made by the first request, so that it starts full at that tenant's
  /// burst rather than at a default that the request would then shrink or
  /// (worse) leave unfilled.
  std::optional<token_bucket> bucket;
  bool asked = false; // since the last idle check
  uint64_t allowed = 0; // tokens granted (items, not requests)
  uint64_t denied = 0;  // tokens refused
};

/// A tenant's rate limiter. Answers every acquire with a full rate_decision;
/// each request carries the tenant's current rate and burst, and a change
/// applies to that very request. Uses the actor clock (virtual under the
/// test coordinator).
rate_limiter_actor::behavior_type
rate_limiter(rate_limiter_actor::stateful_pointer<rate_limiter_state> self,
             std::string tenant_id, limiter_settings settings);

struct limiter_registry_state {
  static inline const char* name = "limiter-registry";

  struct entry {
    rate_limiter_actor limiter;
    /// When the registry last sent this limiter a request. The limiter
    /// handles that request at this time or later and then cannot stop for
    /// idleness before a whole idle_interval has passed: until half of it
    /// has passed, delegating to it is safe.
    caf::actor_clock::time_point last_sent;
    int32_t probes = 0; // requests to it awaiting its answer here
  };

  limiter_settings settings;
  std::unordered_map<std::string, entry> limiters;          // by tenant
  std::unordered_map<caf::actor_addr, std::string> tenants; // for down_msg
  uint64_t spawned = 0;
  uint64_t probed = 0;  // requests sent after a quiet period
  uint64_t stopped = 0; // probes that found their limiter had just stopped
};

/// Routes acquire requests to each tenant's limiter, spawning it on first use
/// (monitored, forgotten on down_msg). The limiter answers the requester
/// directly (delegation); the requester sets the timeout.
///
/// A limiter stops itself when idle, and a request delegated to it in the
/// instant it stops (before the registry sees its down_msg) would be bounced
/// to the requester. So after a quiet period (half the idle interval without
/// requests to that limiter) the registry does not delegate: it asks the
/// limiter itself, and if that limiter has just stopped it asks a fresh one
/// (nothing is lost: a limiter stops only with a full bucket, the state a new
/// one starts in). Requests of a busy tenant are always delegated.
///
/// An exit message (node shutdown) also stops every limiter.
limiter_registry_actor::behavior_type limiter_registry(
  limiter_registry_actor::stateful_pointer<limiter_registry_state> self,
  limiter_settings settings);

} // namespace herald
