// Delivery receipts (API.md "Delivery receipts"): providers tell Herald what
// became of a message after it was accepted. Not tenant-scoped: each route
// belongs to one configured provider and is authenticated as that provider
// does it; a receipt can only move a message that provider delivered.
//
//   POST /v1/receipts/twilio/{provider}   Twilio status callback (form),
//                                         X-Twilio-Signature over the
//                                         configured status-callback URL
//   POST /v1/receipts/ses/{provider}      SES/SNS-style bounce or complaint
//                                         (JSON), the provider's receipt
//                                         secret as Bearer or Basic password

#include <chrono>
#include <thread>

#include "channels/receipts.hpp"
#include "channels/twilio.hpp"
#include "core/crypto.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "http/api_server.hpp"
#include "http/bridge.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

/// A receipt that matched nothing is tried again this often, this far
/// apart (on the HTTP thread: 2.5 s at most before "nothing matched").
constexpr int receipt_retries = 5;
constexpr auto receipt_retry_delay = std::chrono::milliseconds{500};

/// The shared secret of a request: a Bearer token, or the password of Basic
/// credentials (SNS puts them in the subscription URL).
std::string presented_secret(const httplib::Request& req) {
  auto bearer = bearer_token(req);
  if (!bearer.empty())
    return bearer;
  auto h = req.get_header_value("Authorization");
  if (h.size() > 6 && (h.compare(0, 6, "Basic ") == 0 || h.compare(0, 6, "basic ") == 0)) {
    auto decoded = crypto::base64_decode(h.substr(6));
    if (decoded) {
      auto colon = decoded->find(':');
      if (colon != std::string::npos)
        return decoded->substr(colon + 1);
    }
  }
  return {};
}

} // namespace

void api_server::install_receipt_routes() {
  // Hands a receipt to the store: 200 with the notifications it moved. A
  // receipt can overtake the record of its delivery (outcomes are written
  // in batches, and some providers call back within milliseconds): when
  // nothing matched it is tried again a few times before the answer says so.
  auto apply = [this](httplib::Response& res, const std::string& provider,
                      receipt r) {
    if (r.status.empty()) {
      reply_json(res, 200, {{"updated", nlohmann::json::array()},
                            {"ignored", r.reason}});
      return;
    }
    auto self = actors_.acquire();
    for (int attempt = 0;; ++attempt) {
      auto ids = call<std::vector<std::string>>(self, ctx_.timeout, ctx_.store,
                                                atom::receipt_v, provider,
                                                r.message_ids, r.status,
                                                r.reason);
      if (!ids) {
        reply_error(res, ids.error());
        return;
      }
      if (!ids->empty() || attempt == receipt_retries) {
        HERALD_LOG(info, "receipts", provider, ": ", r.reason, " -> ",
                   ids->empty() ? std::string{"no delivered notification"}
                                : r.status + " " + ids->front());
        reply_json(res, 200, {{"updated", *ids}, {"status", r.status},
                              {"reason", r.reason}});
        return;
      }
      std::this_thread::sleep_for(receipt_retry_delay);
    }
  };

  // A configured provider of `kind` under that name, else a 404.
  auto provider_of = [this](httplib::Response& res, const std::string& name,
                            const char* kind) -> const provider_config* {
    auto i = ctx_.providers.find(name);
    if (i == ctx_.providers.end() || i->second.kind != kind) {
      reply_problem(res, 404, status_title(404),
                    "no " + std::string{kind} + " provider " + name);
      return nullptr;
    }
    return &i->second;
  };

  svr_.Post(R"(/v1/receipts/twilio/([^/]+))", [=](const httplib::Request& req,
                                                  httplib::Response& res) {
    auto name = req.matches[1].str();
    auto* p = provider_of(res, name, "twilio");
    if (p == nullptr)
      return;
    auto form = twilio::form_decode(req.body);
    if (!form) {
      reply_problem(res, 400, status_title(400), "malformed form body");
      return;
    }
    // Twilio signs the URL it was given (herald.providers.NAME.status-callback).
    if (p->status_callback.empty()
        || !twilio::verify_signature(p->auth_token, p->status_callback, *form,
                                     req.get_header_value("X-Twilio-Signature"))) {
      reply_problem(res, 401, status_title(401),
                    "missing or invalid X-Twilio-Signature");
      return;
    }
    apply(res, name, twilio_receipt(*form));
  });

  svr_.Post(R"(/v1/receipts/ses/([^/]+))", [=](const httplib::Request& req,
                                               httplib::Response& res) {
    auto name = req.matches[1].str();
    auto* p = provider_of(res, name, "smtp");
    if (p == nullptr)
      return;
    if (p->receipt_secret.empty()
        || !crypto::constant_time_equal(presented_secret(req), p->receipt_secret)) {
      reply_problem(res, 401, status_title(401),
                    "missing or invalid receipt secret");
      return;
    }
    std::string error;
    auto r = ses_receipt(req.body, error);
    if (!error.empty()) {
      reply_problem(res, 400, status_title(400), error);
      return;
    }
    apply(res, name, std::move(r));
  });
}

} // namespace herald
