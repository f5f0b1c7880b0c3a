#include "channels/twilio.hpp"

#include <algorithm>
#include <stdexcept>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/crypto.hpp"
#include "core/json_text.hpp"
#include "core/text.hpp"

namespace herald::twilio {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool is_alnum(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9');
}

// Percent-encoding of one form name or value (`form`: WHATWG's
// urlencoded set, space as '+') or of one path segment (RFC 3986
// unreserved characters kept, where '+' would be a literal plus).
void encode_into(std::string& out, std::string_view text, bool form) {
  for (unsigned char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_'
        || (form ? c == '*' : c == '~')) {
      out += static_cast<char>(c);
    } else if (form && c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex_digits[c >> 4];
      out += hex_digits[c & 0x0f];
    }
  }
}

std::optional<std::string> decode_component(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%') {
      if (i + 2 >= text.size())
        return std::nullopt;
      int hi = text::hex_value(text[i + 1]);
      int lo = text::hex_value(text[i + 2]);
      if (hi < 0 || lo < 0)
        return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

std::string hmac_sha1(std::string_view key, std::string_view message) {
  // A null key pointer means "reuse the previous key" to OpenSSL.
  static const unsigned char empty = 0;
  auto key_ptr = key.empty()
                   ? &empty
                   : reinterpret_cast<const unsigned char*>(key.data());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto ok = HMAC(EVP_sha1(), key_ptr, static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(message.data()),
                 message.size(), md, &len);
  if (ok == nullptr)
    throw std::runtime_error("OpenSSL HMAC(SHA-1) failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

// A JSON scalar as text: strings as they are, integers in decimal; other
// types and null give "".
std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_number_integer() || v.is_number_unsigned())
    return v.dump();
  return {};
}

} // namespace

request build_request(const settings& cfg, const std::string& to,
                      const std::string& text) {
  std::string base = cfg.base_url.empty() ? std::string{default_base_url}
                                          : cfg.base_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  request req;
  req.url = base + "/2010-04-01/Accounts/";
  encode_into(req.url, cfg.account_sid, false);
  req.url += "/Messages.json";
  form_fields fields{{"To", to}, {"From", cfg.from}, {"Body", text}};
  if (!cfg.status_callback.empty())
    fields.emplace_back("StatusCallback", cfg.status_callback);
  req.body = form_encode(fields);
  req.headers.emplace_back(
    "Authorization",
    "Basic " + crypto::base64_encode(cfg.account_sid + ":" + cfg.auth_token));
  req.headers.emplace_back("Accept", "application/json");
  return req;
}

response parse_response(const std::string& body) {
  response out;
  auto j = parse_json(body);
  if (!j.is_object())
    return out;
  auto field = [&](const char* name) -> const nlohmann::json* {
    auto i = j.find(name);
    return i == j.end() ? nullptr : &*i;
  };
  if (auto v = field("sid"))
    out.sid = scalar_text(*v);
  if (auto v = field("status"); v && v->is_string())
    out.status = v->get<std::string>();
  // Error bodies say "code"/"message"; a message resource that failed
  // later says "error_code"/"error_message" (null while all is well).
  if (auto v = field("code"))
    out.error_code = scalar_text(*v);
  if (out.error_code.empty())
    if (auto v = field("error_code"))
      out.error_code = scalar_text(*v);
  if (auto v = field("message"))
    out.message = scalar_text(*v);
  if (out.message.empty())
    if (auto v = field("error_message"))
      out.message = scalar_text(*v);
  return out;
}

std::string form_encode(const form_fields& fields) {
  std::string out;
  for (const auto& [name, value] : fields) {
    if (!out.empty())
      out += '&';
    encode_into(out, name, true);
    out += '=';
    encode_into(out, value, true);
  }
  return out;
}

std::optional<form_fields> form_decode(std::string_view body) {
  form_fields out;
  size_t pos = 0;
  while (pos <= body.size()) {
    auto amp = body.find('&', pos);
    if (amp == std::string_view::npos)
      amp = body.size();
    auto pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty())
      continue;
    auto eq = pair.find('=');
    auto name = decode_component(pair.substr(0, eq));
    auto value = eq == std::string_view::npos
                   ? std::optional<std::string>{std::string{}}
                   : decode_component(pair.substr(eq + 1));
    if (!name || !value)
      return std::nullopt;
    out.emplace_back(std::move(*name), std::move(*value));
  }
  return out;
}

std::string signature(const std::string& auth_token, const std::string& url,
                      form_fields params) {
  // Byte order, which for UTF-8 is code point order: what Twilio's
  // libraries get from sorting strings.
  std::sort(params.begin(), params.end());
  std::string data = url;
  for (const auto& [name, value] : params) {
    data += name;
    data += value;
  }
  return crypto::base64_encode(hmac_sha1(auth_token, data));
}

std::vector<std::string> url_variants(const std::string& url) {
  std::vector<std::string> out{url};
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos)
    return out;
  auto scheme = url.substr(0, scheme_end);
  std::string port = scheme == "https" ? "443" : scheme == "http" ? "80" : "";
  if (port.empty())
    return out;
  auto host_start = scheme_end + 3;
  auto host_end = url.find_first_of("/?#", host_start);
  if (host_end == std::string::npos)
    host_end = url.size();
  auto authority = url.substr(host_start, host_end - host_start);
  auto colon = authority.rfind(':');
  bool bracketed_v6 = !authority.empty() && authority.back() == ']';
  if (colon != std::string::npos && !bracketed_v6) {
    if (authority.substr(colon + 1) == port)
      out.push_back(url.substr(0, host_start) + authority.substr(0, colon)
                    + url.substr(host_end));
  } else {
    out.push_back(url.substr(0, host_end) + ":" + port + url.substr(host_end));
  }
  return out;
}

bool verify_signature(const std::string& auth_token, const std::string& url,
                      form_fields params, const std::string& signature_value) {
  bool ok = false;
  for (auto& u : url_variants(url))
    ok = crypto::constant_time_equal(signature(auth_token, u, params),
                                     signature_value)
         || ok;
  return ok;
}

} // namespace herald::twilio
