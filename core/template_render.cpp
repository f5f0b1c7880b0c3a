#include "core/template_render.hpp"

#include <algorithm>
#include <cstdlib>
#include <set>

#include <kainjow/mustache.hpp>

namespace herald {

namespace {

namespace mu = kainjow::mustache;

/// Line and column (1-based) of byte `offset` in `text`.
std::pair<int, int> line_column(const std::string& text, size_t offset) {
  int line = 1;
  int column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

/// kainjow's messages end with "at <offset>".
std::optional<template_syntax_error> syntax_error_of(const std::string& text,
                                                      const std::string& message) {
  if (message.empty())
    return std::nullopt;
  template_syntax_error e;
  e.message = message;
  auto at = message.rfind(" at ");
  size_t offset = 0;
  if (at != std::string::npos)
    offset = static_cast<size_t>(std::strtoul(message.c_str() + at + 4, nullptr, 10));
  std::tie(e.line, e.column) = line_column(text, offset);
  if (at != std::string::npos)
    e.message = message.substr(0, at);
  return e;
}

/// The names of the variable tags of `text` (not sections, comments,
/// partials); empty if the template changes its delimiters (then no name is
/// required).
std::set<std::string> variable_names(const std::string& text) {
  std::set<std::string> names;
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string::npos) {
    bool triple = text.compare(pos, 3, "{{{") == 0;
    auto start = pos + (triple ? 3 : 2);
    auto end = text.find(triple ? "}}}" : "}}", start);
    if (end == std::string::npos)
      break;
    auto tag = text.substr(start, end - start);
    pos = end + (triple ? 3 : 2);
    auto first = tag.find_first_not_of(" \t");
    if (first == std::string::npos)
      continue;
    char sigil = tag[first];
    if (sigil == '=')
      return {};
    if (sigil == '#' || sigil == '^' || sigil == '/' || sigil == '!' || sigil == '>')
      continue;
    if (sigil == '&')
      ++first;
    auto last = tag.find_last_not_of(" \t");
    auto name = tag.substr(first, last + 1 - first);
    auto trimmed = name.find_first_not_of(" \t");
    if (trimmed != std::string::npos)
      names.insert(name.substr(trimmed));
  }
  return names;
}

/// A JSON value as Mustache data: strings and numbers as text, booleans,
/// null as false, arrays as lists, objects as objects.
mu::data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mu::data d{mu::data::type::object};
      for (auto& [k, v] : j.items())
        d.set(k, to_data(v));
      return d;
    }
    case nlohmann::json::value_t::array: {
      mu::data d{mu::data::type::list};
      for (auto& v : j)
        d.push_back(to_data(v));
      return d;
    }
    case nlohmann::json::value_t::string:
      return mu::data{j.get<std::string>()};
    case nlohmann::json::value_t::boolean:
      return mu::data{j.get<bool>()};
    case nlohmann::json::value_t::null:
      return mu::data{false};
    default:
      return mu::data{j.dump()};
  }
}

/// A context that remembers the names it could not resolve.
class recording_context : public mu::context<mu::mustache::string_type> {
public:
  using base = mu::context<mu::mustache::string_type>;
  explicit recording_context(const mu::data* d) : base(d) {
  }
  const mu::data* get(const std::string& name) const override {
    auto x = base::get(name);
    if (x == nullptr)
      missing.insert(name);
    return x;
  }
  mutable std::set<std::string> missing;
};

} // namespace

template_locales locales_from_json(const std::string& text) {
  template_locales out;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object())
    return out;
  for (auto& [locale, channels] : j.items()) {
    if (!channels.is_object())
      continue;
    for (auto& [channel, parts] : channels.items()) {
      if (!parts.is_object())
        continue;
      for (auto& [part, value] : parts.items())
        if (value.is_string())
          out[locale][channel][part] = value.get<std::string>();
    }
  }
  return out;
}

std::optional<template_syntax_error> check_template(const template_locales& locales) {
  for (auto& [locale, channels] : locales)
    for (auto& [channel, parts] : channels)
      for (auto& [part, text] : parts) {
        mu::mustache tmpl{text};
        if (auto e = syntax_error_of(text, tmpl.error_message())) {
          e->part = locale + "." + channel + "." + part;
          return e;
        }
      }
  return std::nullopt;
}

std::vector<std::string> locale_chain(const std::string& requested,
                                      const std::string& default_locale) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& x) {
    if (!x.empty() && std::find(out.begin(), out.end(), x) == out.end())
      out.push_back(x);
  };
  add(requested);
  auto dash = requested.find_first_of("-_");
  if (dash != std::string::npos)
    add(requested.substr(0, dash));
  add(default_locale);
  return out;
}

render_result render_template(const template_locales& locales,
                              const std::string& default_locale,
                              const std::string& channel,
                              const std::string& requested_locale,
                              const nlohmann::json& variables) {
  render_result out;
  const std::map<std::string, template_parts>* chosen = nullptr;
  bool any_locale = false;
  for (auto& l : locale_chain(requested_locale, default_locale)) {
    auto i = locales.find(l);
    if (i == locales.end())
      continue;
    any_locale = true;
    if (i->second.count(channel)) {
      chosen = &i->second;
      out.locale = l;
      break;
    }
  }
  if (chosen == nullptr) {
    out.error = any_locale ? render_result::failure::no_channel
                           : render_result::failure::no_locale;
    out.name = any_locale ? channel : requested_locale;
    out.message = any_locale
                    ? "the template has no " + channel + " part for locale "
                        + (requested_locale.empty() ? default_locale : requested_locale)
                    : "the template has no locale " + requested_locale
                        + " nor its default " + default_locale;
    return out;
  }
  auto data = to_data(variables.is_object() ? variables : nlohmann::json::object());
  for (auto& [part, text] : chosen->at(channel)) {
    mu::mustache tmpl{text};
    if (!tmpl.is_valid()) {
      out.error = render_result::failure::syntax;
      out.name = part;
      out.message = tmpl.error_message();
      return out;
    }
    if (part != "html")
      tmpl.set_custom_escape([](const std::string& s) { return s; });
    recording_context ctx{&data};
    auto rendered = tmpl.render(ctx);
    auto wanted = variable_names(text);
    for (auto& name : ctx.missing)
      if (wanted.count(name)) {
        out.error = render_result::failure::missing_variable;
        out.name = name;
        out.message = "variable \"" + name + "\" is missing (" + channel + "."
                      + part + " of locale " + out.locale + ")";
        return out;
      }
    out.parts[part] = std::move(rendered);
  }
  return out;
}

} // namespace herald
