#pragma once

// Calling actors from httplib's handler threads (never CAF scheduler
// threads): a scoped actor per call, always with a finite timeout; errors are
// answered with reply_error.

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "http/problem.hpp"

namespace herald {

/// Requests `xs...` from `hdl`; calls `on_ok` with the answer (of type
/// `Answer`), or answers the HTTP request with the error. Returns true on
/// success.
template <class Answer, class Handle, class OnOk, class... Ts>
bool ask(caf::actor_system& sys, caf::timespan timeout, httplib::Response& res,
         const Handle& hdl, OnOk on_ok, Ts&&... xs) {
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(hdl, timeout, std::forward<Ts>(xs)...)
    .receive(
      [&](Answer& answer) {
        ok = true;
        on_ok(answer);
      },
      [&](caf::error& err) { reply_error(res, err); });
  return ok;
}

} // namespace herald
