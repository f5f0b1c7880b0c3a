#include "core/json_text.hpp"

#include <exception>

#include "core/crypto.hpp"
#include "core/text.hpp"
#include "core/time.hpp"

namespace herald {

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr size_t max_parse_message_bytes = 300;

// Position of the first bracket that opens level `max_depth + 1`, or npos.
// Runs before the parser so that a megabyte of '[' costs one scan instead of
// a million heap-allocated arrays. On invalid JSON the answer may be wrong,
// but then the parser rejects the text anyway.
size_t nesting_overflow(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth)
        return i;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return std::string_view::npos;
}

// nlohmann prefixes its messages with "[json.exception.parse_error.101] ";
// clients need the rest, not the library's internal ids.
std::string parser_message(const char* what) {
  std::string_view msg{what};
  if (!msg.empty() && msg.front() == '[') {
    auto close = msg.find("] ");
    if (close != std::string_view::npos)
      msg.remove_prefix(close + 2);
  }
  return "invalid JSON: " + text::printable_excerpt(msg, max_parse_message_bytes);
}

template <class Json>
Json parse_json_impl(std::string_view text, std::string* error) {
  auto fail = [&](std::string msg) {
    if (error)
      *error = std::move(msg);
    return Json(Json::value_t::discarded);
  };
  try {
    if (auto pos = nesting_overflow(text, max_json_depth);
        pos != std::string_view::npos)
      return fail("invalid JSON: nesting deeper than "
                  + std::to_string(max_json_depth) + " levels at byte "
                  + std::to_string(pos));
    return Json::parse(text.data(), text.data() + text.size());
  } catch (const nlohmann::json::exception& e) {
    // parse_error carries line and column; out_of_range (e.g. 1e400) too.
    return fail(parser_message(e.what()));
  } catch (const std::exception& e) {
    return fail(std::string{"invalid JSON: "} + e.what());
  } catch (...) {
    return fail("invalid JSON");
  }
}

// Bounded recursion: stops descending at `limit`, so the stack use is fixed
// however deep the value is.
bool depth_within(const json& j, int limit) {
  if (!j.is_structured())
    return true;
  if (limit <= 0)
    return false;
  for (const auto& child : j)
    if (!depth_within(child, limit - 1))
      return false;
  return true;
}

template <class Json>
std::string dump_lenient(const Json& j) {
  try {
    return j.dump(-1, ' ', false, Json::error_handler_t::replace);
  } catch (...) {
    return "null";
  }
}
} // namespace

nlohmann::json parse_json(std::string_view text, std::string* error) {
  return parse_json_impl<json>(text, error);
}

std::string dump_json(const nlohmann::json& j) {
  return dump_lenient(j);
}

std::string dump_json(const nlohmann::ordered_json& j) {
  return dump_lenient(j);
}

bool json_depth_within(const nlohmann::json& j, int limit) {
  return depth_within(j, limit);
}

std::string request_hash(const nlohmann::json& submission) {
  return crypto::sha256_hex(dump_lenient(submission));
}

nlohmann::json to_json(const notification& n) {
  json j = json::object();
  j["id"] = n.id;
  j["channel"] = n.channel;
  j["to"] = n.to;
  if (!n.subject.empty())
    j["subject"] = n.subject;
  j["body"] = n.body;
  if (!n.data.empty()) {
    auto data = parse_json(n.data);
    // Stored data was validated on the way in; should a row hold something
    // else, show it as text rather than lose it.
    j["data"] = data.is_object() ? std::move(data) : json(n.data);
  }
  j["priority"] = n.priority;
  if (n.send_at_ms != 0)
    j["send_at"] = format_rfc3339(n.send_at_ms);
  if (!n.provider.empty())
    j["provider"] = n.provider;
  j["status"] = to_string(n.status);
  j["attempts"] = n.attempts;
  if (!n.last_error.empty())
    j["last_error"] = n.last_error;
  j["created_at"] = format_rfc3339(n.created_at_ms);
  j["updated_at"] = format_rfc3339(n.updated_at_ms);
  if (!n.request_id.empty())
    j["request_id"] = n.request_id;
  if (!n.recipient_id.empty())
    j["recipient"] = n.recipient_id;
  if (!n.template_code.empty()) {
    j["template"] = n.template_code;
    j["template_version"] = n.template_version;
  }
  if (!n.rendered.empty()) {
    auto r = parse_json(n.rendered);
    // A plain email's "html" is kept with the rendered parts: show it where
    // it was given.
    if (n.template_code.empty() && r.is_object() && r.size() == 1
        && r.contains("html"))
      j["html"] = r["html"];
    else
      j["rendered"] = r.is_object() ? std::move(r) : json(n.rendered);
  }
  if (!n.provider_message_id.empty())
    j["provider_message_id"] = n.provider_message_id;
  return j;
}

nlohmann::json to_json(const attempt& a) {
  json j = json::object();
  j["number"] = a.number;
  j["at"] = format_rfc3339(a.at_ms);
  j["node"] = a.node;
  j["provider"] = a.provider;
  j["outcome"] = a.outcome;
  if (a.http_status != 0)
    j["http_status"] = a.http_status;
  if (!a.error.empty())
    j["error"] = a.error;
  j["duration_ms"] = static_cast<double>(a.duration_us) / 1000.0;
  return j;
}

std::string webhook_payload(const notification& n) {
  // ordered_json: receivers see fields in the documented order (and `data`
  // in its stored order), so equal notifications give equal signed bodies.
  ordered_json j = ordered_json::object();
  j["id"] = n.id;
  j["channel"] = "webhook";
  j["to"] = n.to;
  if (!n.subject.empty())
    j["subject"] = n.subject;
  if (!n.body.empty())
    j["body"] = n.body;
  if (!n.data.empty()) {
    auto data = parse_json_impl<ordered_json>(n.data, nullptr);
    j["data"] = data.is_object() ? std::move(data) : ordered_json(n.data);
  }
  j["priority"] = n.priority;
  j["created_at"] = format_rfc3339(n.created_at_ms);
  return dump_lenient(j);
}

} // namespace herald
