#include "actors/sender_pool.hpp"

#include <caf/typed_event_based_actor.hpp>

#include "actors/error.hpp"
#include "actors/log.hpp"
#include "http/codec.hpp"

namespace herald {

namespace {

using pool_ptr = sender_pool_actor::stateful_pointer<sender_pool_state>;

void maybe_finish_drain(pool_ptr self) {
  auto& st = self->state;
  if (st.draining && st.busy.empty() && st.drain_rp.pending())
    st.drain_rp.deliver(std::move(st.unsent));
}

/// Gives queued jobs to idle senders.
void pump(pool_ptr self) {
  auto& st = self->state;
  while (!st.draining && !st.idle.empty() && !st.queue.empty()) {
    auto sender = st.idle.back();
    st.idle.pop_back();
    auto job = std::move(st.queue.front());
    st.queue.pop_front();
    auto addr = sender.address();
    st.busy.emplace(addr, job);
    self->request(sender, st.settings.call_timeout, atom::deliver_v, job)
      .then(
        [self, sender, addr](delivery_outcome& out) {
          auto& st = self->state;
          st.busy.erase(addr);
          ++st.sent;
          self->send(st.dispatcher, atom::outcome_v, std::move(out));
          st.idle.push_back(sender);
          pump(self);
          maybe_finish_drain(self);
        },
        [self, sender, addr](caf::error& err) {
          // The sender died or hung past its deadline. What it held is known
          // here, so the attempt is recorded as failed rather than lost.
          auto& st = self->state;
          ++st.sender_errors;
          auto i = st.busy.find(addr);
          if (i != st.busy.end()) {
            delivery_outcome out;
            out.id = i->second.n.id;
            out.tenant_id = i->second.n.tenant_id;
            out.fence = i->second.fence;
            out.outcome = "failed";
            out.error = "sender failed: " + self->system().render(err);
            out.started_at_ms = now_ms();
            self->send(st.dispatcher, atom::outcome_v, std::move(out));
            st.busy.erase(i);
          }
          HERALD_LOG(warn, "sender-pool", st.settings.channel,
                     ": sender failed, replacing it: ",
                     self->system().render(err));
          ++st.restarts;
          // A hung sender ends once its blocking call returns.
          self->send_exit(sender, caf::exit_reason::user_shutdown);
          auto replacement = st.factory(self);
          st.all->push_back(replacement);
          st.idle.push_back(replacement);
          pump(self);
          maybe_finish_drain(self);
        });
  }
}

std::string state_json(const sender_pool_state& st) {
  return "{\"channel\":\"" + st.settings.channel + "\",\"size\":"
         + std::to_string(st.settings.size)
         + ",\"queued\":" + std::to_string(st.queue.size())
         + ",\"busy\":" + std::to_string(st.busy.size())
         + ",\"idle\":" + std::to_string(st.idle.size())
         + ",\"sent\":" + std::to_string(st.sent)
         + ",\"sender_errors\":" + std::to_string(st.sender_errors)
         + ",\"restarts\":" + std::to_string(st.restarts) + "}";
}

} // namespace

sender_pool_actor::behavior_type
sender_pool(sender_pool_actor::stateful_pointer<sender_pool_state> self,
            dispatcher_actor dispatcher, sender_factory factory,
            sender_pool_settings settings) {
  auto& st = self->state;
  st.dispatcher = std::move(dispatcher);
  st.factory = std::move(factory);
  st.settings = std::move(settings);
  st.all = std::make_shared<std::vector<sender_actor>>();
  for (int i = 0; i < st.settings.size; ++i)
    st.all->push_back(st.factory(self));
  st.idle = *st.all;
  // Stops the senders with the pool. Must not touch self->state (gone by
  // then), nor send as `self`: anonymous exit messages.
  self->attach_functor([all = st.all] {
    for (auto& s : *all)
      caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
  });
  return {
    [self](atom::inspect) -> actor_info {
      return {"sender-pool", self->state.settings.channel, "",
              state_json(self->state)};
    },
    [self](atom::deliver, delivery_job& job) {
      auto& st = self->state;
      if (st.draining) {
        st.unsent.push_back(std::move(job));
        return;
      }
      st.queue.push_back(std::move(job));
      pump(self);
    },
    [](atom::outcome, const delivery_outcome&) {},
    [](atom::breakers) -> std::vector<breaker_info> { return {}; },
    [](atom::reset, const std::string&) -> bool { return false; },
    [self](atom::drain) -> caf::result<std::vector<delivery_job>> {
      auto& st = self->state;
      auto rp = self->make_response_promise<std::vector<delivery_job>>();
      st.draining = true;
      st.drain_rp = rp;
      for (auto& j : st.queue)
        st.unsent.push_back(std::move(j));
      st.queue.clear();
      maybe_finish_drain(self);
      return rp;
    },
  };
}

} // namespace herald
