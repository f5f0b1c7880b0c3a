#include "persistence/notification_store.hpp"

#include <algorithm>
#include <string_view>

#include <libpq-fe.h>
#include <pqxx/largeobject>
#include <pqxx/pqxx>

#include "core/ids.hpp"
#include "persistence/copy_binary.hpp"
#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/idempotency.hpp"
#include "persistence/sql/notifications.hpp"

namespace herald {

namespace {

using detail::k_max_page;
using detail::page_of;
using detail::row_to_notification;
using detail::text_array;

// libpqxx 6 streams COPY only as text, escaping every field through a tuple
// of strings: a third of the node's CPU in a batch, and the server then
// parses timestamps, UUIDs and integers back from text. The binary format
// (persistence/copy_binary.hpp) skips both; it needs libpq's connection,
// which libpqxx 6 hands out only to large-object classes.
struct raw_connection_of : pqxx::largeobject {
  static PGconn* get(const pqxx::dbtransaction& tx) {
    return raw_connection(tx);
  }
};

// Throws what libpqxx would have thrown for the failed `res` (a
// pqxx::sql_error with its SQLSTATE, or pqxx::broken_connection), so callers
// and guarded() treat the COPY like any other statement. Without a result
// (sending the data or its end failed) the connection may still be in the
// middle of the COPY: it counts as broken, so guarded() drops it.
[[noreturn]] void throw_copy_error(PGconn* conn, PGresult* res,
                                   const std::string& query) {
  std::string msg = res ? PQresultErrorMessage(res) : PQerrorMessage(conn);
  if (msg.empty())
    msg = "COPY into notifications failed";
  if (res == nullptr || PQstatus(conn) == CONNECTION_BAD) {
    if (res)
      PQclear(res);
    throw pqxx::broken_connection(msg);
  }
  const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  std::string sqlstate = state ? state : "";
  PQclear(res);
  throw pqxx::sql_error(msg, query, sqlstate.empty() ? nullptr : sqlstate.c_str());
}

// Streams `xs` into notifications with a binary COPY inside `tx` (see
// notification_store::insert for the lease rules); `now_ms` is the
// database's now() of `tx`. On any error the server has aborted `tx`; it
// must not be committed.
void copy_notifications(pqxx::work& tx, const std::vector<notification>& xs,
                        const lease_spec& lease, int64_t due_by_ms,
                        int64_t now_ms) {
  const bool owner = !lease.owner.empty();
  PGconn* conn = raw_connection_of::get(tx);
  static const std::string query = [] {
    std::string q = "COPY notifications (";
    for (size_t i = 0; i < sql::k_copy_columns.size(); ++i)
      q += (i > 0 ? ", " : "") + sql::k_copy_columns[i];
    return q + ") FROM STDIN (FORMAT binary)";
  }();
  PGresult* res = PQexec(conn, query.c_str());
  if (PQresultStatus(res) != PGRES_COPY_IN)
    throw_copy_error(conn, res, query);
  PQclear(res);
  auto put = [&](const std::string& bytes) {
    if (PQputCopyData(conn, bytes.data(), static_cast<int>(bytes.size())) != 1)
      throw_copy_error(conn, nullptr, query);
  };
  // An id that is no UUID would be refused by the server as well; ending the
  // COPY with an error message aborts it the same way.
  const char* refusal = nullptr;
  copy_binary w;
  auto text_or_null = [&w](const std::string& v) {
    if (v.empty())
      w.null();
    else
      w.text(v);
  };
  for (const auto& x : xs) {
    w.row(static_cast<int16_t>(sql::k_copy_columns.size()));
    if (!w.uuid(x.id)) {
      refusal = "invalid notification id (not a UUID)";
      break;
    }
    w.text(x.tenant_id);
    w.text(x.channel);
    w.text(x.to);
    text_or_null(x.subject);
    w.text(x.body);
    if (x.data.empty())
      w.null();
    else
      w.jsonb(x.data);
    w.text(x.priority.empty() ? std::string_view{"normal"} : x.priority);
    if (x.send_at_ms != 0)
      w.timestamptz_ms(x.send_at_ms);
    else
      w.null();
    text_or_null(x.provider);
    const bool leased = owner && due_by(x, due_by_ms);
    if (x.status == notification_status::skipped)
      w.text("skipped"); // terminal at once: never leased or claimed
    else
      w.text(leased ? std::string_view{"queued"} : std::string_view{"accepted"});
    w.int4(0); // attempts
    w.timestamptz_ms(x.created_at_ms != 0 ? x.created_at_ms : now_ms);
    w.timestamptz_ms(now_ms); // updated_at
    text_or_null(x.idempotency_key);
    // A hash without its key would mean nothing (and the schema refuses it).
    if (x.idempotency_key.empty())
      w.null();
    else
      text_or_null(x.idempotency_hash);
    if (leased) {
      w.text(lease.owner);
      w.timestamptz_ms(now_ms + lease.ttl_ms);
    } else {
      w.null();
      w.null();
    }
    w.int8(leased ? 1 : 0); // fence
    text_or_null(x.request_id);
    text_or_null(x.template_code);
    if (x.template_version != 0)
      w.int4(x.template_version);
    else
      w.null();
    if (x.rendered.empty())
      w.null();
    else
      w.jsonb(x.rendered);
    text_or_null(x.recipient_id);
    text_or_null(x.last_error); // a skipped notification's reason
    // Pieces of ~256 KiB keep the buffer small for large batches.
    if (w.size() >= 256 * 1024)
      put(w.take());
  }
  if (refusal == nullptr) {
    w.finish();
    put(w.take());
  }
  if (PQputCopyEnd(conn, refusal) != 1)
    throw_copy_error(conn, nullptr, query);
  PGresult* failed = nullptr;
  while (PGresult* r = PQgetResult(conn)) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && failed == nullptr)
      failed = r;
    else
      PQclear(r);
  }
  if (failed != nullptr)
    throw_copy_error(conn, failed, query);
}

bool is_open_status(const std::string& status) {
  return status == "accepted" || status == "queued" || status == "sending"
         || status == "retry_scheduled";
}

} // namespace

void notification_store::insert(const std::vector<notification>& xs,
                                const lease_spec& lease, int64_t due_by_ms) {
  if (xs.empty())
    return;
  // The keys of the batch as parallel arrays for insert_keys.
  std::vector<std::string> key_tenants, keys, hashes, key_ids, key_created;
  for (const auto& x : xs)
    if (!x.idempotency_key.empty()) {
      key_tenants.push_back(x.tenant_id);
      keys.push_back(x.idempotency_key);
      hashes.push_back(x.idempotency_hash);
      key_ids.push_back(x.id);
      key_created.push_back(std::to_string(x.created_at_ms));
    }
  // A refusal by the primary key of idempotency_keys; other unique
  // violations (a duplicate id) are not about idempotency keys and stay
  // errors.
  auto key_taken = [](const pqxx::sql_error& e) {
    return e.sqlstate() == "23505"
           && std::string_view{e.what()}.find(sql::k_idempotency_index)
                != std::string_view::npos;
  };
  // Keys first: a taken key aborts the transaction before any row is sent.
  // The first statement also opens the transaction on the server, before
  // the COPY goes around libpqxx.
  auto write = [&](pqxx::work& tx) {
    auto r = keys.empty()
               ? tx.exec_prepared("db_now_ms")
               : tx.exec_prepared("insert_keys", text_array(key_tenants),
                                  text_array(keys), text_array(hashes),
                                  text_array(key_ids), text_array(key_created));
    copy_notifications(tx, xs, lease, due_by_ms, r[0][0].as<int64_t>());
    tx.commit();
  };
  db_.guarded("insert_notifications", [&] {
    // Keys are new in the common case: the rows go in at once. Only when
    // the primary key refuses one are keys past their retention released
    // (their notifications keep the record of the key) and the batch tried
    // again, so the release costs nothing on the hot path.
    try {
      pqxx::work tx{db_.conn()};
      write(tx);
      return;
    } catch (const pqxx::sql_error& e) {
      // The transaction is gone, nothing of the batch was written.
      if (!key_taken(e))
        throw;
    }
    try {
      pqxx::work tx{db_.conn()};
      auto released = tx.exec_prepared("release_expired_keys",
                                       text_array(key_tenants), text_array(keys));
      if (released.affected_rows() == 0)
        throw conflict_error("idempotency key already taken");
      write(tx);
    } catch (const pqxx::sql_error& e) {
      // The message names the key: not repeated here.
      if (key_taken(e))
        throw conflict_error("idempotency key already taken");
      throw;
    }
  });
}

std::optional<notification>
notification_store::get(const std::string& tenant_id, const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  return db_.guarded("get_notification", [&]() -> std::optional<notification> {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("get_notification", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    return row_to_notification(r[0]);
  });
}

notification_page notification_store::list(const notification_query& q) {
  // A cursor we never handed out cannot continue a listing.
  if (!q.cursor.empty() && !is_uuid(q.cursor))
    return {};
  const int32_t limit = std::max(1, std::min(q.limit, k_max_page));
  return db_.guarded("list_notifications", [&] {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("list_notifications", q.tenant_id, q.status,
                              q.channel, q.cursor, limit + 1);
    return page_of<notification_page>(r, limit, row_to_notification,
                                      [](const notification& n) { return n.id; });
  });
}

std::optional<std::vector<attempt>>
notification_store::attempts(const std::string& tenant_id,
                             const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  using result_type = std::optional<std::vector<attempt>>;
  return db_.guarded("list_attempts", [&]() -> result_type {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("list_attempts", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    std::vector<attempt> out;
    for (const auto& row : r) {
      if (!row[0].as<bool>())
        continue; // the notification exists but has no attempts yet
      attempt a;
      a.notification_id = id;
      a.number = row[1].as<int32_t>();
      a.at_ms = row[2].as<int64_t>();
      a.node = row[3].as<std::string>();
      a.provider = row[4].as<std::string>();
      a.outcome = row[5].as<std::string>();
      a.http_status = row[6].as<int32_t>();
      a.error = row[7].as<std::string>();
      a.duration_us = row[8].as<int64_t>();
      out.push_back(std::move(a));
    }
    return out;
  });
}

change_result notification_store::cancel(const std::string& tenant_id,
                                         const std::string& id,
                                         const std::string& reason,
                                         notification& out) {
  return db_.change_state("cancel_notification", "lock_notification",
                          is_open_status, tenant_id, id, reason, out);
}

std::vector<std::pair<std::string, int64_t>>
notification_store::count_by_status() {
  return db_.guarded("count_by_status", [&] {
    pqxx::read_transaction tx{db_.conn()};
    std::vector<std::pair<std::string, int64_t>> out;
    for (const auto& row : tx.exec_prepared("count_by_status"))
      out.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
    return out;
  });
}

} // namespace herald
