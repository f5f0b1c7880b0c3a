#include "http/codec.hpp"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "core/json_text.hpp"
#include "core/template_render.hpp"
#include "core/text.hpp"
#include "core/time.hpp"

namespace herald {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

// Limits of API.md "Submit body".
constexpr size_t max_subject_chars = 998; // RFC 5322 line limit
constexpr size_t max_body_bytes = 65536;
constexpr size_t max_data_bytes = 256 * 1024;
constexpr int max_data_depth = 64; // the data object itself is level 1
constexpr size_t max_email_bytes = 254;      // RFC 5321 path limit
constexpr size_t max_local_part_bytes = 64;  // RFC 5321
constexpr size_t max_token_bytes = 4096;
constexpr size_t max_url_bytes = 2048;
constexpr size_t max_provider_chars = 100;

// A hostile body may carry thousands of unknown keys, some of them huge:
// echo only a few, shortened, so the 422 answer stays small.
constexpr size_t max_unknown_reported = 20;
constexpr size_t max_echoed_name_bytes = 64;

// 2000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the send_at window.
constexpr int64_t min_send_at_ms = 946684800000;
constexpr int64_t end_send_at_ms = 253402300800000;

using text::count_code_points;
using text::has_space_or_control;
using text::is_ascii_alnum;
using text::is_digit;
using text::is_hex;
using text::printable_excerpt;
using text::valid_utf8;

// -- addresses ----------------------------------------------------------------

// RFC 5322 atext: what an unquoted local part may hold. Excludes the
// specials (",;<>" ...) that would let one `to` smuggle in more recipients.
bool is_atext(char c) {
  if (is_ascii_alnum(c) || static_cast<unsigned char>(c) >= 0x80)
    return true;
  static constexpr std::string_view extra = "!#$%&'*+-/=?^_`{|}~.";
  return extra.find(c) != std::string_view::npos;
}

std::string check_email(std::string_view s) {
  static const std::string bad = "must be an email address, e.g. "
                                 "user@example.com";
  if (s.size() > max_email_bytes)
    return "must be at most " + std::to_string(max_email_bytes)
           + " characters";
  if (has_space_or_control(s))
    return "must not contain spaces or control characters";
  auto at = s.find('@');
  if (at == std::string_view::npos || s.find('@', at + 1) != s.npos)
    return bad;
  auto local = s.substr(0, at);
  auto domain = s.substr(at + 1);
  if (local.empty() || local.size() > max_local_part_bytes
      || !std::all_of(local.begin(), local.end(), is_atext))
    return bad;
  auto domain_char = [](char c) {
    return is_ascii_alnum(c) || c == '-' || c == '.'
           || static_cast<unsigned char>(c) >= 0x80;
  };
  if (domain.empty() || domain.find('.') == domain.npos
      || domain.front() == '.' || domain.back() == '.'
      || domain.find("..") != domain.npos
      || !std::all_of(domain.begin(), domain.end(), domain_char))
    return bad;
  return {};
}

std::string check_e164(std::string_view s) {
  // ^\+[1-9][0-9]{1,14}$
  bool ok = s.size() >= 3 && s.size() <= 16 && s[0] == '+' && s[1] >= '1'
            && s[1] <= '9' && std::all_of(s.begin() + 2, s.end(), is_digit);
  return ok ? std::string{}
            : "must be an E.164 phone number, e.g. +14155550100";
}

std::string check_device_token(std::string_view s) {
  bool ok = !s.empty() && s.size() <= max_token_bytes
            && std::all_of(s.begin(), s.end(), [](char c) {
                 return c > 0x20 && c < 0x7F;
               });
  return ok ? std::string{}
            : "must be a device token: 1 to 4096 printable ASCII characters "
              "without spaces";
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i])
      return false;
  }
  return true;
}

std::string check_webhook_url(std::string_view s) {
  static const std::string bad = "must be an absolute http:// or https:// URL "
                                 "with a host";
  if (s.size() > max_url_bytes)
    return "must be at most " + std::to_string(max_url_bytes) + " characters";
  if (has_space_or_control(s))
    return "must not contain spaces or control characters";
  std::string_view rest;
  if (istarts_with(s, "http://"))
    rest = s.substr(7);
  else if (istarts_with(s, "https://"))
    rest = s.substr(8);
  else
    return bad;
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  // Credentials in the URL would end up in logs, the admin API and the
  // breaker's provider name; the receiver verifies our signature instead.
  if (authority.find('@') != authority.npos)
    return "must not contain user credentials";
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == authority.npos)
      return bad;
    auto literal = authority.substr(1, close - 1);
    bool ok = literal.find(':') != literal.npos
              && std::all_of(literal.begin(), literal.end(), [](char c) {
                   return is_hex(c) || c == ':' || c == '.';
                 });
    if (!ok)
      return bad;
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return bad;
      port = after.substr(1);
      if (port.empty())
        return bad;
    }
  } else {
    auto colon = authority.find(':');
    auto host = authority.substr(0, colon);
    if (colon != authority.npos) {
      port = authority.substr(colon + 1);
      if (port.empty())
        return bad;
    }
    bool ok = !host.empty() && is_ascii_alnum(host.front())
              && std::all_of(host.begin(), host.end(), [](char c) {
                   return is_ascii_alnum(c) || c == '-' || c == '.'
                          || c == '_';
                 });
    if (!ok)
      return bad;
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), is_digit))
      return "must have a port between 1 and 65535";
    auto value = std::stoi(std::string{port});
    if (value < 1 || value > 65535)
      return "must have a port between 1 and 65535";
  }
  return {};
}

std::string check_address(const std::string& channel, std::string_view to) {
  if (channel == "email")
    return check_email(to);
  if (channel == "sms")
    return check_e164(to);
  if (channel == "push")
    return check_device_token(to);
  return check_webhook_url(to);
}

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> xs) {
  return std::find(xs.begin(), xs.end(), s) != xs.end();
}

bool is_known_field(std::string_view k) {
  return is_one_of(k, {"channel", "to", "subject", "body", "html", "data",
                       "priority", "send_at", "provider", "template", "locale",
                       "variables", "recipient"});
}

// -- validation ---------------------------------------------------------------

class validator {
public:
  validator(const json& j, const std::string& prefix, submission& out)
    : j_(j), prefix_(prefix), out_(out) {
  }

  void run() {
    if (!j_.is_object()) {
      auto name = prefix_;
      if (!name.empty() && name.back() == '.')
        name.pop_back();
      out_.malformed = name.empty() ? "the body must be a JSON object"
                                    : name + " must be a JSON object";
      return;
    }
    unknown_fields();
    auto& n = out_.n;
    channel();
    to();
    template_fields();
    if (auto v = get("subject"); v != nullptr)
      if (auto s = string_of("subject", *v))
        subject(*s);
    body();
    html();
    if (auto v = get("data"); v != nullptr)
      data(*v);
    n.priority = "normal";
    if (auto v = get("priority"); v != nullptr) {
      if (auto s = string_of("priority", *v)) {
        if (is_one_of(*s, {"high", "normal", "low"}))
          n.priority = *s;
        else
          fail("priority", "must be one of high, normal, low");
      }
    }
    if (auto v = get("send_at"); v != nullptr)
      if (auto s = string_of("send_at", *v))
        send_at(*s);
    if (auto v = get("provider"); v != nullptr)
      if (auto s = string_of("provider", *v))
        provider(*s);
  }

private:
  void fail(std::string_view field, std::string message) {
    out_.errors.push_back({prefix_ + std::string{field}, std::move(message)});
  }

  // An explicit null is the same as leaving the field out, as most JSON APIs
  // (and generated clients that serialize unset members) expect.
  const json* get(const char* name) const {
    auto i = j_.find(name);
    if (i == j_.end() || i->is_null())
      return nullptr;
    return &*i;
  }

  // The parser guarantees UTF-8, but a caller may hand us a value built in
  // code (e.g. from another decoder): check again rather than store bytes
  // that would make every later dump throw.
  const std::string* string_of(const char* name, const json& v) {
    if (!v.is_string()) {
      fail(name, "must be a string");
      return nullptr;
    }
    const auto& s = v.get_ref<const std::string&>();
    if (!valid_utf8(s)) {
      fail(name, "must be valid UTF-8");
      return nullptr;
    }
    return &s;
  }

  void unknown_fields() {
    size_t unknown = 0;
    for (auto i = j_.begin(); i != j_.end(); ++i) {
      if (is_known_field(i.key()))
        continue;
      if (++unknown <= max_unknown_reported)
        fail(printable_excerpt(i.key(), max_echoed_name_bytes),
             "unknown field");
    }
    if (unknown > max_unknown_reported)
      out_.errors.back().message
        += " (and " + std::to_string(unknown - max_unknown_reported)
           + " more unknown fields)";
  }

  void channel() {
    auto v = get("channel");
    if (v == nullptr) {
      fail("channel", "is required");
      return;
    }
    if (auto s = string_of("channel", *v)) {
      if (is_one_of(*s, {"email", "sms", "push", "webhook"}))
        out_.n.channel = *s;
      else
        fail("channel", "must be one of email, sms, push, webhook");
    }
  }

  // Checks that depend on the channel are skipped when the channel itself is
  // invalid: its own error says enough.
  void to() {
    auto v = get("to");
    if (auto r = get("recipient"); r != nullptr) {
      if (v != nullptr)
        fail("to", "not allowed with recipient (the recipient's address is used)");
      if (auto s = string_of("recipient", *r)) {
        if (valid_recipient_id(*s))
          out_.recipient_id = *s;
        else
          fail("recipient", "must be 1 to 100 characters of A-Z, a-z, 0-9, "
                            "'.', '_' or '-'");
      }
      return;
    }
    if (v == nullptr) {
      fail("to", "is required");
      return;
    }
    auto s = string_of("to", *v);
    if (s == nullptr)
      return;
    if (s->empty()) {
      fail("to", "must not be empty");
      return;
    }
    if (!out_.n.channel.empty()) {
      if (auto msg = check_address(out_.n.channel, *s); !msg.empty()) {
        fail("to", std::move(msg));
        return;
      }
    }
    out_.n.to = *s;
  }

  void subject(const std::string& s) {
    const auto& channel = out_.n.channel;
    // The email subject, and the title of a push notification.
    if (!channel.empty() && channel != "email" && channel != "push") {
      fail("subject", "only allowed for channels email and push (the title)");
      return;
    }
    if (count_code_points(s) > max_subject_chars) {
      fail("subject", "must be at most " + std::to_string(max_subject_chars)
                        + " characters");
      return;
    }
    // A subject becomes a mail header: CR/LF would let a client inject
    // headers of its own.
    auto control = [](char c) {
      auto u = static_cast<unsigned char>(c);
      return (u < 0x20 && c != '\t') || u == 0x7F;
    };
    if (std::any_of(s.begin(), s.end(), control)) {
      fail("subject", "must not contain line breaks or control characters");
      return;
    }
    out_.n.subject = s;
  }

  /// template, locale, variables: instead of subject and body.
  void template_fields() {
    auto v = get("template");
    if (v == nullptr) {
      for (auto name : {"locale", "variables"})
        if (get(name) != nullptr)
          fail(name, "only allowed with template");
      return;
    }
    if (auto s = string_of("template", *v)) {
      if (valid_template_code(*s))
        out_.template_code = *s;
      else
        fail("template", "must be 1 to 100 characters of A-Z, a-z, 0-9, '.', "
                         "'_' or '-'");
    }
    for (auto name : {"subject", "body"})
      if (get(name) != nullptr)
        fail(name, "not allowed with template (the template renders it)");
    if (auto l = get("locale"); l != nullptr)
      if (auto s = string_of("locale", *l)) {
        if (valid_locale(*s))
          out_.locale = *s;
        else
          fail("locale", "must be a locale tag such as en or pt-BR");
      }
    if (auto vars = get("variables"); vars != nullptr) {
      if (!vars->is_object())
        fail("variables", "must be a JSON object");
      else if (!json_depth_within(*vars, max_data_depth))
        fail("variables", "must not nest deeper than "
                            + std::to_string(max_data_depth) + " levels");
      else if (vars->dump().size() > max_data_bytes)
        fail("variables", "must be at most " + std::to_string(max_data_bytes)
                            + " bytes as compact JSON");
      else
        out_.variables = *vars;
    }
  }

  void body() {
    const auto& channel = out_.n.channel;
    bool required = !channel.empty() && channel != "webhook"
                    && out_.template_code.empty() && get("template") == nullptr
                    && !(channel == "email" && get("html") != nullptr);
    auto v = get("body");
    if (v == nullptr) {
      if (required)
        fail("body", "is required for channel " + channel);
      return;
    }
    auto s = string_of("body", *v);
    if (s == nullptr)
      return;
    if (s->size() > max_body_bytes)
      fail("body", "must be at most " + std::to_string(max_body_bytes)
                     + " bytes");
    else if (s->find('\0') != std::string::npos)
      fail("body", "must not contain NUL characters");
    else if (s->empty() && required)
      fail("body", "must not be empty");
    else
      out_.n.body = *s;
  }

  /// An email's HTML part beside its text `body`; kept in `rendered` as
  /// {"html": …}, where a template's HTML part goes too.
  void html() {
    auto v = get("html");
    if (v == nullptr)
      return;
    const auto& channel = out_.n.channel;
    if (!channel.empty() && channel != "email") {
      fail("html", "only allowed for channel email");
      return;
    }
    if (get("template") != nullptr) {
      fail("html", "not allowed with template (the template renders it)");
      return;
    }
    auto s = string_of("html", *v);
    if (s == nullptr)
      return;
    if (s->size() > max_body_bytes)
      fail("html", "must be at most " + std::to_string(max_body_bytes)
                     + " bytes");
    else if (s->find('\0') != std::string::npos)
      fail("html", "must not contain NUL characters");
    else if (!s->empty())
      out_.n.rendered = json{{"html", *s}}.dump();
  }

  void data(const json& v) {
    if (!v.is_object()) {
      fail("data", "must be a JSON object");
      return;
    }
    if (!json_depth_within(v, max_data_depth)) {
      fail("data", "must not nest deeper than "
                     + std::to_string(max_data_depth) + " levels");
      return;
    }
    std::string text;
    try {
      text = v.dump();
    } catch (const json::type_error&) {
      // Only reachable for values built in code: the parser rejects
      // ill-formed UTF-8 before we ever see it.
      fail("data", "must contain only valid UTF-8");
      return;
    }
    if (text.size() > max_data_bytes) {
      fail("data", "must be at most " + std::to_string(max_data_bytes)
                     + " bytes as compact JSON");
      return;
    }
    out_.n.data = std::move(text);
  }

  void send_at(const std::string& s) {
    auto t = parse_rfc3339(s);
    if (!t) {
      fail("send_at", "must be an RFC 3339 time, e.g. 2026-11-21T10:00:00Z");
      return;
    }
    if (*t < min_send_at_ms || *t >= end_send_at_ms) {
      fail("send_at", "must lie between the years 2000 and 9999");
      return;
    }
    out_.n.send_at_ms = *t;
  }

  void provider(const std::string& s) {
    bool ok = !s.empty() && s.size() <= max_provider_chars
              && std::all_of(s.begin(), s.end(), [](char c) {
                   return is_ascii_alnum(c) || c == '.' || c == '_'
                          || c == '-';
                 });
    if (ok)
      out_.n.provider = s;
    else
      fail("provider", "must be 1 to 100 characters of A-Z, a-z, 0-9, '.', "
                       "'_' or '-'");
  }

  const json& j_;
  const std::string& prefix_;
  submission& out_;
};

// Slug of a problem title, e.g. "Unprocessable Content" ->
// "unprocessable-content".
std::string slug(std::string_view title) {
  std::string out;
  for (char c : title) {
    if (is_ascii_alnum(c)) {
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-')
    out.pop_back();
  return out;
}

} // namespace

// -- public -------------------------------------------------------------------

submission parse_submission(std::string_view body) {
  std::string error;
  auto j = parse_json(body, &error);
  if (j.is_discarded()) {
    submission out;
    out.malformed = std::move(error);
    return out;
  }
  return parse_submission_json(j);
}

submission parse_submission_json(const nlohmann::json& j,
                                 const std::string& prefix) {
  submission out;
  try {
    validator{j, prefix, out}.run();
  } catch (const std::exception& e) {
    // Nothing above throws on any input we know of; should something
    // (bad_alloc included) still do, the client gets a 400, not a crash.
    out = submission{};
    out.malformed = std::string{"cannot process the body: "} + e.what();
  }
  return out;
}

bool valid_idempotency_key(std::string_view key) {
  constexpr size_t max_key_bytes = 255;
  if (key.empty() || key.size() > max_key_bytes)
    return false;
  if (key.front() == ' ' || key.back() == ' ')
    return false;
  return std::all_of(key.begin(), key.end(),
                     [](char c) { return c >= 0x20 && c <= 0x7e; });
}

std::string problem_json(int status, const std::string& title,
                         const std::string& detail,
                         const std::vector<field_error>& errors) {
  ordered_json j = ordered_json::object();
  auto s = slug(title);
  j["type"] = s.empty() ? std::string{"about:blank"}
                        : "https://herald.dev/problems/" + s;
  j["title"] = title;
  j["status"] = status;
  j["detail"] = detail;
  if (!errors.empty()) {
    auto& list = j["errors"] = ordered_json::array();
    for (const auto& e : errors)
      list.push_back(ordered_json{{"field", e.field}, {"message", e.message}});
  }
  return dump_json(j);
}

namespace {

json status_event_json(const status_event& e) {
  json j{{"at", format_rfc3339(e.at_ms)}, {"to", e.to}};
  j["from"] = e.from.empty() ? json(nullptr) : json(e.from);
  j["reason"] = e.reason.empty() ? json(nullptr) : json(e.reason);
  return j;
}

} // namespace

json dead_letter_json(const dead_letter& d) {
  json j{{"id", d.n.id},
         {"channel", d.n.channel},
         {"reason", d.reason},
         {"attempts", d.attempts},
         {"dead_at", format_rfc3339(d.dead_at_ms)},
         {"state", d.state},
         {"updated_at", format_rfc3339(d.updated_at_ms)},
         {"notification", herald::to_json(d.n)}};
  j["provider"] = d.provider.empty() ? json(nullptr) : json(d.provider);
  j["last_error"] = d.last_error.empty() ? json(nullptr) : json(d.last_error);
  if (!d.events.empty()) {
    auto events = json::array();
    for (auto& e : d.events)
      events.push_back(status_event_json(e));
    j["events"] = std::move(events);
  }
  return j;
}

bool valid_template_code(std::string_view code) {
  return !code.empty() && code.size() <= 100
         && std::all_of(code.begin(), code.end(), [](char c) {
              return text::is_ascii_alnum(c) || c == '.' || c == '_' || c == '-';
            });
}

bool valid_locale(std::string_view locale) {
  return locale.size() >= 2 && locale.size() <= 35
         && std::all_of(locale.begin(), locale.end(), [](char c) {
              return text::is_ascii_alnum(c) || c == '-' || c == '_';
            });
}

namespace {

/// The parts each channel's template may have.
const std::map<std::string, std::vector<std::string>>& template_channel_parts() {
  static const std::map<std::string, std::vector<std::string>> xs{
    {"email", {"subject", "text", "html"}},
    {"sms", {"text"}},
    {"push", {"title", "body", "data"}},
    {"webhook", {"body"}},
  };
  return xs;
}

constexpr size_t max_template_part_bytes = 64 * 1024;

} // namespace

notification_template parse_template_body(const json& j, bool with_code,
                                          std::vector<field_error>& errors) {
  notification_template t;
  if (!j.is_object()) {
    errors.push_back({"", "the body must be a JSON object"});
    return t;
  }
  for (auto& [k, v] : j.items())
    if (k != "default_locale" && k != "locales" && !(with_code && k == "code"))
      errors.push_back({printable_excerpt(k, max_echoed_name_bytes), "unknown field"});
  if (with_code) {
    auto c = j.find("code");
    if (c == j.end() || !c->is_string() || !valid_template_code(c->get<std::string>()))
      errors.push_back({"code", "is required: 1 to 100 characters of A-Z, a-z, "
                                "0-9, '.', '_' or '-'"});
    else
      t.code = c->get<std::string>();
  }
  auto d = j.find("default_locale");
  if (d == j.end() || !d->is_string() || !valid_locale(d->get<std::string>()))
    errors.push_back({"default_locale", "is required: a locale tag such as en"});
  else
    t.default_locale = d->get<std::string>();
  auto l = j.find("locales");
  if (l == j.end() || !l->is_object() || l->empty()) {
    errors.push_back({"locales", "is required: an object of locale → channel → parts"});
    return t;
  }
  template_locales parsed;
  for (auto& [locale, channels] : l->items()) {
    auto at = "locales." + printable_excerpt(locale, max_echoed_name_bytes);
    if (!valid_locale(locale)) {
      errors.push_back({at, "is not a locale tag such as en or pt-BR"});
      continue;
    }
    if (!channels.is_object() || channels.empty()) {
      errors.push_back({at, "must be an object of channel → parts"});
      continue;
    }
    for (auto& [channel, parts] : channels.items()) {
      auto cat = at + "." + printable_excerpt(channel, max_echoed_name_bytes);
      auto known = template_channel_parts().find(channel);
      if (known == template_channel_parts().end()) {
        errors.push_back({cat, "is not a channel (email, sms, push, webhook)"});
        continue;
      }
      if (!parts.is_object() || parts.empty()) {
        errors.push_back({cat, "must be an object of part → template text"});
        continue;
      }
      for (auto& [part, text] : parts.items()) {
        auto pat = cat + "." + printable_excerpt(part, max_echoed_name_bytes);
        if (std::find(known->second.begin(), known->second.end(), part)
            == known->second.end()) {
          std::string names;
          for (auto& p : known->second)
            names += (names.empty() ? "" : ", ") + p;
          errors.push_back({pat, "is not a part of " + channel + " (" + names + ")"});
        } else if (!text.is_string()) {
          errors.push_back({pat, "must be a string"});
        } else if (text.get_ref<const std::string&>().size() > max_template_part_bytes) {
          errors.push_back({pat, "must be at most "
                                   + std::to_string(max_template_part_bytes) + " bytes"});
        } else {
          parsed[locale][channel][part] = text.get<std::string>();
        }
      }
    }
  }
  if (!t.default_locale.empty() && l->find(t.default_locale) == l->end())
    errors.push_back({"default_locale", "must be one of the locales"});
  if (auto e = check_template(parsed))
    errors.push_back({"locales." + e->part,
                      "does not parse: line " + std::to_string(e->line)
                        + ", column " + std::to_string(e->column) + ": "
                        + e->message});
  t.locales = l->dump();
  return t;
}

bool valid_recipient_id(std::string_view id) {
  return valid_template_code(id);
}

json parse_device(const json& j, const std::string& prefix,
                  std::vector<field_error>& errors, int64_t now_ms) {
  auto before = errors.size();
  auto fail = [&](const std::string& field, std::string message) {
    errors.push_back({prefix + field, std::move(message)});
  };
  if (!j.is_object()) {
    errors.push_back({prefix.empty() ? "device" : prefix.substr(0, prefix.size() - 1),
                      "must be a device object"});
    return nullptr;
  }
  for (auto& [k, v] : j.items())
    if (k != "id" && k != "kind" && k != "token" && k != "subscription")
      fail(printable_excerpt(k, max_echoed_name_bytes), "unknown field");
  json out = json::object();
  auto id = j.find("id");
  if (id == j.end() || !id->is_string() || !valid_template_code(id->get<std::string>()))
    fail("id", "is required: 1 to 100 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
  else
    out["id"] = *id;
  auto kind = j.find("kind");
  std::string k = kind != j.end() && kind->is_string() ? kind->get<std::string>() : "";
  if (k == "fcm") {
    auto t = j.find("token");
    if (t == j.end() || !t->is_string())
      fail("token", "is required for kind fcm");
    else if (auto msg = check_device_token(t->get<std::string>()); !msg.empty())
      fail("token", msg);
    else
      out["token"] = *t;
    if (j.contains("subscription"))
      fail("subscription", "only for kind webpush");
  } else if (k == "webpush") {
    auto s = j.find("subscription");
    // Push services are https; plain http only on loopback (local push
    // services in development and tests).
    auto secure = [](const std::string& url) {
      return url.rfind("https://", 0) == 0
             || url.rfind("http://127.0.0.1:", 0) == 0
             || url.rfind("http://localhost:", 0) == 0
             || url.rfind("http://[::1]:", 0) == 0;
    };
    bool ok = s != j.end() && s->is_object() && s->contains("endpoint")
              && (*s)["endpoint"].is_string()
              && secure((*s)["endpoint"].get<std::string>())
              && check_webhook_url((*s)["endpoint"].get<std::string>()).empty()
              && s->contains("keys") && (*s)["keys"].is_object()
              && (*s)["keys"].value("p256dh", json()).is_string()
              && (*s)["keys"].value("auth", json()).is_string();
    if (!ok)
      fail("subscription", "is required for kind webpush: {\"endpoint\": an https "
                           "URL (http only on loopback), \"keys\": "
                           "{\"p256dh\", \"auth\"}}");
    else
      out["subscription"] = {{"endpoint", (*s)["endpoint"]},
                             {"keys", {{"p256dh", (*s)["keys"]["p256dh"]},
                                       {"auth", (*s)["keys"]["auth"]}}}};
    if (j.contains("token"))
      fail("token", "only for kind fcm");
  } else {
    fail("kind", "must be fcm or webpush");
  }
  if (errors.size() != before)
    return nullptr;
  out["kind"] = k;
  out["added_at"] = format_rfc3339(now_ms);
  return out;
}

recipient parse_recipient_body(const json& j, std::vector<field_error>& errors) {
  recipient r;
  if (!j.is_object()) {
    errors.push_back({"", "the body must be a JSON object"});
    return r;
  }
  auto text = [&](const char* name) -> const std::string* {
    auto i = j.find(name);
    if (i == j.end() || i->is_null())
      return nullptr;
    if (!i->is_string()) {
      errors.push_back({name, "must be a string"});
      return nullptr;
    }
    return &i->get_ref<const std::string&>();
  };
  for (auto& [k, v] : j.items())
    if (k != "email" && k != "phone" && k != "locale" && k != "timezone"
        && k != "opt_out" && k != "devices")
      errors.push_back({printable_excerpt(k, max_echoed_name_bytes), "unknown field"});
  if (auto s = text("email")) {
    if (auto msg = check_email(*s); !msg.empty())
      errors.push_back({"email", msg});
    else
      r.email = *s;
  }
  if (auto s = text("phone")) {
    if (auto msg = check_e164(*s); !msg.empty())
      errors.push_back({"phone", msg});
    else
      r.phone = *s;
  }
  if (auto s = text("locale")) {
    if (!valid_locale(*s))
      errors.push_back({"locale", "must be a locale tag such as en or pt-BR"});
    else
      r.locale = *s;
  }
  if (auto s = text("timezone")) {
    bool ok = !s->empty() && s->size() <= 64
              && std::all_of(s->begin(), s->end(), [](char c) {
                   return text::is_ascii_alnum(c) || c == '/' || c == '_'
                          || c == '-' || c == '+';
                 });
    if (!ok)
      errors.push_back({"timezone", "must be an IANA time zone such as Europe/Lisbon"});
    else
      r.timezone = *s;
  }
  if (auto o = j.find("opt_out"); o != j.end() && !o->is_null()) {
    bool ok = o->is_array();
    if (ok)
      for (auto& c : *o)
        ok = ok && c.is_string()
             && is_one_of(c.get<std::string>(), {"email", "sms", "push", "webhook"});
    if (!ok)
      errors.push_back({"opt_out", "must be a list of email, sms, push and webhook"});
    else
      for (auto& c : *o)
        r.opt_out.push_back(c.get<std::string>());
  }
  json devices = json::array();
  if (auto d = j.find("devices"); d != j.end() && !d->is_null()) {
    if (!d->is_array() || d->size() > 20) {
      errors.push_back({"devices", "must be a list of at most 20 devices"});
    } else {
      std::set<std::string> ids;
      for (size_t i = 0; i < d->size(); ++i) {
        auto dev = parse_device((*d)[i], "devices[" + std::to_string(i) + "].",
                                errors, 0);
        if (dev.is_null())
          continue;
        if (!ids.insert(dev["id"].get<std::string>()).second)
          errors.push_back({"devices[" + std::to_string(i) + "].id", "is given twice"});
        dev.erase("added_at");
        devices.push_back(std::move(dev));
      }
    }
  }
  r.devices = devices.dump();
  return r;
}

json recipient_json(const recipient& r) {
  auto opt = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  auto devices = parse_json(r.devices);
  return {{"id", r.id},
          {"email", opt(r.email)},
          {"phone", opt(r.phone)},
          {"locale", opt(r.locale)},
          {"timezone", opt(r.timezone)},
          {"opt_out", r.opt_out},
          {"devices", devices.is_array() ? devices : json::array()},
          {"created_at", format_rfc3339(r.created_at_ms)},
          {"updated_at", format_rfc3339(r.updated_at_ms)}};
}

json template_json(const notification_template& t) {
  json j{{"code", t.code},
         {"version", t.version},
         {"latest_version", t.latest},
         {"default_locale", t.default_locale},
         {"created_at", format_rfc3339(t.created_at_ms)}};
  auto locales = parse_json(t.locales);
  j["locales"] = locales.is_object() ? locales : json::object();
  return j;
}

} // namespace herald
