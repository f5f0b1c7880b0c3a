#pragma once

// Who owns what in the cluster, as the cluster actor last saw it:
//   - the ring (actors/policy/hash_ring.hpp) over the live members with the
//     ingest role decides the owner node of each tenant's rate limiter and
//     of each idempotency shard;
//   - the live workers, each with its dispatcher and the credits (free
//     delivery capacity) it last granted.
// Built by the cluster actor on every membership change and sent to the
// ingest actors and the writer (owner_view); never changed after that.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "actors/actors.hpp"
#include "actors/policy/hash_ring.hpp"

namespace herald {

struct owner_table {
  /// Idempotency keys hash to one of this many shards cluster-wide; each
  /// shard has an owner node, and there one of its guards (shard modulo its
  /// guard count). Fixed: every node must compute the same shard.
  static constexpr size_t idempotency_shards = 256;

  /// The services an owner node offers.
  struct owner {
    limiter_registry_actor limiters;
    std::vector<idempotency_guard_actor> guards;
  };

  /// A live worker node.
  struct worker {
    std::string name;
    dispatcher_actor dispatcher;
    int32_t credits = 0;
  };

  int64_t epoch = 0; // the cluster view's epoch this table was built from
  std::string self;  // this node's name
  hash_ring ring;    // live members with the ingest role
  std::map<std::string, owner> owners; // by name, this node included
  std::vector<worker> workers;         // live, this node included

  explicit owner_table(int virtual_nodes = 128) : ring(virtual_nodes) {
  }

  /// The node owning a tenant's rate limiter ("" if no member has the
  /// ingest role).
  const std::string& limiter_owner(const std::string& tenant_id) const;

  /// The cluster-wide shard of an idempotency key.
  static size_t shard_of(const std::string& tenant_id, const std::string& key);

  /// The node owning an idempotency shard ("" if none).
  const std::string& shard_owner(size_t shard) const;

  /// The limiter registry of `member`, if it is an owner.
  const limiter_registry_actor* limiters_of(const std::string& member) const;

  /// The guard of `shard` on `member`, if it is an owner with guards.
  const idempotency_guard_actor* guard_of(const std::string& member,
                                          size_t shard) const;

  /// Whether `member` is live in this table (as owner or worker).
  bool live(const std::string& member) const;

private:
  std::string shard_key(size_t shard) const;
};

} // namespace herald
