#pragma once

// Statements of tenant_store: tenants and their API keys.

#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// Column list read by row_to_tenant; the table is always aliased `t`.
inline const std::string k_tenant_columns =
  "t.id, t.name, t.rate_per_sec, t.burst, t.channels, t.webhook_secret, "
  HERALD_MS("t.created_at") ", " HERALD_MS("t.updated_at")
  ", t.idempotency_retention_hours, coalesce(t.email_from, ''),"
  " coalesce(t.email_reply_to, '')";

// xmax = 0 only for a row version created by this INSERT (not by the
// ON CONFLICT update), which tells "created" from "updated".
inline const std::string k_put_tenant =
  "INSERT INTO tenants AS t (id, name, rate_per_sec, burst, channels,"
  "                          webhook_secret, idempotency_retention_hours,"
  "                          email_from, email_reply_to)"
  " VALUES ($1, $2, $3, $4, $5::text[], $6, $7, nullif($8, ''),"
  "         nullif($9, ''))"
  " ON CONFLICT (id) DO UPDATE"
  "   SET name = excluded.name, rate_per_sec = excluded.rate_per_sec,"
  "       burst = excluded.burst, channels = excluded.channels,"
  "       idempotency_retention_hours = excluded.idempotency_retention_hours,"
  "       email_from = excluded.email_from,"
  "       email_reply_to = excluded.email_reply_to,"
  "       updated_at = now()"
  " RETURNING " + k_tenant_columns + ", (t.xmax = 0)";

inline const std::string k_get_tenant =
  "SELECT " + k_tenant_columns + " FROM tenants t WHERE t.id = $1";

inline const std::string k_create_key =
  "INSERT INTO api_keys (key_id, tenant_id, key_hash)"
  " SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tenants WHERE id = $2)";

inline const std::string k_revoke_key =
  "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())"
  " WHERE key_id = $1 AND tenant_id = $2";

inline const std::string k_lookup_key =
  "SELECT k.key_id, k.key_hash, k.revoked_at IS NOT NULL, " + k_tenant_columns
  + " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
    " WHERE k.key_id = $1";

} // namespace herald::sql
