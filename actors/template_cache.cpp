#include "actors/template_cache.hpp"

namespace herald {

std::shared_ptr<const compiled_template>
template_cache::find(const std::string& tenant, const std::string& code) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find({tenant, code});
  if (i == entries_.end())
    return nullptr;
  if (std::chrono::steady_clock::now() - i->second.at > ttl_) {
    entries_.erase(i);
    return nullptr;
  }
  return i->second.value;
}

std::shared_ptr<const compiled_template> template_cache::put(notification_template t) {
  auto c = std::make_shared<compiled_template>();
  c->locales = locales_from_json(t.locales);
  c->meta = std::move(t);
  std::lock_guard<std::mutex> guard{mtx_};
  if (entries_.size() >= max_entries_)
    entries_.clear(); // rare: many tenants' templates; all are read again
  entries_[{c->meta.tenant_id, c->meta.code}] = {c, std::chrono::steady_clock::now()};
  return c;
}

void template_cache::erase(const std::string& tenant, const std::string& code) {
  std::lock_guard<std::mutex> guard{mtx_};
  entries_.erase({tenant, code});
}

size_t template_cache::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return entries_.size();
}

} // namespace herald
