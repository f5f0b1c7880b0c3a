#pragma once

#include <caf/actor_system_config.hpp>

namespace herald {

/// The actor system configuration shared by the node and every test: it
/// registers Herald's type-ID block and error category, so message names on
/// the wire are identical everywhere.
class herald_actor_config : public caf::actor_system_config {
public:
  herald_actor_config();
};

} // namespace herald
