#pragma once

// The submission protocol, once, for single and batch submissions, with and
// without keys. The HTTP thread parses and validates, then makes one request
// and gets one answer; everything between happens here, without blocking:
//
//   submit ─auth─▶ auth actor                      ec::unauthorized ─▶ 401
//          ─tokens─▶ limiter registry (the tenant's limiter)
//                      single denied ─▶ 429 (a known denial is answered from
//                      the denial memo without asking)
//                      batch: items past the tokens granted ─▶ rate_limited
//          ─claim─▶ the key's guard, for each keyed item (all at once)
//                      replay | mismatch | in_flight ─▶ that item's answer
//          ─submit─▶ writer (this node's group commit), all new items in one
//                      request: one transaction
//                      committed ─▶ accepted; the guards: complete
//                      ec::conflict (a key's index refused; nothing written)
//                        ─▶ resolve each keyed item at its guard; the items
//                           still free go again together, and one by one
//                           only if that is refused too
//                      other error ─▶ the guards: abandon; the request fails
//
// The guards only give verdicts and are told outcomes, so they may live on
// another node; the commit always happens here.

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>

#include "actors/actors.hpp"
#include "actors/owner_table.hpp"
#include "actors/policy/denial_memo.hpp"

namespace herald {

struct ingest_settings {
  /// Finite timeout of every request this actor makes (auth, limiter,
  /// guards, writer). The HTTP thread waits for the whole protocol.
  caf::timespan timeout = std::chrono::seconds(10);
  int32_t default_rate = 1000;  // tenants without their own rate_per_sec
  int32_t default_burst = 2000; // tenants without their own burst
};

struct ingest_state {
  static inline const char* name = "ingest";
  auth_actor auth;
  limiter_registry_actor limiters;
  std::vector<idempotency_guard_actor> guards; // key shards (guard_shard)
  writer_actor writer;
  ingest_settings settings;
  size_t index = 0; // in the pool, for inspect
  /// Tenants refused until their next token (single submissions).
  denial_memo denials;
  // Counters for inspect.
  uint64_t requests = 0;
  uint64_t unauthorized = 0;
  uint64_t accepted = 0;  // items committed
  uint64_t replayed = 0;
  uint64_t refused = 0;   // items answered with a 4xx/5xx of their own
  uint64_t failed = 0;    // requests that failed as a whole
  uint64_t conflicts = 0; // commits refused by a key's index
  uint64_t memo_denials = 0;
  // Cluster: the owners as last seen (null on a single node: everything is
  // asked here) and the requests in flight to other nodes, each with how to
  // ask again if its node leaves before answering.
  std::shared_ptr<const owner_table> table;
  struct remote_call {
    std::string member;
    std::function<void()> retry;
  };
  std::unordered_map<uint64_t, remote_call> calls;
  uint64_t next_call = 0;
  uint64_t remote_requests = 0;
  uint64_t retried = 0; // asked again of a new owner
};

/// An ingest actor of this node (one of a small pool, `index`).
ingest_actor::behavior_type
ingest(ingest_actor::stateful_pointer<ingest_state> self, auth_actor auth,
       limiter_registry_actor limiters,
       std::vector<idempotency_guard_actor> guards, writer_actor writer,
       ingest_settings settings, size_t index);

} // namespace herald
