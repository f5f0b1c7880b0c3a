#pragma once

// The idempotency guard (DESIGN.md invariant 4, API.md Idempotency-Key): one
// actor per key shard answers claims from memory (recent keys, in-flight
// claims). A key it has not seen is taken as new at once, without asking
// the database: the primary key of idempotency_keys (tenant_id, key) is the
// last word and refuses the insert of a key taken before (before a restart,
// on another node, or forgotten here). Only then does the guard ask the
// store, remember the stored answer and give the verdict. Fresh keys, the
// common case, thus cost no database round trip; a replay costs none while
// its key is in memory.
//
// The caller (an ingest actor, on the node that accepted the request and
// commits it) asks for a verdict and tells the outcome:
//   claim ─▶ fresh       insert ─▶ complete (committed)
//                               ─▶ abandon  (failed, nothing written)
//                               ─▶ resolve  (refused by the key's index)
//                                  ─▶ replay | mismatch | in_flight
//                                  ─▶ fresh: no row holds the key (a batch
//                                     refused for another item's key, or a
//                                     twin's insert failed): claimed again
//         ─▶ replay      answer the original notification id
//         ─▶ mismatch    422
//         ─▶ in_flight   409 + Retry-After
//   resolve ─▶ error     ec::db_unavailable (store down or slow): 503
//   A claim whose caller never ends it is dropped after claim_timeout.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>

#include "actors/actors.hpp"

namespace herald {

/// The shard (0 .. shards-1) that guards (tenant, key): FNV-1a (64 bit) over
/// the tenant, a 0 byte and the key, modulo `shards`. Stable across
/// processes, builds and nodes (unlike std::hash), so every node sends a key
/// to the same shard. 0 for `shards` == 0.
size_t guard_shard(const std::string& tenant, const std::string& key,
                   size_t shards);

struct idempotency_guard_settings {
  /// How long a completed key stays in memory. Keys the store reports keep
  /// their stored expiry if that comes sooner. Memory only: the database
  /// applies each tenant's retention (at least 24 h) on its own.
  caf::timespan retention = std::chrono::hours(24);
  /// Recent keys kept in memory; beyond it the oldest are forgotten first
  /// (a replay of a forgotten key costs a refused insert and one store
  /// look-up, nothing else).
  size_t max_entries = 100000;
  /// An in-flight claim older than this counts as abandoned: its request
  /// died without complete/abandon (or is very slow; the unique index still
  /// refuses a second notification then).
  caf::timespan claim_timeout = std::chrono::seconds(30);
  /// Finite timeout of the store look-up of a resolve; keep it below the
  /// HTTP layer's timeout for a call.
  caf::timespan store_timeout = std::chrono::seconds(5);
  /// Period of the purge of expired keys and stale claims from memory.
  caf::timespan purge_interval = std::chrono::seconds(10);
};

/// The guard's memory, without CAF: recent keys in insertion order (bounded,
/// oldest dropped first) and in-flight claims, both with deadlines on a
/// monotonic clock the caller passes in.
class idem_table {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  idem_table() = default;
  idem_table(size_t max_entries, clock::duration claim_timeout);

  /// The verdict from memory: in_flight (a live claim), replay (a live
  /// recent key with this hash, or with an unknown hash "" from rows stored
  /// before hashes existed), mismatch, or idem_kind::unknown.
  idem_verdict check(const std::string& tenant, const std::string& key,
                     const std::string& hash, time_point now) const;

  /// Records an in-flight claim.
  void claim(const std::string& tenant, const std::string& key,
             const std::string& hash, time_point now);

  /// Drops a claim; false if there was none.
  bool abandon(const std::string& tenant, const std::string& key);

  /// Remembers a committed key until `expires` and drops its claim. Evicts
  /// the oldest entries beyond max_entries.
  void remember(const std::string& tenant, const std::string& key,
                const std::string& hash, const std::string& notification_id,
                time_point expires);

  /// Drops expired recent keys and claims older than the claim timeout.
  /// Returns {recent keys dropped, claims dropped}.
  std::pair<size_t, size_t> purge(time_point now);

  size_t recent_size() const {
    return recent_.size();
  }

  size_t claims_size() const {
    return claims_.size();
  }

  /// Recent keys dropped because of max_entries so far.
  uint64_t evicted() const {
    return evicted_;
  }

  /// One unambiguous map key for (tenant, key).
  static std::string id(const std::string& tenant, const std::string& key);

private:
  struct entry {
    std::string id; // id(tenant, key)
    std::string hash;
    std::string notification_id;
    time_point expires;
  };
  struct claim_entry {
    std::string hash;
    time_point since;
  };

  size_t max_entries_ = 100000;
  clock::duration claim_timeout_ = std::chrono::seconds(30);
  std::list<entry> order_; // oldest first
  std::unordered_map<std::string, std::list<entry>::iterator> recent_;
  std::unordered_map<std::string, claim_entry> claims_;
  uint64_t evicted_ = 0;
};

struct idempotency_guard_state {
  static inline const char* name = "idempotency-guard";
  store_actor store;
  idempotency_guard_settings settings;
  size_t shard = 0;        // for inspect output
  idem_table table;
  /// Keys whose store look-up (resolve) is pending (id(tenant, key)): a twin
  /// arriving meanwhile is answered "in_flight".
  std::unordered_set<std::string> lookups;
  // Counters for inspect.
  uint64_t claims = 0;     // "new" verdicts
  uint64_t replays = 0;
  uint64_t mismatches = 0;
  uint64_t in_flight = 0;
  uint64_t refused = 0;    // inserts the key's index refused
  uint64_t commits = 0;    // claims completed (committed)
  uint64_t abandoned = 0;  // claims abandoned (their request failed)
  uint64_t store_lookups = 0;
  uint64_t store_errors = 0;
  uint64_t stale_claims = 0; // claims dropped by the timeout
};

/// A guard for one key shard. Asks `store` (`lookup, idem`) about keys the
/// key's index refused; purges its memory every settings.purge_interval.
idempotency_guard_actor::behavior_type idempotency_guard(
  idempotency_guard_actor::stateful_pointer<idempotency_guard_state> self,
  store_actor store, idempotency_guard_settings settings, size_t shard);

} // namespace herald
