#pragma once

// The node supervisor: one per node. From the node's config it starts the
// services of its roles (DESIGN.md "Actors"):
//   always   store workers + store router (reads), auth, janitor
//   ingest   group-commit writer (+ its connections), limiter registry,
//            idempotency guards (key shards), the ingest actors
//   worker   dispatcher with its sender pools (webhook)
// An ingest-only node stores new notifications unleased; workers' sweepers
// claim them. It monitors every service: one that dies while the node runs
// makes the node escalate (on_escalate; main.cpp exits with status 2) so
// that a process supervisor restarts it and other nodes take over its
// leases. On exit it stops the services in order: API-facing ones first,
// the database connections last.

#include <functional>
#include <string>
#include <vector>

#include <caf/stateful_actor.hpp>

#include "actors/actors.hpp"
#include "config/node_config.hpp"

namespace herald {

struct node_supervisor_state {
  static inline const char* name = "node-supervisor";
  node_config cfg;
  node_services services;
  /// Every service, in the order they stop (see the header comment).
  std::vector<std::pair<std::string, caf::actor>> children;
  std::function<void()> on_escalate;
  bool stopping = false;
  bool escalated = false;
  std::string died; // kind of the first service that died
};

/// Starts this node's services; `on_escalate` runs once if one dies.
node_supervisor_actor::behavior_type
node_supervisor(node_supervisor_actor::stateful_pointer<node_supervisor_state> self,
                node_config cfg, std::function<void()> on_escalate);

} // namespace herald
