#include "actors/janitor.hpp"

#include "actors/config.hpp"

#include <caf/typed_event_based_actor.hpp>

#include "core/log.hpp"

namespace herald {

janitor_actor::behavior_type
janitor(janitor_actor::stateful_pointer<janitor_state> self, store_actor store,
        caf::timespan interval) {
  self->state.store = std::move(store);
  self->state.interval = interval;
  self->delayed_send(self, interval, atom::purge_v);
  return {
    [self](atom::inspect) -> actor_info {
      auto& st = self->state;
      return describe(self, "janitor", "", "",
              "{\"runs\":" + std::to_string(st.runs) + ",\"purged\":"
                + std::to_string(st.purged) + ",\"errors\":"
                + std::to_string(st.errors) + "}");
    },
    [self](atom::purge) {
      auto& st = self->state;
      self->delayed_send(self, st.interval, atom::purge_v);
      if (st.running)
        return;
      st.running = true;
      // Purging runs in batches inside the store; give it time.
      self->request(st.store, std::chrono::minutes(5), atom::purge_v)
        .then(
          [self](int64_t n) {
            auto& st = self->state;
            st.running = false;
            ++st.runs;
            st.purged += static_cast<uint64_t>(n);
            if (n > 0)
              HERALD_LOG(info, "janitor", "forgot ", n,
                         " expired idempotency keys");
          },
          [self](caf::error& err) {
            auto& st = self->state;
            st.running = false;
            ++st.errors;
            HERALD_LOG(warn, "janitor", "purge failed: ",
                       self->system().render(err));
          });
    },
  };
}

} // namespace herald
