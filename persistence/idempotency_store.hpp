#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Idempotency keys once their batch is in (notification_store::insert
/// writes them): lookups after a restart, and forgetting expired ones.
/// Part of a pg_store (db.idempotency()), on its connection; its statements
/// are in persistence/sql/idempotency.hpp.
class idempotency_store {
public:
  explicit idempotency_store(pg_store& db) : db_(db) {
  }

  /// The notification holding (tenant, key) while the key is retained
  /// (created_at + the tenant's retention > now, the database's clock), or
  /// nullopt. Retention: greatest(24, tenant.idempotency_retention_hours) h.
  std::optional<idem_record> lookup(const std::string& tenant_id,
                                    const std::string& key);

  /// Forgets expired keys (deletes them from idempotency_keys; their
  /// notifications keep the record) in transactions of at most `batch` keys,
  /// so no lock is held long, until a transaction finds fewer than `batch`
  /// or after `max_batches` of them (0 = no limit; a limit bounds how long
  /// one call occupies the worker). Keys locked by others are skipped. Returns how many keys were forgotten.
  int64_t purge(int batch, int max_batches = 0);

private:
  pg_store& db_;
};

} // namespace herald
