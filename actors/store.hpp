#pragma once

#include <string>
#include <vector>

#include <caf/fwd.hpp>
#include <caf/stateful_actor.hpp>

#include "actors/actors.hpp"
#include "persistence/pg_store.hpp"

namespace herald {

/// Settings every store worker needs.
struct store_settings {
  std::string db_url;
  lease_spec lease; // this node's name and lease TTL
};

struct store_worker_state {
  static inline const char* name = "store-worker";
  std::unique_ptr<pg_store> db;     // one connection, used by this thread only
  store_settings settings;
  uint64_t calls = 0;
  uint64_t unavailable = 0;         // calls answered ec::db_unavailable
  // The writer's transactions of new rows, committed or failed: how many,
  // their rows, and how long they took from the first statement to the
  // commit's answer, in total and at most.
  uint64_t inserts = 0;
  uint64_t insert_rows = 0;
  int64_t insert_us = 0;
  int64_t insert_max_us = 0;
};

/// A store worker. Must be spawned `detached`: every handler blocks on
/// PostgreSQL.
store_actor::behavior_type
store_worker(store_actor::stateful_pointer<store_worker_state> self,
             store_settings settings);

struct store_router_state {
  static inline const char* name = "store";
  std::vector<store_actor> workers;
  size_t next = 0;                  // round robin
};

/// Spreads requests over a pool of store workers (spawned by the caller).
store_actor::behavior_type
store_router(store_actor::stateful_pointer<store_router_state> self,
             std::vector<store_actor> workers);

} // namespace herald
