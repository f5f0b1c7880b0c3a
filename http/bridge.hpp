#pragma once

// Calling actors from httplib's handler threads (never CAF scheduler
// threads): a scoped actor per call, always with a finite timeout; errors are
// answered with reply_error.

#include <utility>

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/sec.hpp>
#include <caf/scoped_actor.hpp>

#include "http/problem.hpp"

namespace herald {

/// Requests `xs...` from `hdl` as `self`; calls `on_ok` with the answer (of
/// type `Answer`), or answers the HTTP request with the error. Returns true
/// on success. One scoped actor can serve every call of one HTTP request.
template <class Answer, class Handle, class OnOk, class... Ts>
bool ask(caf::scoped_actor& self, caf::timespan timeout, httplib::Response& res,
         const Handle& hdl, OnOk on_ok, Ts&&... xs) {
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

/// As above with a scoped actor of its own.
template <class Answer, class Handle, class OnOk, class... Ts>
bool ask(caf::actor_system& sys, caf::timespan timeout, httplib::Response& res,
         const Handle& hdl, OnOk on_ok, Ts&&... xs) {
  caf::scoped_actor self{sys};
  return ask<Answer>(self, timeout, res, hdl, std::move(on_ok),
                     std::forward<Ts>(xs)...);
}

/// Requests `xs...` from `hdl` and returns the answer, or the error.
template <class Answer, class Handle, class... Ts>
caf::expected<Answer> call(caf::scoped_actor& self, caf::timespan timeout,
                           const Handle& hdl, Ts&&... xs) {
  caf::expected<Answer> result{caf::sec::request_timeout};
  self->request(hdl, timeout, std::forward<Ts>(xs)...)
    .receive([&](Answer& answer) { result = std::move(answer); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace herald
