#pragma once

// The cluster actor: one per node that has herald.cluster.port, published
// on it (main.cpp). It keeps this node in the full mesh and tells the other
// actors of this node who is up:
//
//   seeds + addresses learned from peers ─connect (middleman)─▶ join
//   every heartbeat interval  ─heartbeat (own card)─▶ every member
//   monitor fires, or no heartbeat within connection-timeout ─▶ member down
//       ─takeover─▶ store (its leases freed, fence bumped) ─claim─▶ dispatcher
//   membership or credits change ─view (owner_table)─▶ ingest actors, writer
//
// Reconnection to an address that is not up backs off exponentially up to
// herald.cluster.reconnect-max-delay. A name is unique: a join under the
// name of a live member is refused (ec::conflict); the refused node logs it
// and quits with that error, which makes its node exit non-zero. The
// protocol version and herald.cluster.name sit in CAF's
// middleman.app-identifiers (main.cpp): another version cannot connect.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_clock.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/timespan.hpp>

#include "actors/actors.hpp"
#include "actors/owner_table.hpp"
#include "actors/policy/liveness_gate.hpp"

namespace herald {

/// The cluster protocol's version: part of middleman.app-identifiers, so a
/// node speaking another one is refused at CAF's handshake.
constexpr int cluster_protocol_version = 1;

/// The app identifier of a cluster (`herald.cluster.name`) at a protocol
/// version.
std::string cluster_app_identifier(const std::string& cluster_name,
                                   int version = cluster_protocol_version);

struct cluster_settings {
  std::string node;               // herald.node.name
  std::vector<std::string> roles; // herald.node.roles
  std::string address;            // advertised "host:port"
  std::vector<std::string> seeds; // "host:port" (this node's own is skipped)
  caf::timespan heartbeat_interval = std::chrono::milliseconds(500);
  caf::timespan connection_timeout = std::chrono::seconds(2);
  caf::timespan reconnect_max_delay = std::chrono::seconds(5);
  /// Connect, join, takeover and the admin fan-out each have this limit.
  caf::timespan request_timeout = std::chrono::seconds(2);
  int virtual_nodes = 128;
};

/// This node's services the cluster actor offers to other nodes and keeps
/// informed.
struct cluster_locals {
  limiter_registry_actor limiters;             // ingest role
  std::vector<idempotency_guard_actor> guards; // ingest role
  dispatcher_actor dispatcher;                 // worker role
  store_actor store;                           // leases of members that die
  std::vector<ingest_actor> ingest;            // get owner views
  writer_actor writer;                         // gets owner views
  std::vector<inspectable_actor> actors;       // for GET /admin/actors
  /// Opened on every tick; after a pause it stays closed until the
  /// dispatcher dropped what it held (actors/policy/liveness_gate.hpp).
  std::shared_ptr<liveness_gate> gate;
  /// This node's template cache: emptied of what other nodes publish.
  std::shared_ptr<template_cache> templates;
};

struct cluster_state {
  static inline const char* name = "cluster";

  struct member {
    member_card card;
    cluster_actor handle;
    bool up = false;
    int64_t since_ms = 0;
    caf::actor_clock::time_point last_heartbeat;
    std::string down_reason;
  };

  /// An address this node stays connected to (a seed or a learned peer).
  struct target {
    caf::actor_clock::time_point next_attempt;
    caf::timespan delay{0};
    bool connecting = false;
    int failures = 0;
    std::string last_error;
  };

  cluster_settings settings;
  cluster_locals locals;
  int64_t incarnation = 0;  // start time, epoch ms
  int64_t started_ms = 0;
  std::map<std::string, member> members; // by name, this node not included
  std::map<std::string, target> targets; // by address
  bool ready = false;       // joined, or alone by config
  int64_t epoch = 0;        // membership changes
  std::shared_ptr<const owner_table> table;
  int32_t credits = 0;      // this node's free delivery capacity
  uint64_t takeovers = 0;   // members whose leases this node took over
  int64_t rows_taken_over = 0;
  uint64_t refused_joins = 0;
  liveness_gate::clock::time_point last_tick{}; // steady: pause detection
  uint64_t pauses = 0;     // ticks that came later than the timeout
  bool dropping = false;   // the dispatcher drops its work after a pause
  /// After a pause, connections the peers closed because of it may still
  /// be reported for a while: no takeover of their leases until then.
  liveness_gate::clock::time_point frozen_until{};
};

/// The cluster actor of this node.
cluster_actor::behavior_type
cluster(cluster_actor::stateful_pointer<cluster_state> self,
        cluster_settings settings, cluster_locals locals);

} // namespace herald
