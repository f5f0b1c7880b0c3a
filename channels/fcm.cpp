#include "channels/fcm.hpp"

#include <algorithm>

#include "core/json_text.hpp"

namespace herald::fcm {

using nlohmann::json;

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

// One path segment: RFC 3986 unreserved characters kept, the rest %XX.
std::string encode_segment(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0x0f];
    }
  }
  return out;
}

std::string string_field(const json& obj, const char* name) {
  auto i = obj.find(name);
  return i != obj.end() && i->is_string() ? i->get<std::string>()
                                          : std::string{};
}

bool contains_ci(std::string_view haystack, std::string_view needle) {
  auto lower = [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  };
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(),
                        needle.end(), [&](char a, char b) {
                          return lower(a) == lower(b);
                        });
  return it != haystack.end();
}

} // namespace

request build_request(const settings& cfg, const std::string& device_token,
                      const std::string& title, const std::string& body,
                      const std::string& data_json) {
  request req;
  json data;
  if (!data_json.empty()) {
    std::string error;
    auto parsed = parse_json(data_json, &error);
    if (parsed.is_discarded()) {
      req.error = "data is not valid JSON: " + error;
      return req;
    }
    if (!parsed.is_object()) {
      req.error = "data must be a JSON object";
      return req;
    }
    data = json::object();
    for (auto& [key, value] : parsed.items())
      data[key] = value.is_string() ? value.get<std::string>()
                                    : dump_json(value);
  }
  std::string base = cfg.base_url.empty() ? std::string{default_base_url}
                                          : cfg.base_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  req.url = base + "/v1/projects/" + encode_segment(cfg.project)
            + "/messages:send";
  json message{{"token", device_token}};
  if (!title.empty() || !body.empty()) {
    json notification = json::object();
    if (!title.empty())
      notification["title"] = title;
    if (!body.empty())
      notification["body"] = body;
    message["notification"] = std::move(notification);
  }
  if (!data.is_null() && !data.empty())
    message["data"] = std::move(data);
  req.body = dump_json(json{{"message", std::move(message)}});
  req.headers.emplace_back("Authorization", "Bearer " + cfg.token);
  return req;
}

response parse_response(const std::string& body) {
  response out;
  auto j = parse_json(body);
  if (!j.is_object())
    return out;
  out.name = string_field(j, "name");
  auto err = j.find("error");
  if (err == j.end() || !err->is_object())
    return out;
  out.status = string_field(*err, "status");
  out.message = string_field(*err, "message");
  auto details = err->find("details");
  if (details != err->end() && details->is_array()) {
    for (const auto& d : *details) {
      if (d.is_object() && string_field(d, "@type") == fcm_error_type) {
        out.error_code = string_field(d, "errorCode");
        break;
      }
    }
  }
  return out;
}

bool token_dead(int http_status, const response& r) {
  if (http_status >= 200 && http_status <= 299)
    return false;
  if (r.error_code == "UNREGISTERED")
    return true;
  auto invalid_argument = r.error_code == "INVALID_ARGUMENT"
                          || (r.error_code.empty()
                              && r.status == "INVALID_ARGUMENT");
  return invalid_argument && contains_ci(r.message, "registration token");
}

} // namespace herald::fcm
