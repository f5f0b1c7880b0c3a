#pragma once

#include <string>
#include <vector>

namespace herald {

/// One schema migration, compiled in from persistence/migrations/NNNN_name.sql.
struct migration {
  int version;
  const char* name;
  const char* sql;
};

/// All migrations in ascending version order.
const std::vector<migration>& migrations();

} // namespace herald
