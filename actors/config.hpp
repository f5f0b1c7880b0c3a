#pragma once

#include <cstdint>
#include <functional>

#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/fwd.hpp>

#include "core/messages.hpp"

namespace herald {

/// The actor system configuration shared by the node and every test: it
/// registers Herald's type-ID block and error category, so message names on
/// the wire are identical everywhere.
class herald_actor_config : public caf::actor_system_config {
public:
  herald_actor_config();

  /// The one wall clock of the actors (Unix epoch ms), read through
  /// wall_ms(self) for timestamps, due times and expiries; elapsed time and
  /// timers come from the actor clock. The node's is the system clock; a
  /// test under CAF's test coordinator ties it to the coordinator's clock
  /// (follow_actor_clock), so advance_time() moves both.
  std::function<int64_t()> wall_clock;

  /// Ties wall_clock to `clock` (a test coordinator's): the wall time is
  /// `start_ms` when the actor clock reads what it reads now.
  void follow_actor_clock(const caf::actor_clock& clock, int64_t start_ms);
};

/// Wall-clock time (Unix epoch ms) as `self`'s actor system tells it: the
/// injected herald_actor_config::wall_clock, else the system clock.
int64_t wall_ms(const caf::local_actor* self);

/// What an actor tells the admin endpoint about itself (its inspect
/// answer): kind, key, node ("" = this node), state (a JSON object as
/// text), with its id and the messages waiting in its mailbox. Called from
/// the actor's own handler, the only place its mailbox may be read.
template <class Self>
actor_info describe(Self* self, std::string kind, std::string key,
                    std::string node, std::string state,
                    int64_t restarts = 0) {
  actor_info x;
  x.kind = std::move(kind);
  x.key = std::move(key);
  x.node = std::move(node);
  x.state = std::move(state);
  x.id = static_cast<int64_t>(self->id());
  x.mailbox = static_cast<int64_t>(self->mailbox().size());
  x.restarts = restarts;
  return x;
}

} // namespace herald
