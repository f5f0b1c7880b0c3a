#pragma once

// Statements of template_store: template heads (code, latest version,
// archived) and their immutable versions.

#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// Column list read by row_to_template: heads `h` joined with versions `v`.
inline const std::string k_template_columns =
  "h.tenant_id, h.code, v.version, h.latest, v.default_locale, v.locales::text,"
  " " HERALD_MS("v.created_at") ", h.archived_at IS NOT NULL";

// A new code, or an archived one brought back (its versions go on).
inline const std::string k_create_template_head =
  "INSERT INTO template_heads AS h (tenant_id, code, latest) VALUES ($1, $2, 1)"
  " ON CONFLICT (tenant_id, code) DO UPDATE"
  "   SET latest = h.latest + 1, archived_at = NULL"
  "   WHERE h.archived_at IS NOT NULL"
  " RETURNING h.latest";

// The next version of a live code; no row if there is none. The row lock
// orders concurrent publishes.
inline const std::string k_bump_template_head =
  "UPDATE template_heads SET latest = latest + 1"
  " WHERE tenant_id = $1 AND code = $2 AND archived_at IS NULL"
  " RETURNING latest";

inline const std::string k_insert_template_version =
  "INSERT INTO template_versions (tenant_id, code, version, default_locale,"
  "                               locales)"
  " VALUES ($1, $2, $3, $4, $5::jsonb)";

// One version ($3 = 0: the latest) of a live code.
inline const std::string k_get_template =
  "SELECT " + k_template_columns
  + " FROM template_heads h JOIN template_versions v"
    "   ON v.tenant_id = h.tenant_id AND v.code = h.code"
    " WHERE h.tenant_id = $1 AND h.code = $2 AND h.archived_at IS NULL"
    "   AND v.version = CASE WHEN $3::integer = 0 THEN h.latest ELSE $3::integer END";

// The latest version of every live code, by code, after the cursor (a code).
inline const std::string k_list_templates =
  "SELECT " + k_template_columns
  + " FROM template_heads h JOIN template_versions v"
    "   ON v.tenant_id = h.tenant_id AND v.code = h.code AND v.version = h.latest"
    " WHERE h.tenant_id = $1 AND h.archived_at IS NULL AND h.code > $2"
    " ORDER BY h.code LIMIT $3";

inline const std::string k_archive_template =
  "UPDATE template_heads SET archived_at = now()"
  " WHERE tenant_id = $1 AND code = $2 AND archived_at IS NULL";

} // namespace herald::sql
