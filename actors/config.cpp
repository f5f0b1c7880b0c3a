#include "actors/config.hpp"

#include <caf/actor_clock.hpp>
#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>
#include <caf/message.hpp>

#include "core/error.hpp"
#include "core/time.hpp"
#include "actors/type_ids.hpp"

namespace herald {

herald_actor_config::herald_actor_config() {
  add_message_types<caf::id_block::herald>();
  // The templated add_error_category<T> of 0.17.6 does not compile (it
  // passes a two-argument lambda where a three-argument renderer is needed).
  add_error_category(ec_category, [](uint8_t code, caf::atom_value,
                                     const caf::message& ctx) {
    std::string result = "herald: ";
    result += to_string(static_cast<ec>(code));
    if (ctx.size() == 1 && ctx.match_element<std::string>(0)) {
      result += " (";
      result += ctx.get_as<std::string>(0);
      result += ")";
    }
    return result;
  });
  wall_clock = [] { return now_ms(); };
}

void herald_actor_config::follow_actor_clock(const caf::actor_clock& clock,
                                             int64_t start_ms) {
  auto start = clock.now();
  wall_clock = [&clock, start, start_ms] {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      clock.now() - start);
    return start_ms + elapsed.count();
  };
}

int64_t wall_ms(const caf::local_actor* self) {
  auto* cfg = dynamic_cast<const herald_actor_config*>(&self->system().config());
  return cfg != nullptr && cfg->wall_clock ? cfg->wall_clock() : now_ms();
}

} // namespace herald
