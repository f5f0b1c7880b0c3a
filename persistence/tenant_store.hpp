#pragma once

#include <optional>
#include <string>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Tenants and their API keys. Part of a pg_store (db.tenants()), on its
/// connection; its statements are in persistence/sql/tenants.hpp.
class tenant_store {
public:
  explicit tenant_store(pg_store& db) : db_(db) {
  }

  /// Creates the tenant (with `x.webhook_secret`) or updates name,
  /// rate_per_sec, burst and channels of an existing one (the secret and
  /// created_at stay). Returns the stored tenant and whether it was created.
  tenant_put_result put(const tenant& x);

  std::optional<tenant> get(const std::string& id);

  /// Stores a new key (only its hash). False if the tenant does not exist.
  bool create_key(const std::string& tenant_id, const std::string& key_id,
                  const std::string& key_hash);

  /// Marks a key revoked. False if no such key for this tenant.
  bool revoke_key(const std::string& tenant_id, const std::string& key_id);

  /// The key with its tenant, or nullopt.
  std::optional<key_record> lookup_key(const std::string& key_id);

private:
  pg_store& db_;
};

} // namespace herald
