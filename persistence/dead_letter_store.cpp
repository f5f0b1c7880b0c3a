#include "persistence/dead_letter_store.hpp"

#include <algorithm>

#include <pqxx/pqxx>

#include "core/ids.hpp"
#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/dead_letters.hpp"

namespace herald {

namespace {

using detail::k_max_page;
using detail::page_of;
using detail::row_to_notification;

// Reads sql::k_notification_columns followed by sql::k_dead_letter_columns.
dead_letter row_to_dead_letter(const pqxx::row& r) {
  dead_letter d;
  d.n = row_to_notification(r);
  const auto at = sql::k_notification_column_count;
  d.provider = r[at].as<std::string>();
  d.reason = r[at + 1].as<std::string>();
  d.last_error = r[at + 2].as<std::string>();
  d.attempts = r[at + 3].as<int32_t>();
  d.dead_at_ms = r[at + 4].as<int64_t>();
  d.state = r[at + 5].as<std::string>();
  d.updated_at_ms = r[at + 6].as<int64_t>();
  return d;
}

bool is_parked(const std::string& state) {
  return state == "parked";
}

} // namespace

dlq_page dead_letter_store::list(const dlq_query& q) {
  if (!q.cursor.empty() && !is_uuid(q.cursor))
    return {};
  const int32_t limit = std::max(1, std::min(q.limit, k_max_page));
  return db_.guarded("list_dead_letters", [&] {
    pqxx::read_transaction tx{db_.conn()};
    // No tenant: the admin endpoint's view of every tenant.
    auto r = q.tenant_id.empty()
               ? tx.exec_prepared("list_all_dead_letters", q.state, q.channel,
                                  q.provider, q.cursor, limit + 1)
               : tx.exec_prepared("list_dead_letters", q.tenant_id, q.state,
                                  q.channel, q.provider, q.cursor, limit + 1);
    return page_of<dlq_page>(r, limit, row_to_dead_letter,
                             [](const dead_letter& d) { return d.n.id; });
  });
}

std::optional<dead_letter> dead_letter_store::get(const std::string& tenant_id,
                                                  const std::string& id) {
  if (!is_uuid(id))
    return std::nullopt;
  return db_.guarded("get_dead_letter", [&]() -> std::optional<dead_letter> {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("get_dead_letter", tenant_id, id);
    if (r.empty())
      return std::nullopt;
    auto d = row_to_dead_letter(r[0]);
    for (const auto& row : tx.exec_prepared("list_events", tenant_id, id))
      d.events.push_back(status_event{row[0].as<int64_t>(),
                                      row[1].as<std::string>(),
                                      row[2].as<std::string>(),
                                      row[3].as<std::string>()});
    return d;
  });
}

change_result dead_letter_store::retry(const std::string& tenant_id,
                                       const std::string& id,
                                       const std::string& reason,
                                       notification& out) {
  return db_.change_state("retry_dead_letter", "lock_dead_letter", is_parked,
                          tenant_id, id, reason, out);
}

change_result dead_letter_store::discard(const std::string& tenant_id,
                                         const std::string& id,
                                         const std::string& reason,
                                         notification& out) {
  return db_.change_state("discard_dead_letter", "lock_dead_letter", is_parked,
                          tenant_id, id, reason, out);
}

replay_result dead_letter_store::replay(const replay_request& r) {
  const int32_t limit = std::max(1, std::min(r.limit, 100000));
  const int32_t rate = std::max(1, std::min(r.rate_per_sec, 100000));
  return db_.guarded("replay_dead_letters", [&] {
    pqxx::work tx{db_.conn()};
    auto row = tx.exec_prepared1("replay_dead_letters", r.tenant_id, r.channel,
                                 r.provider, r.from_ms, r.to_ms, limit, rate,
                                 r.reason);
    tx.commit();
    replay_result out;
    out.count = row[0].as<int64_t>();
    out.first_due_ms = row[1].as<int64_t>();
    out.last_due_ms = row[2].as<int64_t>();
    return out;
  });
}

} // namespace herald
