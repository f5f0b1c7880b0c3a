#include "http/bridge.hpp"

namespace herald {

pooled_actor::~pooled_actor() {
  if (pool_ != nullptr && self_ != nullptr && !spoiled_)
    pool_->give_back(std::move(self_));
}

pooled_actor bridge_pool::acquire() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!idle_.empty()) {
      auto self = std::move(idle_.back());
      idle_.pop_back();
      return pooled_actor{this, std::move(self)};
    }
  }
  return pooled_actor{this, std::make_unique<caf::scoped_actor>(sys_)};
}

size_t bridge_pool::idle() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return idle_.size();
}

void bridge_pool::give_back(std::unique_ptr<caf::scoped_actor> self) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (idle_.size() < max_idle_) {
    idle_.push_back(std::move(self));
    return;
  }
  guard.unlock(); // destroyed outside the lock
}

} // namespace herald
