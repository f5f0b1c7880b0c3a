#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"

namespace herald {

/// Spawns one sender (detached); the pool calls it again to replace a
/// sender that died.
using sender_factory = std::function<sender_actor(caf::local_actor*)>;

struct sender_pool_settings {
  std::string channel;
  int size = 16;
  caf::timespan call_timeout = std::chrono::seconds(15); // > provider timeout
};

struct sender_pool_state {
  static inline const char* name = "sender-pool";

  sender_pool_settings settings;
  dispatcher_actor dispatcher;
  sender_factory factory;
  std::deque<delivery_job> queue;                 // waiting for a sender
  /// Every sender ever spawned. Shared with the pool's exit hook: CAF 0.17
  /// destroys the state before attached functors run.
  std::shared_ptr<std::vector<sender_actor>> all;
  std::vector<sender_actor> idle;
  std::map<caf::actor_addr, delivery_job> busy;   // what each sender holds
  bool draining = false;
  caf::typed_response_promise<std::vector<delivery_job>> drain_rp;
  std::vector<delivery_job> unsent;               // handed back on drain
  uint64_t sent = 0;
  uint64_t sender_errors = 0;
  uint64_t restarts = 0;
};

/// A channel's pool of senders.
sender_pool_actor::behavior_type
sender_pool(sender_pool_actor::stateful_pointer<sender_pool_state> self,
            dispatcher_actor dispatcher, sender_factory factory,
            sender_pool_settings settings);

} // namespace herald
