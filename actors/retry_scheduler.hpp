#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "actors/actors.hpp"

namespace herald {

struct retry_scheduler_state {
  static inline const char* name = "retry-scheduler";

  struct entry {
    delivery_job job;
    int64_t due_ms = 0;
    int64_t generation = 0; // tells this timer from an earlier one of the id
  };

  dispatcher_actor dispatcher;
  std::string node;
  std::unordered_map<std::string, entry> held; // by notification id
  int64_t generation = 0;
  uint64_t scheduled = 0;
  uint64_t fired = 0;
  uint64_t cancelled = 0;
};

/// The retry scheduler of a node (actors.hpp). One CAF timer per job; a job
/// scheduled again replaces its earlier timer.
retry_scheduler_actor::behavior_type
retry_scheduler(retry_scheduler_actor::stateful_pointer<retry_scheduler_state> self,
                dispatcher_actor dispatcher, std::string node);

} // namespace herald
