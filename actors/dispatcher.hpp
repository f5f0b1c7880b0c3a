#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include <memory>
#include <unordered_map>

#include "core/metrics.hpp"
#include "actors/actors.hpp"
#include "actors/policy/outcome_policy.hpp"

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
  size_t outcome_batch = 1000;                      // outcomes per store call
  int max_flushes = 2;                              // store calls at once
  outcome_policy_settings outcomes;                 // retries, horizon
  uint64_t random_seed = 0;                         // 0 = std::random_device
};

/// A job this node holds (between claim or commit and its recorded outcome).
struct held_job {
  delivery_job job;
  bool waiting = false;   // on a timer in the retry scheduler (not in a pool)
  bool cancelled = false; // cancelled while in a pool: record, never retry
  int64_t pooled_at_ms = 0; // handed to its pool then (0: not in a pool)
};

struct dispatcher_state {
  static inline const char* name = "dispatcher";

  /// Metric cells per (channel, provider, outcome) of attempts.
  struct attempt_metric_cells {
    metric_counter* attempts = nullptr;
    metric_histogram* duration = nullptr;
  };
  std::unordered_map<std::string, attempt_metric_cells> attempt_metrics;

  store_actor store;
  std::map<std::string, sender_pool_actor> pools; // channel → pool
  retry_scheduler_actor scheduler;
  dispatcher_settings settings;
  std::unique_ptr<outcome_policy> policy;
  /// Every job routed and not yet finished, by notification id: what the
  /// outcome policy needs (channel, attempts) and what a retry resends.
  std::unordered_map<std::string, held_job> jobs;

  /// Jobs this node is responsible for: reserved by the writer, claimed, in
  /// pools or in flight, until their outcome is recorded. Bounded by
  /// settings.capacity, which bounds memory.
  int64_t held = 0;
  std::vector<delivery_decision> outcomes; // waiting to be recorded
  int flushing = 0;          // outcome batches being recorded
  bool claiming = false;
  bool backlog = false;       // the last claim was full: more may be due
  bool reclaimed_own = false; // the first claim takes back our old leases
  bool draining = false;
  size_t pools_draining = 0;
  caf::typed_response_promise<bool> drain_rp;
  /// After a pause: answered once every job that was in a pool is back.
  bool dropping = false;
  caf::typed_response_promise<bool> drop_rp;

  // Counters for the admin endpoint.
  uint64_t dispatched = 0;
  uint64_t claimed = 0;
  uint64_t delivered = 0;
  uint64_t retried = 0;
  uint64_t dead_lettered = 0;
  uint64_t deferred = 0;
  uint64_t fenced_out = 0;
  /// attempt_key = prefix + counter: unique per call across restarts.
  std::string attempt_prefix;
  uint64_t attempt_seq = 0;
  uint64_t store_errors = 0;
};

/// The dispatcher of one node. It spawns (and links: a pool that gives up
/// takes the node down, whose leases other nodes then take over) one pool
/// per channel and the retry scheduler. Every sender result goes through the
/// outcome policy (delivered / retry / dead letter) and is recorded in
/// batches; a retry is put on its timer only once its new state is durable.
/// Notifications of channels without a pool are dead-lettered without an
/// attempt (never dropped).
dispatcher_actor::behavior_type
dispatcher(dispatcher_actor::stateful_pointer<dispatcher_state> self,
           store_actor store, std::map<std::string, pool_factory> pools,
           dispatcher_settings settings);

} // namespace herald
