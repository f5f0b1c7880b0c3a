#pragma once

// Statements of idempotency_store (lookup, purge) and the keys a batch of
// new notifications takes (notification_store::insert).

#include <string>
#include <string_view>

#include "persistence/sql/common.hpp"

namespace herald::sql {

/// The statement that writes a batch's idempotency keys into `table` (the
/// schema's idempotency_keys, or a copy of it: bench/key_insert.cpp times
/// it on one). Parameters: parallel text arrays of tenant ids, keys, hashes
/// ('' for none) and notification ids, and a bigint array of created_at in
/// epoch ms (0: the transaction's now). Answers now() in epoch ms.
inline std::string insert_keys_statement(const std::string& table) {
  return "WITH now_ms AS (SELECT " HERALD_MS("now()") " AS ms),"
         " ins AS ("
         "  INSERT INTO " + table + " (tenant_id, key, request_hash,"
         "                             notification_id, created_at)"
         "  SELECT x.tenant_id, x.key, nullif(x.hash, ''), x.id::uuid,"
         "         timestamptz 'epoch'"
         "           + (CASE WHEN x.ms = 0 THEN now_ms.ms ELSE x.ms END)"
         "             * interval '1 millisecond'"
         "    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
         "                $5::bigint[]) AS x(tenant_id, key, hash, id, ms),"
         "         now_ms"
         ") SELECT ms FROM now_ms";
}

// When a key `k` (joined with its tenant `t`) stops being retained. The
// contract is "at least 24 h": a tenant's 0 (node default) or any smaller
// value means 24 h. Keep the 24 in step with HERALD_IDEM_MIN_AGE.
#define HERALD_IDEM_EXPIRES                                                    \
  "(k.created_at + greatest(24, t.idempotency_retention_hours)"               \
  " * interval '1 hour')"
// Implied by an expired key whatever its tenant's retention; lets the purge
// range-scan idempotency_keys_created_idx.
#define HERALD_IDEM_MIN_AGE "k.created_at <= now() - interval '24 hours'"

// The primary key that enforces invariant 4 (0007_idempotency_keys_table.sql):
// a violation of it, and only of it, is a conflict_error.
inline constexpr std::string_view k_idempotency_index = "idempotency_keys_pkey";

inline const std::string k_lookup_idempotency =
  "SELECT coalesce(k.request_hash, ''), k.notification_id::text, "
  HERALD_MS(HERALD_IDEM_EXPIRES)
  " FROM idempotency_keys k JOIN tenants t ON t.id = k.tenant_id"
  " WHERE k.tenant_id = $1 AND k.key = $2"
  "   AND " HERALD_IDEM_EXPIRES " > now()";

// The keys of a batch, written in the transaction of its COPY, answering
// what db_now_ms answers (one round trip for both); see
// insert_keys_statement.
inline const std::string k_insert_keys = insert_keys_statement("idempotency_keys");

// Before a batch takes its keys: an expired key that the purge has not
// reached yet must not refuse its reuse. Parallel arrays (tenant, key).
inline const std::string k_release_expired_keys =
  "DELETE FROM idempotency_keys k"
  " USING unnest($1::text[], $2::text[]) AS x(tenant_id, key), tenants t"
  " WHERE k.tenant_id = x.tenant_id AND k.key = x.key"
  "   AND t.id = k.tenant_id AND " HERALD_IDEM_EXPIRES " <= now()";

// One short transaction per call: at most $1 keys, none that another
// transaction holds (SKIP LOCKED), so the purge never waits on or blocks
// ingestion for long. MATERIALIZED as in k_claim (sql/delivery.hpp).
inline const std::string k_purge_idempotency =
  "WITH picked AS MATERIALIZED ("
  "  SELECT k.tenant_id, k.key"
  "    FROM idempotency_keys k JOIN tenants t ON t.id = k.tenant_id"
  "   WHERE " HERALD_IDEM_MIN_AGE
  "     AND " HERALD_IDEM_EXPIRES " <= now()"
  "   LIMIT $1 FOR UPDATE OF k SKIP LOCKED"
  ") DELETE FROM idempotency_keys d"
  "    USING picked WHERE d.tenant_id = picked.tenant_id"
  "                   AND d.key = picked.key";

#undef HERALD_IDEM_MIN_AGE
#undef HERALD_IDEM_EXPIRES

} // namespace herald::sql
