#pragma once

// Statements of recipient_store.

#include <string>

#include "persistence/sql/common.hpp"

namespace herald::sql {

// Column list read by row_to_recipient; the table is always aliased `r`.
inline const std::string k_recipient_columns =
  "r.tenant_id, r.id, coalesce(r.email, ''), coalesce(r.phone, ''),"
  " coalesce(r.locale, ''), coalesce(r.timezone, ''), r.opt_out,"
  " r.devices::text, " HERALD_MS("r.created_at") ", " HERALD_MS("r.updated_at");

// Creates or replaces a profile (devices included); xmax = 0: created.
inline const std::string k_put_recipient =
  "INSERT INTO recipients AS r (tenant_id, id, email, phone, locale, timezone,"
  "                             opt_out, devices)"
  " VALUES ($1, $2, nullif($3, ''), nullif($4, ''), nullif($5, ''),"
  "         nullif($6, ''), $7::text[], $8::jsonb)"
  " ON CONFLICT (tenant_id, id) DO UPDATE"
  "   SET email = excluded.email, phone = excluded.phone,"
  "       locale = excluded.locale, timezone = excluded.timezone,"
  "       opt_out = excluded.opt_out, devices = excluded.devices,"
  "       updated_at = now()"
  " RETURNING " + k_recipient_columns + ", (r.xmax = 0)";

inline const std::string k_get_recipient =
  "SELECT " + k_recipient_columns
  + " FROM recipients r WHERE r.tenant_id = $1 AND r.id = $2";

inline const std::string k_delete_recipient =
  "DELETE FROM recipients WHERE tenant_id = $1 AND id = $2";

// A device added (replacing one of the same id) at the end of the list.
inline const std::string k_add_device =
  "UPDATE recipients AS r"
  "   SET devices = coalesce((SELECT jsonb_agg(d) FROM jsonb_array_elements(r.devices) d"
  "                           WHERE d->>'id' <> $3::jsonb->>'id'), '[]'::jsonb)"
  "                 || jsonb_build_array($3::jsonb),"
  "       updated_at = now()"
  " WHERE r.tenant_id = $1 AND r.id = $2"
  " RETURNING " + k_recipient_columns;

// A device removed; no row if the recipient has no such device.
inline const std::string k_remove_device =
  "UPDATE recipients AS r"
  "   SET devices = coalesce((SELECT jsonb_agg(d) FROM jsonb_array_elements(r.devices) d"
  "                           WHERE d->>'id' <> $3), '[]'::jsonb),"
  "       updated_at = now()"
  " WHERE r.tenant_id = $1 AND r.id = $2"
  "   AND EXISTS (SELECT 1 FROM jsonb_array_elements(r.devices) d"
  "               WHERE d->>'id' = $3)"
  " RETURNING " + k_recipient_columns;

} // namespace herald::sql
