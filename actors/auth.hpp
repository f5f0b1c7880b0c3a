#pragma once

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace herald {

struct auth_settings {
  /// How long a looked-up key is trusted without asking the store again.
  /// Revocations through this node take effect at once; through another
  /// node, within this time.
  caf::timespan cache_ttl = std::chrono::seconds(1);
  caf::timespan store_timeout = std::chrono::seconds(5);
};

struct auth_state {
  static inline const char* name = "auth";

  struct cached {
    key_record record;
    caf::actor_clock::time_point fetched; // the actor clock: monotonic, and
                                          // virtual under the test coordinator
  };
  struct waiter {
    std::string key;
    caf::typed_response_promise<tenant> rp;
  };

  store_actor store;
  auth_settings settings;
  std::unordered_map<std::string, cached> cache;               // by key id
  std::unordered_map<std::string, std::vector<waiter>> lookups; // in flight
  /// Keys revoked through this node: a look-up that was already in flight
  /// when the revocation came must not bring the key back.
  std::unordered_set<std::string> revoked;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t denied = 0;
};

/// Authenticates API keys against the store, with a short-lived cache and
/// coalesced look-ups (many requests with one new key cost one query).
auth_actor::behavior_type auth(auth_actor::stateful_pointer<auth_state> self,
                               store_actor store, auth_settings settings);

} // namespace herald
