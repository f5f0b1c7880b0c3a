#pragma once

// pg_store::guarded, for persistence's .cpp files only (it needs
// libpqxx, which pg_store.hpp keeps out of its users).

#include <memory>
#include <string>

#include <pqxx/pqxx>

#include "persistence/pg_store.hpp"

namespace herald {

namespace detail {

inline bool is_connectivity_state(const std::string& state) {
  // Class 08: connection exceptions; 57P01..03: admin / crash shutdown and
  // "cannot connect now" (starting up, recovering).
  return state.compare(0, 2, "08") == 0 || state == "57P01"
         || state == "57P02" || state == "57P03";
}

} // namespace detail

template <class F>
auto pg_store::guarded(const char* what, F&& f) -> decltype(f()) {
  auto unavailable = [&](const std::exception& e) {
    conn_.reset();
    return db_unavailable_error(std::string{what} + ": " + e.what());
  };
  try {
    return f();
  } catch (const pqxx::broken_connection& e) {
    throw unavailable(e);
  } catch (const pqxx::in_doubt_error& e) {
    // The commit may or may not have happened; the caller has to treat it
    // like an outage (and retry idempotently).
    throw unavailable(e);
  } catch (const pqxx::statement_completion_unknown& e) {
    throw unavailable(e);
  } catch (const pqxx::sql_error& e) {
    if (detail::is_connectivity_state(e.sqlstate()))
      throw unavailable(e);
    throw;
  }
}

} // namespace herald
