#include "http/codec.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <random>

#include "channels/crypto.hpp"

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
constexpr size_t max_parse_message_bytes = 300;

// 2000-01-01T00:00:00Z and 10000-01-01T00:00:00Z: the send_at window.
constexpr int64_t min_send_at_ms = 946684800000;
constexpr int64_t end_send_at_ms = 253402300800000;

constexpr int64_t ms_per_day = 86400000;

// -- UTF-8 --------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence at `i`, 0 if ill-formed (overlong,
// surrogate, beyond U+10FFFF or truncated), as RFC 3629 defines it.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80)
    return 1;
  size_t n;
  uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0Fu;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3Fu);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
    return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))
    return 0;
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence_length(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

// Code points of a string already known to be valid UTF-8.
size_t count_code_points(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Text from a client or a parser, made safe to echo back: ill-formed bytes
// become U+FFFD and the result is cut (at a character boundary) after
// `max_bytes`.
std::string printable_excerpt(std::string_view s, size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (out.size() >= max_bytes) {
      out += "\xE2\x80\xA6"; // …
      break;
    }
    auto n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

bool is_ascii_alnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
         || (c >= 'A' && c <= 'Z');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

// -- JSON ---------------------------------------------------------------------

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
  return "invalid JSON: " + printable_excerpt(msg, max_parse_message_bytes);
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
  return is_one_of(k, {"channel", "to", "subject", "body", "data", "priority",
                       "send_at", "provider"});
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
    if (auto v = get("subject"); v != nullptr)
      if (auto s = string_of("subject", *v))
        subject(*s);
    body();
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
    if (!channel.empty() && channel != "email") {
      fail("subject", "only allowed for channel email");
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

  void body() {
    const auto& channel = out_.n.channel;
    bool required = !channel.empty() && channel != "webhook";
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

  void data(const json& v) {
    if (!v.is_object()) {
      fail("data", "must be a JSON object");
      return;
    }
    if (!depth_within(v, max_data_depth)) {
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

// -- time ---------------------------------------------------------------------

// Howard Hinnant's days_from_civil / civil_from_days: exact for the whole
// proleptic Gregorian calendar, no time zone database, no locale.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr std::array<int, 12> days{31, 28, 31, 30, 31, 30,
                                            31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[static_cast<size_t>(m - 1)];
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// -- ids ----------------------------------------------------------------------

// xoshiro256**: fast, good enough for the random tail of an id (ids are not
// secrets; API keys use OpenSSL elsewhere).
class xoshiro256 {
public:
  xoshiro256() {
    std::random_device rd;
    for (auto& word : s_) {
      word = (uint64_t{rd()} << 32) ^ rd();
    }
    if (s_[0] == 0 && s_[1] == 0 && s_[2] == 0 && s_[3] == 0)
      s_[0] = 0x9E3779B97F4A7C15u; // the all-zero state is a fixed point
  }

  uint64_t operator()() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

private:
  static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
  }

  std::array<uint64_t, 4> s_;
};

// RFC 9562 section 6.2, method 1: a 42-bit counter in rand_a (12 bits) and
// the top of rand_b (30 bits). It starts at a random value with its top bit
// clear each new millisecond, so there is room for 2^41 ids per ms before it
// borrows the next millisecond; a clock that steps back is ignored the same
// way. (timestamp, counter) only grows, hence ids only grow.
class uuid_v7_generator {
public:
  static constexpr uint64_t counter_bits = 42;
  static constexpr uint64_t counter_max = (uint64_t{1} << counter_bits) - 1;
  static constexpr uint64_t seed_mask = (uint64_t{1} << (counter_bits - 1)) - 1;

  std::string next(int64_t now) {
    auto ms = static_cast<uint64_t>(std::max<int64_t>(now, 0))
              & 0xFFFFFFFFFFFFu;
    uint64_t stamp;
    uint64_t counter;
    uint64_t tail;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (ms > last_ms_) {
        last_ms_ = ms;
        counter_ = rng_() & seed_mask;
      } else if (++counter_ > counter_max) {
        ++last_ms_;
        counter_ = rng_() & seed_mask;
      }
      stamp = last_ms_;
      counter = counter_;
      tail = rng_() & 0xFFFFFFFFu;
    }
    const uint64_t hi = (stamp << 16) | 0x7000u | (counter >> 30);
    const uint64_t lo = (uint64_t{0b10} << 62)
                        | ((counter & ((uint64_t{1} << 30) - 1)) << 32) | tail;
    return format(hi, lo);
  }

private:
  static std::string format(uint64_t hi, uint64_t lo) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(36, '-');
    size_t pos = 0;
    auto put = [&](uint64_t word) {
      for (int shift = 60; shift >= 0; shift -= 4) {
        if (pos == 8 || pos == 13 || pos == 18 || pos == 23)
          ++pos;
        out[pos++] = digits[(word >> shift) & 0xF];
      }
    };
    put(hi);
    put(lo);
    return out;
  }

  std::mutex mtx_;
  uint64_t last_ms_ = 0;
  uint64_t counter_ = 0;
  xoshiro256 rng_;
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

nlohmann::json parse_json(std::string_view text, std::string* error) {
  return parse_json_impl<json>(text, error);
}

std::string dump_json(const nlohmann::json& j) {
  return dump_lenient(j);
}

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

std::string request_hash(const nlohmann::json& submission) {
  return crypto::sha256_hex(dump_lenient(submission));
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
  j["status"] = n.status;
  j["attempts"] = n.attempts;
  if (!n.last_error.empty())
    j["last_error"] = n.last_error;
  j["created_at"] = format_rfc3339(n.created_at_ms);
  j["updated_at"] = format_rfc3339(n.updated_at_ms);
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
  return dump_lenient(j);
}

std::string format_rfc3339(int64_t ms) {
  const int64_t days = floor_div(ms, ms_per_day);
  const int64_t in_day = ms - days * ms_per_day;
  int64_t y;
  unsigned m;
  unsigned d;
  civil_from_days(days, y, m, d);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<long long>(y), m, d,
                static_cast<int>(in_day / 3600000),
                static_cast<int>(in_day / 60000 % 60),
                static_cast<int>(in_day / 1000 % 60),
                static_cast<int>(in_day % 1000));
  return buf;
}

std::optional<int64_t> parse_rfc3339(std::string_view t) {
  size_t i = 0;
  auto number = [&](size_t digits, int& out) {
    if (i + digits > t.size())
      return false;
    int value = 0;
    for (size_t k = 0; k < digits; ++k) {
      char c = t[i + k];
      if (!is_digit(c))
        return false;
      value = value * 10 + (c - '0');
    }
    i += digits;
    out = value;
    return true;
  };
  auto literal = [&](char a, char b) {
    if (i < t.size() && (t[i] == a || t[i] == b)) {
      ++i;
      return true;
    }
    return false;
  };
  int year, month, day, hour, minute, second;
  if (!number(4, year) || !literal('-', '-') || !number(2, month)
      || !literal('-', '-') || !number(2, day) || !literal('T', 't')
      || !number(2, hour) || !literal(':', ':') || !number(2, minute)
      || !literal(':', ':') || !number(2, second))
    return std::nullopt;
  int64_t fraction_ms = 0;
  if (literal('.', '.')) {
    size_t start = i;
    int scale = 100;
    for (; i < t.size() && is_digit(t[i]); ++i) {
      fraction_ms += (t[i] - '0') * scale;
      scale /= 10; // digits past the millisecond are truncated
    }
    if (i == start)
      return std::nullopt;
  }
  int offset_minutes = 0;
  if (!literal('Z', 'z')) {
    if (i >= t.size() || (t[i] != '+' && t[i] != '-'))
      return std::nullopt;
    int sign = t[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!number(2, oh) || !literal(':', ':') || !number(2, om) || oh > 23
        || om > 59)
      return std::nullopt;
    offset_minutes = sign * (oh * 60 + om);
  }
  if (i != t.size())
    return std::nullopt;
  // Leap seconds (:60) are refused like most parsers do: no clock we
  // schedule against can represent them.
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month)
      || hour > 23 || minute > 59 || second > 59)
    return std::nullopt;
  const int64_t days = days_from_civil(year, static_cast<unsigned>(month),
                                       static_cast<unsigned>(day));
  return days * ms_per_day + int64_t{hour} * 3600000 + int64_t{minute} * 60000
         + int64_t{second} * 1000 + fraction_ms
         - int64_t{offset_minutes} * 60000;
}

std::string new_notification_id() {
  static uuid_v7_generator generator;
  return generator.next(now_ms());
}

bool is_uuid(std::string_view text) {
  if (text.size() != 36)
    return false;
  for (size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !is_hex(text[i]))
      return false;
  }
  return true;
}

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace herald
