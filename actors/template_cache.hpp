#pragma once

// The node's cache of templates (latest versions, parsed), read by the API
// server's threads when they render a submission, so a submission does not
// cost a database read. Entries go when a version is published or the code
// archived: on this node at once, on the other nodes when the cluster actor
// passes the invalidation on (atom::invalidate); an entry older than the
// TTL is read again in any case, should an invalidation be lost in a
// partition. Thread-safe (one mutex; look-ups are short).

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "core/messages.hpp"
#include "core/template_render.hpp"

namespace herald {

/// A template version ready to render.
struct compiled_template {
  notification_template meta; // code, version, default locale (locales text too)
  template_locales locales;
};

class template_cache {
public:
  explicit template_cache(std::chrono::milliseconds ttl = std::chrono::seconds(5),
                          size_t max_entries = 10000)
    : ttl_(ttl), max_entries_(max_entries) {
  }

  /// The cached latest version of (tenant, code), or nullptr.
  std::shared_ptr<const compiled_template> find(const std::string& tenant,
                                                const std::string& code);

  /// Caches `t` (parsing its locales) and returns it.
  std::shared_ptr<const compiled_template> put(notification_template t);

  void erase(const std::string& tenant, const std::string& code);

  size_t size() const;

private:
  struct entry {
    std::shared_ptr<const compiled_template> value;
    std::chrono::steady_clock::time_point at;
  };
  std::chrono::milliseconds ttl_;
  size_t max_entries_;
  mutable std::mutex mtx_;
  std::map<std::pair<std::string, std::string>, entry> entries_;
};

} // namespace herald
