#pragma once

// Herald's PostgreSQL access: plain blocking code, no CAF. Each instance owns
// one connection and is used by exactly one thread at a time (a detached store
// worker actor). Connectivity problems throw `db_unavailable_error` and leave
// the instance reconnecting on its next call; every write is one transaction,
// so a failure never leaves half a record behind. The statements are grouped
// by aggregate (notifications, delivery, dead letters, tenants, idempotency),
// each a class on this connection with its SQL in persistence/sql/.

#include <memory>
#include <string>

#include "core/messages.hpp"
#include "persistence/dead_letter_store.hpp"
#include "persistence/delivery_store.hpp"
#include "persistence/idempotency_store.hpp"
#include "persistence/notification_store.hpp"
#include "persistence/store_types.hpp"
#include "persistence/recipient_store.hpp"
#include "persistence/template_store.hpp"
#include "persistence/tenant_store.hpp"

// libpqxx 6 spells pqxx::connection as an alias of a class template, so a
// plain `class connection;` conflicts with <pqxx/connection>.
namespace pqxx {
class connect_direct;
template <typename CONNECTPOLICY>
class basic_connection_base;
using connection = basic_connection_base<connect_direct>;
} // namespace pqxx

namespace herald {

/// Statuses that are not terminal (work still to do).
/// accepted: durable, held by nobody; queued: held by a node (leased).
class pg_store {
public:
  explicit pg_store(std::string url);
  ~pg_store();

  pg_store(const pg_store&) = delete;
  pg_store& operator=(const pg_store&) = delete;

  /// Applies missing migrations (persistence/migrations.hpp) in one
  /// transaction per migration under a session advisory lock, so several
  /// nodes may start at once. Records versions in schema_migrations.
  void migrate();

  /// True if a trivial query succeeds (reconnecting if needed).
  bool ping();

  notification_store& notifications() {
    return notifications_;
  }

  delivery_store& delivery() {
    return delivery_;
  }

  dead_letter_store& dead_letters() {
    return dead_letters_;
  }

  tenant_store& tenants() {
    return tenants_;
  }

  idempotency_store& idempotency() {
    return idempotency_;
  }

  template_store& templates() {
    return templates_;
  }

  recipient_store& recipients() {
    return recipients_;
  }

private:
  friend class notification_store;
  friend class delivery_store;
  friend class dead_letter_store;
  friend class tenant_store;
  friend class idempotency_store;
  friend class template_store;
  friend class recipient_store;

  pqxx::connection& conn();

  /// Runs `f`; turns every sign of a lost or unreachable server into
  /// db_unavailable_error and drops the connection, so the next call starts
  /// from a fresh one (prepared statements and session state included).
  /// Other errors keep the connection: the failed transaction was rolled
  /// back. Defined in persistence/detail/guarded.hpp (it needs libpqxx).
  template <class F>
  auto guarded(const char* what, F&& f) -> decltype(f());

  /// One transaction: `lock` (tenant_id, id) locks the row and returns the
  /// notification and then the state that `allowed` judges; if allowed, the
  /// prepared statement `update` (id, reason) changes it and returns the
  /// notification. `out` gets the notification unless not_found.
  change_result change_state(const char* update, const char* lock,
                             bool (*allowed)(const std::string&),
                             const std::string& tenant_id,
                             const std::string& id, const std::string& reason,
                             notification& out);

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  notification_store notifications_{*this};
  delivery_store delivery_{*this};
  dead_letter_store dead_letters_{*this};
  tenant_store tenants_{*this};
  idempotency_store idempotency_{*this};
  template_store templates_{*this};
  recipient_store recipients_{*this};
};

} // namespace herald
