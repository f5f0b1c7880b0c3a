#pragma once

// A scriptable sender for unit tests of the provider supervisor and the
// sender pool under CAF's deterministic test coordinator. What it does with
// a job is decided by the job's body:
//   "ok" (or anything else)  delivered (HTTP 200)
//   "fail"                   failed, retryable (HTTP 503)
//   "perm"                   failed, permanent (HTTP 400)
//   "crash"                  throws in its handler (the sender dies)
//   "hold"                   answers on `flush` (see release)
// and `crashes[id]` / `hangs[id]` make the next N calls for a job crash or
// hang (never answer) before it behaves as its body says.

#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/optional.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include "actors/actors.hpp"
#include "channels/webhook_client.hpp"

namespace herald::test {

/// What the fake senders do and saw, shared by all of them.
struct sender_script;

/// A sender that also answers its held calls on `flush` (a response
/// promise can only be delivered from inside its actor).
using fake_sender_actor = sender_actor::extend<caf::reacts_to<atom::flush>>;

struct sender_script {
  int spawned = 0;
  int calls = 0;
  int holding = 0; // "hold" calls not answered yet
  std::vector<std::string> seen; // job ids, in call order
  std::map<std::string, int> crashes;
  std::map<std::string, int> hangs;
  std::vector<fake_sender_actor> senders; // every sender spawned
};

struct fake_sender_state {
  static inline const char* name = "fake-sender";
  std::vector<caf::typed_response_promise<attempt_report>> never; // hung
  std::vector<std::pair<caf::typed_response_promise<attempt_report>,
                        attempt_report>>
    held; // "hold" calls, answered on flush
};

inline bool take(std::map<std::string, int>& counts, const std::string& id) {
  auto i = counts.find(id);
  if (i == counts.end() || i->second <= 0)
    return false;
  --i->second;
  return true;
}

inline fake_sender_actor::behavior_type
fake_sender(fake_sender_actor::stateful_pointer<fake_sender_state> self,
            std::shared_ptr<sender_script> script) {
  return {
    [self, script](atom::deliver,
                   const delivery_job& job) -> caf::result<attempt_report> {
      ++script->calls;
      script->seen.push_back(job.n.id);
      auto& cmd = job.n.body;
      if (take(script->crashes, job.n.id) || cmd == "crash")
        throw std::runtime_error("fake sender crashed");
      if (take(script->hangs, job.n.id)) {
        auto rp = self->make_response_promise<attempt_report>();
        self->state.never.push_back(rp);
        return rp;
      }
      attempt_report out;
      out.id = job.n.id;
      out.tenant_id = job.n.tenant_id;
      out.fence = job.fence;
      out.provider = endpoint_of(job.n.to).value_or("");
      out.outcome = attempt_result::delivered;
      out.http_status = 200;
      if (cmd == "fail") {
        out.outcome = attempt_result::failed;
        out.http_status = 503;
        out.retryable = true;
        out.error = "HTTP 503";
      } else if (cmd == "perm") {
        out.outcome = attempt_result::failed;
        out.http_status = 400;
        out.error = "HTTP 400";
      } else if (cmd == "hold") {
        auto rp = self->make_response_promise<attempt_report>();
        self->state.held.emplace_back(rp, std::move(out));
        ++script->holding;
        return rp;
      }
      return out;
    },
    [self, script](atom::flush) {
      auto held = std::move(self->state.held);
      self->state.held.clear();
      for (auto& [rp, out] : held) {
        --script->holding;
        rp.deliver(std::move(out));
      }
    },
  };
}

/// A factory spawning fake senders that follow `script`.
inline auto fake_sender_factory(std::shared_ptr<sender_script> script) {
  return [script](caf::local_actor* parent) {
    ++script->spawned;
    auto s = parent->spawn(fake_sender, script);
    script->senders.push_back(s);
    return s;
  };
}

/// Answers the held calls of every sender (run the coordinator after).
template <class Self>
void release(Self& self, const sender_script& script) {
  for (auto& s : script.senders)
    self->send(s, atom::flush_v);
}

/// A job to `endpoint` (e.g. "http://a:1") whose body is the fake sender's
/// command.
inline delivery_job scripted_job(const std::string& id,
                                 const std::string& endpoint,
                                 const std::string& cmd = "ok") {
  delivery_job j;
  j.n.id = id;
  j.n.tenant_id = "t1";
  j.n.channel = "webhook";
  j.n.to = endpoint + "/hook";
  j.n.body = cmd;
  j.fence = 7;
  return j;
}

/// How a watched actor ended.
struct down_record {
  bool down = false;
  caf::error reason;
};

/// Monitors `hdl` from a helper actor, kept alive in `keep` (an actor
/// nobody holds a handle to is destroyed).
template <class Handle>
std::shared_ptr<down_record> watch(caf::actor_system& sys, const Handle& hdl,
                                   std::vector<caf::actor>& keep) {
  auto rec = std::make_shared<down_record>();
  keep.push_back(sys.spawn([rec, hdl](caf::event_based_actor* w) -> caf::behavior {
    w->monitor(hdl);
    w->set_down_handler([rec, w](caf::down_msg& msg) {
      rec->down = true;
      rec->reason = msg.reason;
      w->quit();
    });
    return {[](int32_t) {}};
  }));
  return rec;
}

/// Sends a request from a helper actor; the answer (if any) lands in the
/// result once the coordinator has run.
template <class T, class Handle, class... Ts>
std::shared_ptr<caf::optional<T>> ask(caf::actor_system& sys, Handle hdl,
                                      Ts... xs) {
  auto res = std::make_shared<caf::optional<T>>();
  sys.spawn([res, hdl, xs...](caf::event_based_actor* client) {
    client->request(hdl, caf::infinite, xs...).then([res](T& x) {
      *res = std::move(x);
    });
  });
  return res;
}

} // namespace herald::test
