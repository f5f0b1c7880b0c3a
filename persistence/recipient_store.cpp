#include "persistence/recipient_store.hpp"

#include <pqxx/pqxx>

#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/recipients.hpp"

namespace herald {

namespace {

// Reads sql::k_recipient_columns.
recipient row_to_recipient(const pqxx::row& r) {
  recipient x;
  x.tenant_id = r[0].as<std::string>();
  x.id = r[1].as<std::string>();
  x.email = r[2].as<std::string>();
  x.phone = r[3].as<std::string>();
  x.locale = r[4].as<std::string>();
  x.timezone = r[5].as<std::string>();
  auto parser = r[6].as_array();
  for (auto step = parser.get_next(); step.first != pqxx::array_parser::done;
       step = parser.get_next())
    if (step.first == pqxx::array_parser::string_value)
      x.opt_out.push_back(std::move(step.second));
  x.devices = r[7].as<std::string>();
  x.created_at_ms = r[8].as<int64_t>();
  x.updated_at_ms = r[9].as<int64_t>();
  return x;
}

std::optional<recipient> first(const pqxx::result& r) {
  if (r.empty())
    return std::nullopt;
  return row_to_recipient(r[0]);
}

} // namespace

recipient recipient_store::put(const recipient& x) {
  return db_.guarded("put_recipient", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("put_recipient", x.tenant_id, x.id, x.email,
                              x.phone, x.locale, x.timezone,
                              detail::text_array(x.opt_out),
                              x.devices.empty() ? std::string{"[]"} : x.devices);
    tx.commit();
    auto out = row_to_recipient(r[0]);
    out.created = r[0][10].as<bool>();
    return out;
  });
}

std::optional<recipient> recipient_store::get(const std::string& tenant_id,
                                              const std::string& id) {
  return db_.guarded("get_recipient", [&] {
    pqxx::read_transaction tx{db_.conn()};
    return first(tx.exec_prepared("get_recipient", tenant_id, id));
  });
}

bool recipient_store::remove(const std::string& tenant_id, const std::string& id) {
  return db_.guarded("delete_recipient", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("delete_recipient", tenant_id, id);
    tx.commit();
    return r.affected_rows() > 0;
  });
}

std::optional<recipient> recipient_store::add_device(const std::string& tenant_id,
                                                     const std::string& id,
                                                     const std::string& device) {
  return db_.guarded("add_device", [&] {
    pqxx::work tx{db_.conn()};
    auto r = first(tx.exec_prepared("add_device", tenant_id, id, device));
    tx.commit();
    return r;
  });
}

std::optional<recipient>
recipient_store::remove_device(const std::string& tenant_id, const std::string& id,
                               const std::string& device_id) {
  return db_.guarded("remove_device", [&] {
    pqxx::work tx{db_.conn()};
    auto r = first(tx.exec_prepared("remove_device", tenant_id, id, device_id));
    tx.commit();
    return r;
  });
}

} // namespace herald
