#include "actors/owner_table.hpp"

#include <algorithm>

#include "actors/idempotency_guard.hpp"

namespace herald {

const std::string& owner_table::limiter_owner(const std::string& tenant_id) const {
  return ring.owner("limiter/" + tenant_id);
}

size_t owner_table::shard_of(const std::string& tenant_id,
                             const std::string& key) {
  return guard_shard(tenant_id, key, idempotency_shards);
}

std::string owner_table::shard_key(size_t shard) const {
  return "idempotency/" + std::to_string(shard);
}

const std::string& owner_table::shard_owner(size_t shard) const {
  return ring.owner(shard_key(shard));
}

const limiter_registry_actor*
owner_table::limiters_of(const std::string& member) const {
  auto i = owners.find(member);
  if (i == owners.end() || !i->second.limiters)
    return nullptr;
  return &i->second.limiters;
}

const idempotency_guard_actor*
owner_table::guard_of(const std::string& member, size_t shard) const {
  auto i = owners.find(member);
  if (i == owners.end() || i->second.guards.empty())
    return nullptr;
  return &i->second.guards[shard % i->second.guards.size()];
}

bool owner_table::live(const std::string& member) const {
  return owners.count(member) > 0
         || std::any_of(workers.begin(), workers.end(),
                        [&](const worker& w) { return w.name == member; });
}

} // namespace herald
