// Templates of the REST API (API.md "Templates and recipients") and the
// rendering of template submissions. Every route is tenant-scoped by the
// API key: another tenant's code does not exist (404).
//
//   POST   /v1/templates                   create version 1 of a code
//   POST   /v1/templates/{code}/versions   publish the next version
//   GET    /v1/templates                   the latest versions, by code
//   GET    /v1/templates/{code}[?version=n]
//   DELETE /v1/templates/{code}            archive

#include "actors/template_cache.hpp"
#include "core/error.hpp"
#include "core/json_text.hpp"
#include "core/template_render.hpp"
#include "http/api_server.hpp"
#include "http/bridge.hpp"
#include "http/codec.hpp"
#include "http/problem.hpp"

namespace herald {

namespace {

using json = nlohmann::json;

/// The parts of a rendered template as the notification's fields: email
/// subject/text, SMS text, push title/body/data, webhook body; every part
/// is also kept in `rendered` (the HTML of an email only there).
std::vector<field_error> apply_parts(const template_parts& parts, notification& n) {
  std::vector<field_error> errors;
  auto part = [&parts](const char* name) {
    auto i = parts.find(name);
    return i == parts.end() ? std::string{} : i->second;
  };
  if (n.channel == "email") {
    n.subject = part("subject");
    n.body = part("text");
    if (n.body.empty())
      n.body = part("html");
    if (n.subject.find_first_of("\r\n") != std::string::npos)
      errors.push_back({"template", "the rendered subject holds a line break"});
  } else if (n.channel == "sms") {
    n.body = part("text");
  } else if (n.channel == "push") {
    n.subject = part("title");
    n.body = part("body");
    auto data = part("data");
    if (!data.empty()) {
      auto j = parse_json(data);
      if (!j.is_object())
        errors.push_back({"template", "the rendered push data is not a JSON object"});
      else
        n.data = j.dump();
    }
  } else {
    n.body = part("body");
  }
  if (n.body.empty() && n.channel != "webhook")
    errors.push_back({"template", "renders an empty body for channel " + n.channel});
  json rendered = json::object();
  for (auto& [k, v] : parts)
    rendered[k] = v;
  n.rendered = rendered.dump();
  return errors;
}

} // namespace

api_server::render_refusal
api_server::prepare_submission(pooled_actor& self, const std::string& api_key,
                               submission& sub) {
  render_refusal out;
  if (sub.template_code.empty() && sub.recipient_id.empty())
    return out;
  auto t = call<tenant>(self, ctx_.timeout, ctx_.auth, atom::auth_v, api_key);
  if (!t) // the ingest actor answers 401 (or 503) for the same key
    return out;
  std::string skip;
  if (!sub.recipient_id.empty()) {
    out = resolve_recipient(self, t->id, sub, skip);
    if (out.status != 0)
      return out;
  }
  // Rendered even when skipped: a submission that cannot be rendered is
  // the client's error either way.
  if (!sub.template_code.empty()) {
    out = render_into(self, t->id, sub);
    if (out.status != 0)
      return out;
  }
  if (!skip.empty()) {
    sub.n.status = notification_status::skipped;
    sub.n.last_error = "skipped: " + skip;
  }
  return out;
}

api_server::render_refusal
api_server::render_into(pooled_actor& self, const std::string& tenant_id,
                        submission& sub) {
  render_refusal out;
  std::shared_ptr<const compiled_template> tmpl;
  if (ctx_.templates)
    tmpl = ctx_.templates->find(tenant_id, sub.template_code);
  if (!tmpl) {
    auto x = call<notification_template>(self, ctx_.timeout, ctx_.store,
                                         atom::get_v, atom::tmpl_v, tenant_id,
                                         sub.template_code, int32_t{0});
    if (!x) {
      if (is(x.error(), ec::not_found)) {
        out.status = 422;
        out.errors.push_back({"template", "no template " + sub.template_code});
      } else {
        out.status = 503;
        out.detail = "templates cannot be read now; retry later";
      }
      return out;
    }
    tmpl = ctx_.templates ? ctx_.templates->put(std::move(*x))
                          : std::make_shared<const compiled_template>(
                              compiled_template{*x, locales_from_json(x->locales)});
  }
  auto r = render_template(tmpl->locales, tmpl->meta.default_locale,
                           sub.n.channel, sub.locale, sub.variables);
  switch (r.error) {
    case render_result::failure::none:
      break;
    case render_result::failure::missing_variable:
      out.status = 422;
      out.errors.push_back({"variables." + r.name, r.message});
      return out;
    case render_result::failure::no_channel:
    case render_result::failure::no_locale:
    case render_result::failure::syntax:
      out.status = 422;
      out.errors.push_back({"template", r.message});
      return out;
  }
  auto errors = apply_parts(r.parts, sub.n);
  if (!errors.empty()) {
    out.status = 422;
    out.errors = std::move(errors);
    return out;
  }
  sub.n.template_code = tmpl->meta.code;
  sub.n.template_version = tmpl->meta.version;
  return out;
}

void api_server::install_template_routes() {
  // The JSON body of a template route, or an answer (413, 415, 400).
  auto body_of = [this](const httplib::Request& req, httplib::Response& res,
                        json& out) {
    return read_json_body(req, res, ctx_.max_body_bytes, out);
  };
  // Forget a code here and on every other node.
  auto invalidate = [this](const std::string& tenant, const std::string& code) {
    if (ctx_.templates)
      ctx_.templates->erase(tenant, code);
    if (ctx_.cluster)
      caf::anon_send(ctx_.cluster, atom::invalidate_v, tenant, code, true);
  };
  auto created = [](httplib::Response& res, const notification_template& t) {
    res.set_header("Location", "/v1/templates/" + t.code + "?version="
                                 + std::to_string(t.version));
    reply_json(res, 201, {{"code", t.code}, {"version", t.version}});
  };

  svr_.Post("/v1/templates", [=](const httplib::Request& req,
                                 httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    json j;
    if (!t || !body_of(req, res, j))
      return;
    std::vector<field_error> errors;
    auto x = parse_template_body(j, true, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "the template is invalid", errors);
      return;
    }
    x.tenant_id = t->id;
    auto r = call<notification_template>(self, ctx_.timeout, ctx_.store,
                                         atom::create_v, x);
    if (!r) {
      if (is(r.error(), ec::conflict))
        reply_problem(res, 409, status_title(409),
                      "template " + x.code + " exists; publish a new version "
                      "with POST /v1/templates/" + x.code + "/versions");
      else
        reply_error(res, r.error());
      return;
    }
    invalidate(t->id, x.code); // an archived code may have been cached
    created(res, *r);
  });

  svr_.Post(R"(/v1/templates/([^/]+)/versions)", [=](const httplib::Request& req,
                                                     httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    json j;
    if (!t || !body_of(req, res, j))
      return;
    auto code = req.matches[1].str();
    if (!valid_template_code(code)) {
      reply_problem(res, 404, status_title(404), "no such template");
      return;
    }
    std::vector<field_error> errors;
    auto x = parse_template_body(j, false, errors);
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "the template is invalid", errors);
      return;
    }
    x.tenant_id = t->id;
    x.code = code;
    auto r = call<notification_template>(self, ctx_.timeout, ctx_.store,
                                         atom::publish_v, x);
    if (!r) {
      reply_error(res, r.error()); // not_found: 404
      return;
    }
    invalidate(t->id, code);
    created(res, *r);
  });

  svr_.Get("/v1/templates", [this](const httplib::Request& req,
                                   httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    std::vector<field_error> errors;
    int32_t limit = 50;
    read_limit_param(req, limit, errors);
    auto cursor = req.get_param_value("cursor");
    if (!cursor.empty() && !valid_template_code(cursor))
      errors.push_back({"cursor", "not a cursor returned by this API"});
    if (!errors.empty()) {
      reply_problem(res, 422, status_title(422), "invalid query parameters", errors);
      return;
    }
    ask<template_page>(self, ctx_.timeout, res, ctx_.store,
        [&](template_page& page) {
          auto items = json::array();
          for (auto& x : page.items)
            items.push_back(template_json(x));
          json out{{"items", items}};
          out["next_cursor"] = page.next_cursor.empty() ? json(nullptr)
                                                        : json(page.next_cursor);
          reply_json(res, 200, out);
        },
        atom::list_v, atom::tmpl_v, t->id, cursor, limit);
  });

  svr_.Get(R"(/v1/templates/([^/]+))", [this](const httplib::Request& req,
                                              httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto code = req.matches[1].str();
    int32_t version = 0;
    if (req.has_param("version")) {
      auto v = req.get_param_value("version");
      char* end = nullptr;
      auto n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 1000000) {
        reply_problem(res, 422, status_title(422), "invalid query parameters",
                      {{"version", "must be a version number (1 or more)"}});
        return;
      }
      version = static_cast<int32_t>(n);
    }
    if (!valid_template_code(code)) {
      reply_problem(res, 404, status_title(404), "no such template");
      return;
    }
    ask<notification_template>(self, ctx_.timeout, res, ctx_.store,
        [&](notification_template& x) { reply_json(res, 200, template_json(x)); },
        atom::get_v, atom::tmpl_v, t->id, code, version);
  });

  svr_.Delete(R"(/v1/templates/([^/]+))", [=](const httplib::Request& req,
                                              httplib::Response& res) {
    auto self = actors_.acquire();
    auto t = authenticate(self, req, res);
    if (!t)
      return;
    auto code = req.matches[1].str();
    if (!valid_template_code(code)) {
      reply_problem(res, 404, status_title(404), "no such template");
      return;
    }
    ask<bool>(self, ctx_.timeout, res, ctx_.store,
        [&](bool archived) {
          if (!archived) {
            reply_problem(res, 404, status_title(404), "no such template");
            return;
          }
          invalidate(t->id, code);
          reply_json(res, 200, {{"code", code}, {"archived", true}});
        },
        atom::archive_v, t->id, code);
  });
}

} // namespace herald
