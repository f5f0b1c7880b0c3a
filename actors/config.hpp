#pragma once

#include <cstdint>
#include <functional>

#include <caf/actor_system_config.hpp>
#include <caf/fwd.hpp>

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

} // namespace herald
