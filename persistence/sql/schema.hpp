#pragma once

// Migrations' bookkeeping and the connection's own statements (pg_store).

#include <cstdint>
#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// Key of the session advisory lock that serializes migrations across nodes.
// Any fixed number works; this one is "herald" in ASCII.
inline constexpr int64_t k_migrate_lock_key = 0x686572616c64;

inline const std::string k_bootstrap_migrations =
  "CREATE TABLE IF NOT EXISTS schema_migrations ("
  " version integer PRIMARY KEY, name text NOT NULL,"
  " applied_at timestamptz NOT NULL DEFAULT now())";

inline const std::string k_applied_versions =
  "SELECT version FROM schema_migrations";

inline const std::string k_record_migration =
  "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)";

// The database clock decides leases (claims compare with its now()), so
// rows streamed by COPY get their lease deadline from it as well.
inline const std::string k_db_now_ms = "SELECT " HERALD_MS("now()");

inline const std::string k_ping = "SELECT 1";

} // namespace herald::sql
