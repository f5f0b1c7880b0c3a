// Recipients of the REST API (API.md "Templates and recipients") and the
// addressing of recipient submissions. Tenant-scoped by the API key:
// another tenant's recipient does not exist (404).
//
//   PUT    /v1/recipients/{id}                       create or replace
//   GET    /v1/recipients/{id}
//   DELETE /v1/recipients/{id}
//   POST   /v1/recipients/{id}/devices               register a device
//   DELETE /v1/recipients/{id}/devices/{device_id}   remove one

#include <algorithm>

#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/time.hpp"
#include "http/api_server.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

/// The address of `r` for `channel`, or "" with the reason in `why`. Push
/// goes to the device registered last (an FCM token, or a Web Push
/// subscription as its JSON text).
std::string address_of(const recipient& r, const std::string& channel,
                       std::string& why) {
  if (std::find(r.opt_out.begin(), r.opt_out.end(), channel) != r.opt_out.end()) {
    why = "the recipient opted out of " + channel;
    return {};
  }
  if (channel == "email" && !r.email.empty())
    return r.email;
  if (channel == "sms" && !r.phone.empty())
    return r.phone;
  if (channel == "push") {
    auto devices = parse_json(r.devices);
    if (devices.is_array() && !devices.empty()) {
      auto& d = devices.back();
      if (d.value("kind", "") == "fcm")
        return d.value("token", "");
      if (d.contains("subscription"))
        return d["subscription"].dump();
    }
  }
  why = "the recipient has no address for channel " + channel;
  return {};
}

} // namespace

api_server::render_refusal
api_server::resolve_recipient(pooled_actor& self, const std::string& tenant_id,
                              submission& sub, std::string& skip_reason) {
  render_refusal out;
  auto r = call<recipient>(self, ctx_.timeout, ctx_.store, atom::get_v,
                           atom::recip_v, tenant_id, sub.recipient_id);
  if (!r) {
    if (is(r.error(), ec::not_found)) {
      out.status = 422;
      out.errors.push_back({"recipient", "no recipient " + sub.recipient_id});
    } else {
      out.status = 503;
      out.detail = "recipients cannot be read now; retry later";
    }
    return out;
  }
  sub.n.recipient_id = r->id;
  if (sub.locale.empty())
    sub.locale = r->locale;
  sub.n.to = address_of(*r, sub.n.channel, skip_reason);
  if (sub.n.to.empty())
    sub.n.to = "recipient:" + r->id; // stored as skipped, never sent
  return out;
}

void api_server::install_recipient_routes() {
  // The JSON body of a recipient route, or an answer (413, 415, 400).
  auto body_of = [this](const httplib::Request& req, httplib::Response& res,
                        json& out) {
    return read_json_body(req, res, ctx_.max_body_bytes, out);
  };
  auto bad_id = [](httplib::Response& res, const std::string& id) {
    if (valid_recipient_id(id))
      return false;
    reply_problem(res, 404, status_title(404), "no such recipient");
    return true;
  };

  svr_.Put(R"(/v1/recipients/([^/]+))", [=](const httplib::Request& req,
                                            httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    json j;
    auto id = req.matches[1].str();
    if (!t || !body_of(req, res, j))
      return;
    if (!valid_recipient_id(id)) {
      reply_problem(res, 422, status_title(422), "invalid recipient id",
                    {{"id", "must be 1 to 100 characters of A-Z, a-z, 0-9, "
                            "'.', '_' or '-'"}});
      return;
    }
    std::vector<field_error> errors;
    auto r = parse_recipient_body(j, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "the recipient has invalid fields",
                    errors);
      return;
    }
    r.tenant_id = t->id;
    r.id = id;
    ask<recipient>(self, ctx_.timeout, res, ctx_.store,
        [&](recipient& x) { reply_json(res, x.created ? 201 : 200, recipient_json(x)); },
        atom::put_v, r);
  });

  svr_.Get(R"(/v1/recipients/([^/]+))", [=](const httplib::Request& req,
                                            httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto id = req.matches[1].str();
    if (bad_id(res, id))
      return;
    ask<recipient>(self, ctx_.timeout, res, ctx_.store,
        [&](recipient& x) { reply_json(res, 200, recipient_json(x)); },
        atom::get_v, atom::recip_v, t->id, id);
  });

  svr_.Delete(R"(/v1/recipients/([^/]+))", [=](const httplib::Request& req,
                                               httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto id = req.matches[1].str();
    if (bad_id(res, id))
      return;
    ask<bool>(self, ctx_.timeout, res, ctx_.store,
        [&](bool deleted) {
          if (deleted)
            reply_json(res, 200, {{"id", id}, {"deleted", true}});
          else
            reply_problem(res, 404, status_title(404), "no such recipient");
        },
        atom::remove_v, atom::recip_v, t->id, id);
  });

  svr_.Post(R"(/v1/recipients/([^/]+)/devices)", [=](const httplib::Request& req,
                                                     httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    json j;
    auto id = req.matches[1].str();
    if (!t || !body_of(req, res, j) || bad_id(res, id))
      return;
    std::vector<field_error> errors;
    auto device = parse_device(j, "", errors, now_ms());
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "the device has invalid fields",
                    errors);
      return;
    }
    ask<recipient>(self, ctx_.timeout, res, ctx_.store,
        [&](recipient& x) { reply_json(res, 201, recipient_json(x)); },
        atom::device_v, t->id, id, device.dump());
  });

  svr_.Delete(R"(/v1/recipients/([^/]+)/devices/([^/]+))",
              [=](const httplib::Request& req, httplib::Response& res) {
                auto self = actors_.acquire();
                auto t = authenticate(self, req, res);
                if (!t)
                  return;
                auto id = req.matches[1].str();
                if (bad_id(res, id))
                  return;
                ask<recipient>(self, ctx_.timeout, res, ctx_.store,
                    [&](recipient& x) { reply_json(res, 200, recipient_json(x)); },
                    atom::remove_v, atom::device_v, t->id, id,
                    req.matches[2].str());
              });
}

} // namespace herald
