#include "persistence/idempotency_store.hpp"

#include <pqxx/pqxx>

#include "persistence/detail/guarded.hpp"

namespace herald {

std::optional<idem_record>
idempotency_store::lookup(const std::string& tenant_id,
                          const std::string& key) {
  if (key.empty())
    return std::nullopt; // "" is how a row says "no key"
  using result_type = std::optional<idem_record>;
  return db_.guarded("lookup_idempotency", [&]() -> result_type {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("lookup_idempotency", tenant_id, key);
    if (r.empty())
      return std::nullopt;
    idem_record rec;
    rec.request_hash = r[0][0].as<std::string>();
    rec.notification_id = r[0][1].as<std::string>();
    rec.expires_at_ms = r[0][2].as<int64_t>();
    return rec;
  });
}

int64_t idempotency_store::purge(int batch, int max_batches) {
  if (batch <= 0)
    return 0;
  int64_t total = 0;
  for (int i = 0; max_batches <= 0 || i < max_batches; ++i) {
    auto n = db_.guarded("purge_idempotency", [&] {
      pqxx::work tx{db_.conn()};
      auto r = tx.exec_prepared("purge_idempotency", batch);
      tx.commit();
      return static_cast<int64_t>(r.affected_rows());
    });
    total += n;
    if (n < batch)
      break;
  }
  return total;
}

} // namespace herald
