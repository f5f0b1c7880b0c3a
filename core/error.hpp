#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/is_error_code_enum.hpp>
#include <caf/make_message.hpp>

namespace herald {

/// Herald's error codes: what callers across actor boundaries must tell apart.
enum class ec : uint8_t {
  /// PostgreSQL cannot be reached (answer 503 + Retry-After).
  db_unavailable = 1,
  /// A statement failed for a reason other than connectivity.
  db_error,
  /// No such entity, or it belongs to another tenant (answer 404).
  not_found,
  /// The API key is unknown, malformed or revoked (answer 401).
  unauthorized,
  /// The request is well-formed but its content is invalid (answer 422).
  invalid_input,
  /// The node is shutting down or overloaded (answer 503).
  unavailable,
  /// A conflict with the current state (answer 409).
  conflict,
};

std::string to_string(ec x);

/// The category atom under which Herald's errors are registered.
constexpr caf::atom_value ec_category = caf::atom("herald");

inline caf::error make_error(ec x, std::string context = {}) {
  if (context.empty())
    return {static_cast<uint8_t>(x), ec_category};
  return {static_cast<uint8_t>(x), ec_category,
          caf::make_message(std::move(context))};
}

/// True if `err` carries Herald code `x`.
inline bool is(const caf::error& err, ec x) {
  return err.category() == ec_category && err.code() == static_cast<uint8_t>(x);
}

/// The context string of a Herald error, or "" (for problem+json `detail`).
std::string error_detail(const caf::error& err);

} // namespace herald

CAF_ERROR_CODE_ENUM(herald::ec)
