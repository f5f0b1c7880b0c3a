#pragma once

#include <optional>
#include <string>

#include "core/messages.hpp"
#include "persistence/store_types.hpp"

namespace herald {

/// Recipients of a tenant. Part of a pg_store (db.recipients());
/// statements in persistence/sql/recipients.hpp.
class recipient_store {
public:
  explicit recipient_store(pg_store& db) : db_(db) {
  }

  /// Creates or replaces a profile; the stored one (`created`: it is new).
  recipient put(const recipient& x);

  std::optional<recipient> get(const std::string& tenant_id, const std::string& id);

  /// False if there was no such recipient.
  bool remove(const std::string& tenant_id, const std::string& id);

  /// Adds (or replaces, by its "id") a device given as a JSON object text;
  /// nullopt if there is no such recipient.
  std::optional<recipient> add_device(const std::string& tenant_id,
                                      const std::string& id,
                                      const std::string& device);

  /// Removes a device by id; nullopt if there is no such recipient or device.
  std::optional<recipient> remove_device(const std::string& tenant_id,
                                         const std::string& id,
                                         const std::string& device_id);

private:
  pg_store& db_;
};

} // namespace herald
