#include "persistence/template_store.hpp"

#include <algorithm>

#include <pqxx/pqxx>

#include "persistence/detail/guarded.hpp"
#include "persistence/detail/rows.hpp"
#include "persistence/sql/templates.hpp"

namespace herald {

namespace {

// Reads sql::k_template_columns.
notification_template row_to_template(const pqxx::row& r) {
  notification_template t;
  t.tenant_id = r[0].as<std::string>();
  t.code = r[1].as<std::string>();
  t.version = r[2].as<int32_t>();
  t.latest = r[3].as<int32_t>();
  t.default_locale = r[4].as<std::string>();
  t.locales = r[5].as<std::string>();
  t.created_at_ms = r[6].as<int64_t>();
  t.archived = r[7].as<bool>();
  return t;
}

} // namespace

std::optional<notification_template>
template_store::insert_version(const notification_template& x,
                               const char* head_statement) {
  return db_.guarded(head_statement, [&]() -> std::optional<notification_template> {
    pqxx::work tx{db_.conn()};
    auto head = tx.exec_prepared(head_statement, x.tenant_id, x.code);
    if (head.empty())
      return std::nullopt;
    auto version = head[0][0].as<int32_t>();
    tx.exec_prepared("insert_template_version", x.tenant_id, x.code, version,
                     x.default_locale, x.locales);
    auto r = tx.exec_prepared("get_template", x.tenant_id, x.code, version);
    tx.commit();
    return row_to_template(r[0]);
  });
}

notification_template template_store::create(const notification_template& x) {
  auto t = insert_version(x, "create_template_head");
  if (!t)
    throw conflict_error("template " + x.code + " exists");
  return *t;
}

std::optional<notification_template>
template_store::publish(const notification_template& x) {
  return insert_version(x, "bump_template_head");
}

std::optional<notification_template>
template_store::get(const std::string& tenant_id, const std::string& code,
                    int32_t version) {
  return db_.guarded("get_template", [&]() -> std::optional<notification_template> {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("get_template", tenant_id, code, version);
    if (r.empty())
      return std::nullopt;
    return row_to_template(r[0]);
  });
}

template_page template_store::list(const std::string& tenant_id,
                                   const std::string& cursor, int32_t limit) {
  limit = std::max(1, std::min(limit, 200));
  return db_.guarded("list_templates", [&] {
    pqxx::read_transaction tx{db_.conn()};
    auto r = tx.exec_prepared("list_templates", tenant_id, cursor, limit + 1);
    return detail::page_of<template_page>(
      r, limit, row_to_template,
      [](const notification_template& t) { return t.code; });
  });
}

bool template_store::archive(const std::string& tenant_id,
                             const std::string& code) {
  return db_.guarded("archive_template", [&] {
    pqxx::work tx{db_.conn()};
    auto r = tx.exec_prepared("archive_template", tenant_id, code);
    tx.commit();
    return r.affected_rows() > 0;
  });
}

} // namespace herald
