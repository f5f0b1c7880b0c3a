#include "actors/retry_scheduler.hpp"

#include <algorithm>
#include <chrono>

#include <caf/typed_event_based_actor.hpp>

#include "core/json_text.hpp"
#include "actors/config.hpp"

namespace herald {

namespace {

std::string state_json(const retry_scheduler_state& st) {
  int64_t next = 0;
  for (auto& [id, e] : st.held)
    if (next == 0 || e.due_ms < next)
      next = e.due_ms;
  return "{\"held\":" + std::to_string(st.held.size())
         + ",\"next_due_ms\":" + std::to_string(next)
         + ",\"scheduled\":" + std::to_string(st.scheduled)
         + ",\"fired\":" + std::to_string(st.fired)
         + ",\"cancelled\":" + std::to_string(st.cancelled) + "}";
}

} // namespace

retry_scheduler_actor::behavior_type
retry_scheduler(retry_scheduler_actor::stateful_pointer<retry_scheduler_state> self,
                dispatcher_actor dispatcher, std::string node) {
  self->state.dispatcher = std::move(dispatcher);
  self->state.node = std::move(node);
  return {
    [self](atom::inspect) -> actor_info {
      return describe(self, "retry-scheduler", "", self->state.node, state_json(self->state));
    },
    [self](atom::schedule, delivery_job& job, int64_t due_ms) {
      auto& st = self->state;
      auto id = job.n.id;
      auto gen = ++st.generation;
      ++st.scheduled;
      st.held[id] = {std::move(job), due_ms, gen};
      auto delay = std::chrono::milliseconds{std::max<int64_t>(due_ms - wall_ms(self), 0)};
      self->delayed_send(self, delay, atom::due_v, std::move(id), gen);
    },
    [self](atom::due, const std::string& id, int64_t gen) {
      auto& st = self->state;
      auto i = st.held.find(id);
      if (i == st.held.end() || i->second.generation != gen)
        return; // cancelled or scheduled again
      ++st.fired;
      std::vector<delivery_job> jobs{std::move(i->second.job)};
      st.held.erase(i);
      self->send(st.dispatcher, atom::due_v, std::move(jobs));
    },
    [self](atom::cancel, const std::string& id) {
      if (self->state.held.erase(id) > 0)
        ++self->state.cancelled;
    },
    [self](atom::drain) -> std::vector<delivery_job> {
      std::vector<delivery_job> out;
      out.reserve(self->state.held.size());
      for (auto& [id, e] : self->state.held)
        out.push_back(std::move(e.job));
      self->state.held.clear();
      return out;
    },
  };
}

} // namespace herald
