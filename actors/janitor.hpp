#pragma once

#include "actors/actors.hpp"

namespace herald {

struct janitor_state {
  static inline const char* name = "janitor";
  store_actor store;
  caf::timespan interval{std::chrono::minutes(1)};
  bool running = false;
  uint64_t runs = 0;
  uint64_t purged = 0;
  uint64_t errors = 0;
};

/// Asks the store to forget expired idempotency keys every `interval`.
janitor_actor::behavior_type
janitor(janitor_actor::stateful_pointer<janitor_state> self, store_actor store,
        caf::timespan interval);

} // namespace herald
