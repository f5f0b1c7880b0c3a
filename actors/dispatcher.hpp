#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace herald {

/// Spawns a channel's sender pool as a child of the dispatcher.
using pool_factory =
  std::function<sender_pool_actor(caf::local_actor*, dispatcher_actor)>;

struct dispatcher_settings {
  std::string node;                                 // this node's name
  int capacity = 20000;                             // jobs held in memory
  caf::timespan sweep_interval = std::chrono::seconds(1);
  caf::timespan renew_interval = std::chrono::seconds(20);
  caf::timespan store_timeout = std::chrono::seconds(10);
  int claim_batch = 1000;                           // rows per claim
};

struct dispatcher_state {
  static inline const char* name = "dispatcher";

  store_actor store;
  std::map<std::string, sender_pool_actor> pools; // channel → pool
  dispatcher_settings settings;

  /// Jobs this node is responsible for: reserved by the writer, claimed, in
  /// pools or in flight, until their outcome is recorded. Bounded by
  /// settings.capacity, which bounds memory.
  int64_t held = 0;
  std::vector<delivery_outcome> outcomes; // waiting to be recorded
  bool flushing = false;
  bool claiming = false;
  bool backlog = false;       // the last claim was full: more may be due
  bool reclaimed_own = false; // the first claim takes back our old leases
  bool draining = false;
  size_t pools_draining = 0;
  caf::typed_response_promise<bool> drain_rp;

  // Counters for the admin endpoint.
  uint64_t dispatched = 0;
  uint64_t claimed = 0;
  uint64_t delivered = 0;
  uint64_t failed = 0;
  uint64_t fenced_out = 0;
  uint64_t store_errors = 0;
};

/// The dispatcher of one node. It spawns (and links) one pool per channel;
/// notifications of channels without a pool are recorded as failed (never
/// dropped).
dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           store_actor store, std::map<std::string, pool_factory> pools,
           dispatcher_settings settings);

} // namespace herald
