#pragma once

// Calling actors from httplib's handler threads (never CAF scheduler
// threads), always with a finite timeout; errors are answered with
// reply_error.
//
// The hot handlers borrow their blocking actor from a bridge_pool rather
// than creating a scoped actor per request, and bound every wait with the
// blocking actor's own timed wait (`after`) rather than a request timeout.
// In CAF 0.17 both alternatives cost the clock thread work: a request
// timeout is two events (set, then cancel on the answer) and the end of a
// scoped actor one more (its timeouts cancelled), each a lock and a wake-up
// of that thread. A micro-benchmark here (4 threads, trivial echo actor):
// scoped actor + timed request 47-50k calls/s, the clock thread ~0.35 s of
// CPU per 100k calls; pooled actor + `after` 66-75k/s, the clock idle.

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/after.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/detail/typed_actor_util.hpp>
#include <caf/duration.hpp>
#include <caf/expected.hpp>
#include <caf/response_handle.hpp>
#include <caf/sec.hpp>
#include <caf/scoped_actor.hpp>

#include "http/problem.hpp"

namespace herald {

class bridge_pool;

/// A blocking actor borrowed from a bridge_pool for the calls of one HTTP
/// request; it goes back when this handle goes out of scope, unless a call
/// through it timed out: the late answer would land in its mailbox, so such
/// an actor is destroyed instead.
class pooled_actor {
public:
  pooled_actor(bridge_pool* pool, std::unique_ptr<caf::scoped_actor> self)
    : pool_(pool), self_(std::move(self)) {
  }

  pooled_actor(pooled_actor&& other) noexcept
    : pool_(other.pool_), self_(std::move(other.self_)),
      spoiled_(other.spoiled_) {
    other.pool_ = nullptr;
  }

  pooled_actor(const pooled_actor&) = delete;
  pooled_actor& operator=(const pooled_actor&) = delete;
  pooled_actor& operator=(pooled_actor&&) = delete;

  ~pooled_actor();

  caf::blocking_actor* operator->() const {
    return self_->ptr();
  }

  /// Not reused: a call through it timed out.
  void spoil() {
    spoiled_ = true;
  }

private:
  bridge_pool* pool_;
  std::unique_ptr<caf::scoped_actor> self_;
  bool spoiled_ = false;
};

/// Idle blocking actors for the handler threads. Destroy it before the
/// actor system (it is a member of the HTTP server, which main destroys
/// first).
class bridge_pool {
public:
  /// Keeps at most `max_idle` actors between requests (one per handler
  /// thread is all a steady load needs).
  explicit bridge_pool(caf::actor_system& sys, size_t max_idle = 1024)
    : sys_(sys), max_idle_(max_idle) {
  }

  bridge_pool(const bridge_pool&) = delete;
  bridge_pool& operator=(const bridge_pool&) = delete;

  /// An idle actor, or a new one.
  pooled_actor acquire();

  /// Actors waiting to be borrowed.
  size_t idle() const;

private:
  friend class pooled_actor;

  void give_back(std::unique_ptr<caf::scoped_actor> self);

  caf::actor_system& sys_;
  size_t max_idle_;
  mutable std::mutex mtx_;
  std::vector<std::unique_ptr<caf::scoped_actor>> idle_;
};

/// What a timeout does to the actor that waited: a scoped actor of one
/// request ends with it anyway; a pooled one is not reused.
inline void note_timeout(caf::scoped_actor&) {
  // nop
}

inline void note_timeout(pooled_actor& self) {
  self.spoil();
}

/// What a request to a handle answers: caf::message for untyped actors.
template <class ResponseHandle>
struct response_output;

template <class S, class Output, bool IsBlocking>
struct response_output<caf::response_handle<S, Output, IsBlocking>> {
  using type = Output;
};

/// Requests `xs...` from `hdl` as `self` (a caf::scoped_actor or a
/// pooled_actor) and waits at most `timeout`: calls `on_ok` with the answer
/// (of type `Answer`) or `on_err` with the error, sec::request_timeout if
/// none came in time.
template <class Answer, class Self, class Handle, class OnOk, class OnErr,
          class... Ts>
void request_within(Self& self, caf::timespan timeout, const Handle& hdl,
                    OnOk on_ok, OnErr on_err, Ts&&... xs) {
  // No request timeout (no clock event): the wait below is the bound.
  auto answer = self->request(hdl, caf::infinite, std::forward<Ts>(xs)...);
  auto ok = [&](Answer& x) { on_ok(x); };
  // The check response_handle::receive makes: `Answer` is what `hdl` replies
  // to `xs...` (typed handles), at compile time.
  caf::detail::type_checker<typename response_output<decltype(answer)>::type,
                            decltype(ok)>::check();
  caf::blocking_actor::accept_one_cond rc;
  bool timed_out = false;
  self->varargs_receive(rc, answer.id(), ok,
                        [&](caf::error& err) { on_err(err); },
                        caf::after(timeout) >> [&] { timed_out = true; });
  if (timed_out) {
    note_timeout(self);
    caf::error err{caf::sec::request_timeout};
    on_err(err);
  }
}

/// Requests `xs...` from `hdl` as `self`; calls `on_ok` with the answer (of
/// type `Answer`), or answers the HTTP request with the error. Returns true
/// on success. One actor can serve every call of one HTTP request.
template <class Answer, class Self, class Handle, class OnOk, class... Ts>
bool ask(Self& self, caf::timespan timeout, httplib::Response& res,
         const Handle& hdl, OnOk on_ok, Ts&&... xs) {
  bool ok = false;
  request_within<Answer>(
    self, timeout, hdl,
    [&](Answer& answer) {
      ok = true;
      on_ok(answer);
    },
    [&](caf::error& err) { reply_error(res, err); }, std::forward<Ts>(xs)...);
  return ok;
}

/// As above with a scoped actor of its own.
template <class Answer, class Handle, class OnOk, class... Ts>
bool ask(caf::actor_system& sys, caf::timespan timeout, httplib::Response& res,
         const Handle& hdl, OnOk on_ok, Ts&&... xs) {
  caf::scoped_actor self{sys};
  return ask<Answer>(self, timeout, res, hdl, std::move(on_ok),
                     std::forward<Ts>(xs)...);
}

/// Requests `xs...` from `hdl` and returns the answer, or the error.
template <class Answer, class Self, class Handle, class... Ts>
caf::expected<Answer> call(Self& self, caf::timespan timeout, const Handle& hdl,
                           Ts&&... xs) {
  caf::expected<Answer> result{caf::sec::request_timeout};
  request_within<Answer>(
    self, timeout, hdl, [&](Answer& answer) { result = std::move(answer); },
    [&](caf::error& err) { result = std::move(err); }, std::forward<Ts>(xs)...);
  return result;
}

} // namespace herald
