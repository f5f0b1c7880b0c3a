#include "persistence/tenant_store.hpp"

#include <pqxx/pqxx>

#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/tenants.hpp"

namespace herald {

namespace {

using detail::text_array;

std::vector<std::string> parse_text_array(const pqxx::field& f) {
  std::vector<std::string> out;
  if (f.is_null())
    return out;
  auto parser = f.as_array();
  for (auto step = parser.get_next(); step.first != pqxx::array_parser::done;
       step = parser.get_next())
    if (step.first == pqxx::array_parser::string_value)
      out.push_back(std::move(step.second));
  return out;
}

// Reads the sql::k_tenant_columns starting at column `at`.
tenant row_to_tenant(const pqxx::row& r, pqxx::row::size_type at = 0) {
  tenant t;
  t.id = r[at].as<std::string>();
  t.name = r[at + 1].as<std::string>();
  t.rate_per_sec = r[at + 2].as<int32_t>();
  t.burst = r[at + 3].as<int32_t>();
  t.channels = parse_text_array(r[at + 4]);
  t.webhook_secret = r[at + 5].as<std::string>();
  t.created_at_ms = r[at + 6].as<int64_t>();
  t.updated_at_ms = r[at + 7].as<int64_t>();
  t.idempotency_retention_hours = r[at + 8].as<int32_t>();
  t.email_from = r[at + 9].as<std::string>();
  t.email_reply_to = r[at + 10].as<std::string>();
  return t;
}

} // namespace

tenant_put_result tenant_store::put(const tenant& x) {
  return db_.guarded("put_tenant", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("put_tenant", x.id, x.name, x.rate_per_sec,
                              x.burst, text_array(x.channels),
                              x.webhook_secret, x.idempotency_retention_hours,
                              x.email_from, x.email_reply_to);
    tx.commit();
    tenant_put_result out;
    out.value = row_to_tenant(r[0]);
    out.created = r[0][11].as<bool>();
    return out;
  });
}

std::optional<tenant> tenant_store::get(const std::string& id) {
  return db_.guarded("get_tenant", [&]() -> std::optional<tenant> {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("get_tenant", id);
    if (r.empty())
      return std::nullopt;
    return row_to_tenant(r[0]);
  });
}

bool tenant_store::create_key(const std::string& tenant_id,
                              const std::string& key_id,
                              const std::string& key_hash) {
  return db_.guarded("create_key", [&] {
    try {
      pqxx::work tx{db_.conn()};
      auto r = tx.exec_prepared("create_key", key_id, tenant_id, key_hash);
      tx.commit();
      return r.affected_rows() == 1;
    } catch (const pqxx::foreign_key_violation&) {
      return false; // the tenant was deleted between the check and the insert
    }
  });
}

bool tenant_store::revoke_key(const std::string& tenant_id,
                              const std::string& key_id) {
  return db_.guarded("revoke_key", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("revoke_key", key_id, tenant_id);
    tx.commit();
    return r.affected_rows() == 1;
  });
}

std::optional<key_record> tenant_store::lookup_key(const std::string& key_id) {
  return db_.guarded("lookup_key", [&]() -> std::optional<key_record> {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("lookup_key", key_id);
    if (r.empty())
      return std::nullopt;
    key_record k;
    k.key_id = r[0][0].as<std::string>();
    k.key_hash = r[0][1].as<std::string>();
    k.revoked = r[0][2].as<bool>();
    k.owner = row_to_tenant(r[0], 3);
    return k;
  });
}

} // namespace herald
