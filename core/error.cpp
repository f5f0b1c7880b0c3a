#include "core/error.hpp"

#include <caf/message.hpp>

namespace herald {

std::string to_string(ec x) {
  switch (x) {
    case ec::db_unavailable:
      return "db_unavailable";
    case ec::db_error:
      return "db_error";
    case ec::not_found:
      return "not_found";
    case ec::unauthorized:
      return "unauthorized";
    case ec::invalid_input:
      return "invalid_input";
    case ec::unavailable:
      return "unavailable";
    case ec::conflict:
      return "conflict";
  }
  return "unknown";
}

std::string error_detail(const caf::error& err) {
  const auto& ctx = err.context();
  if (ctx.size() == 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return {};
}

} // namespace herald
