#pragma once

// Mustache templates (Debian's libkainjow-mustache-dev) for notification
// parts: checking a template when it is created, picking the locale, and
// rendering one channel's parts with a submission's variables.
//
// - Only a part named "html" is HTML-escaped; subject, text, SMS and push
//   texts and webhook bodies are rendered verbatim.
// - A variable tag ({{name}}, {{{name}}}, {{&name}}) whose name the
//   variables do not hold is an error naming it, never an empty string. A
//   section ({{#name}}…{{/name}}, {{^name}}) on a missing name is false, the
//   usual Mustache way to write an optional part.
// - Locale fallback: "pt-BR" → "pt" → the template's default locale.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace herald {

/// One channel's parts, by part name (email: subject, text, html; sms:
/// text; push: title, body, data; webhook: body).
using template_parts = std::map<std::string, std::string>;

/// Locale → channel → parts: the content of one template version.
using template_locales = std::map<std::string, std::map<std::string, template_parts>>;

/// The locales of a stored template (JSON text of locale → channel → part →
/// string); entries that are not strings are left out.
template_locales locales_from_json(const std::string& text);

/// Where a template does not parse: the part (locale/channel/part), the
/// 1-based line and column in it, and the parser's message.
struct template_syntax_error {
  std::string part;
  int line = 0;
  int column = 0;
  std::string message;
};

/// The first part of `locales` that does not parse, if any.
std::optional<template_syntax_error> check_template(const template_locales& locales);

/// The locales to try for `requested`, most specific first, ending with
/// `default_locale` ("pt-BR" → {"pt-BR", "pt", default}); no duplicates.
std::vector<std::string> locale_chain(const std::string& requested,
                                      const std::string& default_locale);

/// What rendering produced: the parts, or why not (`error`, with `name` the
/// missing variable, locale or part).
struct render_result {
  template_parts parts;
  std::string locale; // the locale whose parts were used
  enum class failure { none, no_locale, no_channel, missing_variable, syntax };
  failure error = failure::none;
  std::string name;
  std::string message; // for the 422's detail
};

/// Renders `channel`'s parts of the first locale of locale_chain(requested,
/// default_locale) that has that channel. `variables` must be a JSON object.
render_result render_template(const template_locales& locales,
                              const std::string& default_locale,
                              const std::string& channel,
                              const std::string& requested_locale,
                              const nlohmann::json& variables);

} // namespace herald
