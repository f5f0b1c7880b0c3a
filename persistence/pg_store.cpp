#include "persistence/pg_store.hpp"

#include <algorithm>
#include <utility>

#include <pqxx/pqxx>

#include "core/ids.hpp"
#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/migrations.hpp"
#include "persistence/sql/dead_letters.hpp"
#include "persistence/sql/delivery.hpp"
#include "persistence/sql/idempotency.hpp"
#include "persistence/sql/notifications.hpp"
#include "persistence/sql/schema.hpp"
#include "persistence/sql/tenants.hpp"
#include "persistence/sql/templates.hpp"
#include "persistence/sql/recipients.hpp"

namespace herald {

namespace {

using detail::row_to_notification;

// Prepared on every new connection; names are what exec_prepared takes.
const std::pair<const char*, const std::string*> k_prepared[] = {
  {"db_now_ms", &sql::k_db_now_ms},
  {"get_notification", &sql::k_get_notification},
  {"list_notifications", &sql::k_list_notifications},
  {"list_attempts", &sql::k_list_attempts},
  {"claim", &sql::k_claim},
  {"renew_leases", &sql::k_renew_leases},
  {"release_leases", &sql::k_release_leases},
  {"take_over_leases", &sql::k_take_over_leases},
  {"lock_outcome_rows", &sql::k_lock_outcome_rows},
  {"record_outcomes", &sql::k_record_outcomes},
  {"remove_dead_device", &sql::k_remove_dead_device},
  {"apply_receipt", &sql::k_apply_receipt},
  {"list_dead_letters", &sql::k_list_dead_letters},
  {"list_all_dead_letters", &sql::k_list_all_dead_letters},
  {"get_dead_letter", &sql::k_get_dead_letter},
  {"list_events", &sql::k_list_events},
  {"lock_dead_letter", &sql::k_lock_dead_letter},
  {"lock_notification", &sql::k_lock_notification},
  {"retry_dead_letter", &sql::k_retry_dead_letter},
  {"discard_dead_letter", &sql::k_discard_dead_letter},
  {"cancel_notification", &sql::k_cancel_notification},
  {"replay_dead_letters", &sql::k_replay_dead_letters},
  {"put_tenant", &sql::k_put_tenant},
  {"get_tenant", &sql::k_get_tenant},
  {"create_key", &sql::k_create_key},
  {"revoke_key", &sql::k_revoke_key},
  {"lookup_key", &sql::k_lookup_key},
  {"count_by_status", &sql::k_count_by_status},
  {"ping", &sql::k_ping},
  {"lookup_idempotency", &sql::k_lookup_idempotency},
  {"insert_keys", &sql::k_insert_keys},
  {"release_expired_keys", &sql::k_release_expired_keys},
  {"purge_idempotency", &sql::k_purge_idempotency},
  {"create_template_head", &sql::k_create_template_head},
  {"bump_template_head", &sql::k_bump_template_head},
  {"insert_template_version", &sql::k_insert_template_version},
  {"get_template", &sql::k_get_template},
  {"list_templates", &sql::k_list_templates},
  {"archive_template", &sql::k_archive_template},
  {"put_recipient", &sql::k_put_recipient},
  {"get_recipient", &sql::k_get_recipient},
  {"delete_recipient", &sql::k_delete_recipient},
  {"add_device", &sql::k_add_device},
  {"remove_device", &sql::k_remove_device},
  {"applied_versions", &sql::k_applied_versions},
  {"record_migration", &sql::k_record_migration},
};

// Bounds connection attempts to an unreachable host (libpq waits forever by
// default), unless the URL already says otherwise.
std::string with_connect_timeout(const std::string& url) {
  if (url.find("connect_timeout") != std::string::npos)
    return url;
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)
    return url + (url.find('?') == std::string::npos ? "?" : "&")
           + "connect_timeout=5";
  return url + " connect_timeout=5";
}

// Releases the migration lock however migrate() ends. If the connection is
// gone the server has released the session lock already.
struct migrate_lock_guard {
  pqxx::connection& c;
  ~migrate_lock_guard() {
    try {
      pqxx::nontransaction tx{c};
      tx.exec("SELECT pg_advisory_unlock("
              + std::to_string(sql::k_migrate_lock_key) + ")");
    } catch (...) {
      // Nothing to do: see above.
    }
  }
};

} // namespace

pg_store::pg_store(std::string url) : url_(with_connect_timeout(url)) {
  // Connecting lazily lets a node start (and report not-ready) while the
  // database is down.
}

pg_store::~pg_store() = default;

pqxx::connection& pg_store::conn() {
  if (conn_ && conn_->is_open())
    return *conn_;
  conn_.reset();
  auto c = std::make_unique<pqxx::connection>(url_);
  for (auto& [name, text] : k_prepared)
    c->prepare(name, *text);
  conn_ = std::move(c);
  return *conn_;
}

void pg_store::migrate() {
  guarded("migrate", [&] {
    auto& c = conn();
    {
      pqxx::nontransaction tx{c};
      // IF NOT EXISTS would print a NOTICE on every start otherwise.
      tx.exec("SET client_min_messages = warning");
      tx.exec("SELECT pg_advisory_lock("
              + std::to_string(sql::k_migrate_lock_key) + ")");
    }
    migrate_lock_guard unlock{c};
    std::vector<int> applied;
    {
      pqxx::work tx{c};
      tx.exec(sql::k_bootstrap_migrations);
      for (const auto& row : tx.exec_prepared("applied_versions"))
        applied.push_back(row[0].as<int>());
      tx.commit();
    }
    for (const auto& m : migrations()) {
      if (std::find(applied.begin(), applied.end(), m.version) != applied.end())
        continue;
      pqxx::work tx{c};
      tx.exec(m.sql);
      tx.exec_prepared("record_migration", m.version, std::string{m.name});
      tx.commit();
    }
  });
}

bool pg_store::ping() {
  try {
    return guarded("ping", [&] {
      pqxx::nontransaction tx{conn()};
      tx.exec_prepared("ping");
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
}

change_result pg_store::change_state(const char* update, const char* lock,
                                     bool (*allowed)(const std::string&),
                                     const std::string& tenant_id,
                                     const std::string& id,
                                     const std::string& reason,
                                     notification& out) {
  if (!is_uuid(id))
    return change_result::not_found;
  return guarded(update, [&] {
    pqxx::work tx{conn()};
    auto locked = tx.exec_prepared(lock, tenant_id, id);
    if (locked.empty())
      return change_result::not_found;
    out = row_to_notification(locked[0]);
    if (!allowed(locked[0][sql::k_notification_column_count].as<std::string>()))
      return change_result::conflict; // nothing written: the tx rolls back
    out = row_to_notification(tx.exec_prepared1(update, id, reason));
    tx.commit();
    return change_result::done;
  });
}

} // namespace herald
