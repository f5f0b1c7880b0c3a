#pragma once

#include <optional>
#include <string>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Templates: a head per (tenant, code) with its latest version and
/// whether it is archived, and immutable versions. Part of a pg_store
/// (db.templates()); statements in persistence/sql/templates.hpp.
class template_store {
public:
  explicit template_store(pg_store& db) : db_(db) {
  }

  /// Version 1 of a new code (or the next version of an archived one, which
  /// comes back); throws conflict_error if the code is live already.
  notification_template create(const notification_template& x);

  /// The next version of a live code; nullopt if there is none.
  std::optional<notification_template> publish(const notification_template& x);

  /// One version (0 = the latest) of a live code.
  std::optional<notification_template> get(const std::string& tenant_id,
                                           const std::string& code,
                                           int32_t version);

  /// The latest versions of a tenant's live codes after `cursor` (a code).
  template_page list(const std::string& tenant_id, const std::string& cursor,
                     int32_t limit);

  /// Archives a live code; false if there is none.
  bool archive(const std::string& tenant_id, const std::string& code);

private:
  std::optional<notification_template>
  insert_version(const notification_template& x, const char* head_statement);

  pg_store& db_;
};

} // namespace herald
