#include "actors/config.hpp"

#include <caf/message.hpp>

#include "core/error.hpp"
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
}

} // namespace herald
