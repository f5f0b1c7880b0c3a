#include "config/node_config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <unistd.h>

namespace herald {

namespace {

// -- value parsers ------------------------------------------------------------

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && is_space(s[b]))
    ++b;
  while (e > b && is_space(s[e - 1]))
    --e;
  return s.substr(b, e - b);
}

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9');
}

bool is_name_char(char c) {
  return is_alnum(c) || c == '-' || c == '_' || c == '.';
}

// A dotted name as CAF would accept it: starts with a letter or digit, no
// empty component.
bool is_valid_name(const std::string& s) {
  if (s.empty() || !is_alnum(s.front()) || s.back() == '.')
    return false;
  if (s.find("..") != std::string::npos)
    return false;
  return std::all_of(s.begin(), s.end(), is_name_char);
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  out += '"';
  return out;
}

// Reads a quoted string starting at s[pos] == '"' with CAF's escapes. On
// success, `pos` points past the closing quote.
std::string read_quoted(const std::string& s, size_t& pos, std::string& out) {
  out.clear();
  for (size_t i = pos + 1; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"') {
      pos = i + 1;
      return {};
    }
    if (c == '\n')
      return "string not closed before the end of the line";
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == s.size())
      break;
    switch (s[i]) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      default:
        return std::string{"unknown escape sequence \\"} + s[i]
               + " in a string (allowed: \\\" \\\\ \\n \\r \\t)";
    }
  }
  return "string not closed (missing \")";
}

std::string format_duration(millis d) {
  auto n = d.count();
  if (n != 0 && n % 3600000 == 0)
    return std::to_string(n / 3600000) + "h";
  if (n != 0 && n % 60000 == 0)
    return std::to_string(n / 60000) + "min";
  if (n != 0 && n % 1000 == 0)
    return std::to_string(n / 1000) + "s";
  return std::to_string(n) + "ms";
}

std::string format_list(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ", ";
    out += quote(xs[i]);
  }
  return out + "]";
}

// Levenshtein distance, for "did you mean" hints.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string last_component(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

} // namespace

namespace detail {

std::string parse_int(const std::string& text, int64_t& out) {
  auto s = trim(text);
  size_t i = 0;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-'))
    negative = s[i++] == '-';
  if (i == s.size())
    return "expected an integer, got " + quote(text);
  // Accumulate negatively so INT64_MIN parses too.
  int64_t acc = 0;
  constexpr auto lowest = std::numeric_limits<int64_t>::min();
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c < '0' || c > '9')
      return "expected an integer, got " + quote(text);
    int digit = c - '0';
    if (acc < (lowest + digit) / 10)
      return "integer " + s + " is too large";
    acc = acc * 10 - digit;
  }
  if (!negative) {
    if (acc == lowest)
      return "integer " + s + " is too large";
    acc = -acc;
  }
  out = acc;
  return {};
}

std::string parse_bool(const std::string& text, bool& out) {
  auto s = trim(text);
  if (s == "true") {
    out = true;
    return {};
  }
  if (s == "false") {
    out = false;
    return {};
  }
  return "expected true or false, got " + quote(text);
}

std::string parse_duration(const std::string& text, millis& out) {
  static constexpr const char* expected
    = "expected a duration such as 500ms, 30s, 5min or 1h "
      "(units: ns, us, ms, s, min, h)";
  auto s = trim(text);
  size_t unit_pos = 0;
  if (unit_pos < s.size() && (s[unit_pos] == '+' || s[unit_pos] == '-'))
    ++unit_pos;
  while (unit_pos < s.size() && s[unit_pos] >= '0' && s[unit_pos] <= '9')
    ++unit_pos;
  int64_t n = 0;
  if (!parse_int(s.substr(0, unit_pos), n).empty())
    return std::string{expected} + ", got " + quote(text);
  auto unit = s.substr(unit_pos);
  if (unit.empty())
    return "duration " + quote(text)
           + " has no unit (use ns, us, ms, s, min or h, e.g. 30s)";
  int64_t mul = 0; // ms per unit
  int64_t div = 0; // units per ms
  if (unit == "ns")
    div = 1000000;
  else if (unit == "us")
    div = 1000;
  else if (unit == "ms")
    mul = 1;
  else if (unit == "s")
    mul = 1000;
  else if (unit == "min")
    mul = 60000;
  else if (unit == "h")
    mul = 3600000;
  else
    return "unknown duration unit " + quote(unit) + " in " + quote(text)
           + " (use ns, us, ms, s, min or h)";
  if (div != 0) {
    // Herald counts in milliseconds: silently rounding 500us to 0 or 1500us
    // to 1ms would hide a mistake.
    if (n % div != 0)
      return "duration " + s + " is not a whole number of milliseconds";
    out = millis{n / div};
    return {};
  }
  if (n > std::numeric_limits<int64_t>::max() / mul
      || n < std::numeric_limits<int64_t>::min() / mul)
    return "duration " + s + " is too large";
  out = millis{n * mul};
  return {};
}

std::string parse_string(const std::string& text, bool in_file,
                         std::string& out) {
  auto s = in_file ? trim(text) : text;
  if (!s.empty() && s.front() == '"' && (in_file || s.size() >= 2)) {
    size_t pos = 0;
    std::string tmp;
    if (auto err = read_quoted(s, pos, tmp); !err.empty())
      return err;
    if (pos != s.size()) {
      if (!in_file) { // not one quoted string after all: take it literally
        out = text;
        return {};
      }
      return "unexpected text after the closing quote: " + s.substr(pos);
    }
    out = std::move(tmp);
    return {};
  }
  // Without echoing the value: it may be a password or a connection string.
  if (in_file)
    return "strings must be quoted in the config file (\"...\")";
  out = text;
  return {};
}

std::string parse_string_list(const std::string& text, bool in_file,
                              std::vector<std::string>& out) {
  auto s = trim(text);
  std::vector<std::string> result;
  if (s.empty() || s.front() != '[') {
    if (in_file)
      return "expected a list such as [\"a\", \"b\"], got " + quote(text);
    // Command line: comma-separated, each item optionally quoted.
    if (s.empty()) {
      out.clear();
      return {};
    }
    std::stringstream in{s};
    std::string item;
    while (std::getline(in, item, ',')) {
      item = trim(item);
      if (item.empty())
        return "empty item in list " + quote(text);
      std::string value;
      if (auto err = parse_string(item, false, value); !err.empty())
        return err;
      result.push_back(std::move(value));
    }
    if (s.back() == ',')
      return "empty item in list " + quote(text);
    out = std::move(result);
    return {};
  }
  // [ item, item, ... ] with an optional trailing comma, as CAF allows.
  size_t pos = 1;
  auto skip_ws = [&] {
    while (pos < s.size() && is_space(s[pos]))
      ++pos;
  };
  for (;;) {
    skip_ws();
    if (pos == s.size())
      return "list not closed (missing ])";
    if (s[pos] == ']')
      break;
    std::string value;
    if (s[pos] == '"') {
      if (auto err = read_quoted(s, pos, value); !err.empty())
        return err;
    } else if (in_file) {
      return "list items must be quoted strings, e.g. [\"a\", \"b\"]";
    } else {
      auto end = s.find_first_of(",]", pos);
      if (end == std::string::npos)
        return "list not closed (missing ])";
      value = trim(s.substr(pos, end - pos));
      if (value.empty())
        return "empty item in list " + quote(text);
      pos = end;
    }
    result.push_back(std::move(value));
    skip_ws();
    if (pos < s.size() && s[pos] == ',') {
      ++pos;
      continue;
    }
    if (pos < s.size() && s[pos] == ']')
      break;
    return "expected , or ] in list " + quote(text);
  }
  if (pos + 1 != s.size())
    return "unexpected text after the list: " + s.substr(pos + 1);
  out = std::move(result);
  return {};
}

} // namespace detail

namespace {

// -- the option table ----------------------------------------------------------

struct option_def {
  std::string name;
  std::string type;
  std::string help;
  // Parses `text` into the field; "" or the problem. Range checks included,
  // so the error can carry the file line.
  std::function<std::string(node_config&, const std::string& text,
                            bool in_file)>
    assign;
  // "" or what is wrong with the field's current value.
  std::function<std::string(const node_config&)> check;
  // The field's value as the config file would spell it.
  std::function<std::string(const node_config&)> show;
  // Overrides show() for the default in the help ("" = use show()).
  std::string fallback_text;
};

std::string range_text(int64_t lo, int64_t hi) {
  return std::to_string(lo) + ".." + std::to_string(hi);
}

// "" or why `v` is outside lo..hi.
std::string int_in_range(int64_t v, int64_t lo, int64_t hi) {
  if (v < lo || v > hi)
    return std::to_string(v) + " is out of range (" + range_text(lo, hi) + ")";
  return {};
}

// Parses an int option's value and checks its range.
std::string read_int(const std::string& text, int64_t lo, int64_t hi,
                     int64_t& out) {
  if (auto err = detail::parse_int(text, out); !err.empty())
    return err;
  return int_in_range(out, lo, hi);
}

template <class T>
option_def int_option(std::string name, T node_config::*field, int64_t lo,
                      int64_t hi, std::string help) {
  option_def d;
  d.name = std::move(name);
  d.type = "int";
  d.help = std::move(help) + " (" + range_text(lo, hi) + ")";
  d.check = [=](const node_config& cfg) {
    return int_in_range(static_cast<int64_t>(cfg.*field), lo, hi);
  };
  d.assign = [=](node_config& cfg, const std::string& text, bool) {
    int64_t v = 0;
    if (auto err = read_int(text, lo, hi, v); !err.empty())
      return err;
    cfg.*field = static_cast<T>(v);
    return std::string{};
  };
  d.show = [=](const node_config& cfg) { return std::to_string(cfg.*field); };
  return d;
}

option_def port_option(std::string name, uint16_t node_config::*field,
                       std::string help) {
  option_def d;
  d.name = std::move(name);
  d.type = "port";
  d.help = std::move(help);
  d.check = [](const node_config&) { return std::string{}; };
  d.assign = [=](node_config& cfg, const std::string& text, bool) {
    int64_t v = 0;
    if (!detail::parse_int(text, v).empty())
      return "expected a port number (0..65535), got " + quote(text);
    if (v < 0 || v > 65535)
      return "port " + std::to_string(v) + " is out of range (0..65535)";
    cfg.*field = static_cast<uint16_t>(v);
    return std::string{};
  };
  d.show = [=](const node_config& cfg) { return std::to_string(cfg.*field); };
  return d;
}

// Durations of zero make no sense for any option Herald has; the upper bound
// catches unit slips (1000h for 1000s) and keeps time arithmetic far from
// overflow.
constexpr millis max_duration{30LL * 24 * 3600 * 1000};

// "" or why a duration option cannot have the value `v`.
std::string duration_in_range(millis v) {
  if (v.count() <= 0)
    return "must be greater than zero, got " + format_duration(v);
  if (v > max_duration)
    return format_duration(v) + " is out of range (at most "
           + format_duration(max_duration) + ")";
  return {};
}

// Parses a duration option's value and checks its range; with
// `zero_inherits`, 0 (with or without a unit) is allowed too.
std::string read_duration(const std::string& text, bool zero_inherits,
                          millis& out) {
  if (zero_inherits && text == "0") {
    out = millis{0};
    return {};
  }
  if (auto err = detail::parse_duration(text, out); !err.empty())
    return err;
  if (zero_inherits && out.count() == 0)
    return {};
  return duration_in_range(out);
}

option_def duration_option(std::string name, millis node_config::*field,
                           std::string help) {
  option_def d;
  d.name = std::move(name);
  d.type = "duration";
  d.help = std::move(help);
  d.check = [=](const node_config& cfg) { return duration_in_range(cfg.*field); };
  d.assign = [=](node_config& cfg, const std::string& text, bool) {
    millis v{0};
    if (auto err = read_duration(text, false, v); !err.empty())
      return err;
    cfg.*field = v;
    return std::string{};
  };
  d.show = [=](const node_config& cfg) { return format_duration(cfg.*field); };
  return d;
}

// Like duration_option, but 0 is allowed and means "inherit" (said in help).
option_def inherit_duration_option(std::string name, millis node_config::*field,
                                   std::string help) {
  auto d = duration_option(std::move(name), field, std::move(help));
  auto check = d.check;
  d.check = [=](const node_config& cfg) {
    return (cfg.*field).count() == 0 ? std::string{} : check(cfg);
  };
  d.assign = [=](node_config& cfg, const std::string& text, bool) {
    millis v{0};
    if (auto err = read_duration(text, true, v); !err.empty())
      return err;
    cfg.*field = v;
    return std::string{};
  };
  d.show = [=](const node_config& cfg) {
    return (cfg.*field).count() == 0 ? std::string{"0"}
                                     : format_duration(cfg.*field);
  };
  return d;
}

// `valid` says what is wrong with a candidate value, or "".
option_def
string_option(std::string name, std::string node_config::*field,
              std::function<std::string(const std::string&)> valid,
              std::string help) {
  option_def d;
  d.name = std::move(name);
  d.type = "string";
  d.help = std::move(help);
  d.check = [=](const node_config& cfg) { return valid(cfg.*field); };
  d.assign = [=](node_config& cfg, const std::string& text, bool in_file) {
    std::string v;
    if (auto err = detail::parse_string(text, in_file, v); !err.empty())
      return err;
    if (auto err = valid(v); !err.empty())
      return err;
    cfg.*field = std::move(v);
    return std::string{};
  };
  d.show = [=](const node_config& cfg) { return quote(cfg.*field); };
  return d;
}

option_def
list_option(std::string name, std::vector<std::string> node_config::*field,
            std::function<std::string(const std::vector<std::string>&)> valid,
            std::string help) {
  option_def d;
  d.name = std::move(name);
  d.type = "string-list";
  d.help = std::move(help);
  d.check = [=](const node_config& cfg) { return valid(cfg.*field); };
  d.assign = [=](node_config& cfg, const std::string& text, bool in_file) {
    std::vector<std::string> v;
    if (auto err = detail::parse_string_list(text, in_file, v); !err.empty())
      return err;
    if (auto err = valid(v); !err.empty())
      return err;
    cfg.*field = std::move(v);
    return std::string{};
  };
  d.show = [=](const node_config& cfg) { return format_list(cfg.*field); };
  return d;
}

std::string any_string(const std::string&) {
  return {};
}

std::string non_empty(const std::string& s) {
  return s.empty() ? "must not be empty" : "";
}

std::string valid_log_level(const std::string& s) {
  if (s == "debug" || s == "info" || s == "warn" || s == "error")
    return {};
  return "unknown log level " + quote(s) + " (use debug, info, warn or error)";
}

std::string valid_log_format(const std::string& s) {
  if (s == "json" || s == "text")
    return {};
  return "unknown log format " + quote(s) + " (use json or text)";
}

std::string valid_db_url(const std::string& s) {
  if (trim(s).empty())
    return "missing, but required: a node never runs without its database "
           "(set url = \"postgresql://...\" under [herald.db] or pass "
           "--herald.db.url=...)";
  return {};
}

std::string valid_roles(const std::vector<std::string>& roles) {
  if (roles.empty())
    return "needs at least one role (ingest, worker)";
  for (size_t i = 0; i < roles.size(); ++i) {
    if (roles[i] != "ingest" && roles[i] != "worker")
      return "unknown role " + quote(roles[i]) + " (use ingest, worker)";
    if (std::find(roles.begin(), roles.begin() + i, roles[i])
        != roles.begin() + i)
      return "role " + quote(roles[i]) + " is listed twice";
  }
  return {};
}

// One "host:port" address of a node: "" or what is wrong, after the quoted
// address (the caller says whose address it is).
std::string valid_address(const std::string& addr) {
  auto colon = addr.rfind(':');
  auto bad = quote(addr) + " is not \"host:port\"";
  if (colon == std::string::npos || colon == 0)
    return bad;
  int64_t port = 0;
  if (!detail::parse_int(addr.substr(colon + 1), port).empty()
      || addr.substr(colon + 1).find_first_of("+- ") != std::string::npos)
    return bad;
  if (port < 1 || port > 65535)
    return quote(addr) + " has port out of range (1..65535)";
  return {};
}

std::string valid_seeds(const std::vector<std::string>& seeds) {
  for (auto& seed : seeds)
    if (auto err = valid_address(seed); !err.empty())
      return "seed " + err;
  return {};
}

std::string valid_advertise(const std::string& s) {
  if (s.empty())
    return {}; // herald.cluster.host:herald.cluster.port
  if (auto err = valid_address(s); !err.empty())
    return "address " + err;
  return {};
}

// Goes into CAF's middleman.app-identifiers next to the protocol version.
std::string valid_cluster_name(const std::string& s) {
  if (s.empty() || s.size() > 64
      || !std::all_of(s.begin(), s.end(), is_name_char))
    return "cluster name " + quote(s)
           + " must be 1..64 letters, digits, '-', '_' or '.'";
  return {};
}

std::vector<option_def> make_options() {
  using c = node_config;
  std::vector<option_def> xs;
  auto add = [&](option_def d) { xs.push_back(std::move(d)); };
  add(string_option("herald.node.name", &c::node_name, non_empty,
                    "unique name of this node in the cluster"));
  xs.back().fallback_text = "host name";
  add(list_option("herald.node.roles", &c::roles, valid_roles,
                  "services this node runs: ingest (REST API), worker "
                  "(delivery)"));
  add(string_option("herald.api.host", &c::api_host, non_empty,
                    "address the REST ingestion API listens on"));
  add(port_option("herald.api.port", &c::api_port,
                  "port of the REST ingestion API (0 = pick a free port)"));
  add(int_option("herald.api.threads", &c::api_threads, 1, 4096,
                 "HTTP threads, one per open connection"));
  add(int_option("herald.api.ingest-actors", &c::api_ingest_actors, 1, 256,
                 "ingest actors that run the submission protocol (auth, "
                 "limiter, idempotency, group commit) for the HTTP threads"));
  add(int_option("herald.api.max-body-bytes", &c::api_max_body_bytes, 1024,
                 int64_t{1} << 30,
                 "largest request body accepted; larger ones get 413"));
  add(duration_option("herald.api.request-timeout", &c::api_request_timeout,
                      "time limit for answering one REST request"));
  add(int_option("herald.api.max-batch-bytes", &c::api_max_batch_bytes, 1024,
                 int64_t{1} << 30,
                 "largest body of POST /v1/notifications/batch; larger get 413"));
  add(int_option("herald.api.max-batch-items", &c::api_max_batch_items, 1,
                 100000, "most items in one batch submission; more get 422"));
  add(string_option("herald.admin.host", &c::admin_host, non_empty,
                    "address the admin endpoint listens on"));
  add(port_option("herald.admin.port", &c::admin_port,
                  "port of the admin endpoint (0 = pick a free port)"));
  add(string_option("herald.admin.token", &c::admin_token, any_string,
                    "bearer token for /admin (\"\" = admin endpoint off)"));
  add(string_option("herald.db.url", &c::db_url, valid_db_url,
                    "PostgreSQL: libpq connection string or URI (required)"));
  xs.back().fallback_text = "none (required)";
  add(int_option("herald.db.workers", &c::db_workers, 1, 256,
                 "database connections for reads and status updates"));
  add(int_option("herald.db.writers", &c::db_writers, 1, 64,
                 "group-commit connections that make accepted work durable"));
  add(int_option("herald.db.max-batch", &c::db_max_batch, 1, 100000,
                 "most rows written by one group commit"));
  add(int_option("herald.db.parallel-rows", &c::db_parallel_rows, 1, 1000000,
                 "rows waiting before a second group commit runs beside one "
                 "in flight"));
  add(port_option("herald.cluster.port", &c::cluster_port,
                  "port this node publishes on for other nodes "
                  "(0 = single node)"));
  add(list_option("herald.cluster.seeds", &c::cluster_seeds, valid_seeds,
                  "\"host:port\" of other nodes to join"));
  add(string_option("herald.cluster.host", &c::cluster_host, non_empty,
                    "address the cluster port binds to"));
  add(string_option("herald.cluster.advertise", &c::cluster_advertise,
                    valid_advertise,
                    "\"host:port\" other nodes use to reach this node (\"\" = "
                    "herald.cluster.host:herald.cluster.port; set it when "
                    "binding 0.0.0.0 or behind NAT)"));
  add(string_option("herald.cluster.name", &c::cluster_name,
                    valid_cluster_name,
                    "nodes only join nodes with the same cluster name "
                    "(1..64 letters, digits, '-', '_', '.')"));
  add(duration_option("herald.cluster.heartbeat-interval",
                      &c::cluster_heartbeat_interval,
                      "how often nodes send heartbeats to each other "
                      "(at least 10ms)"));
  add(duration_option("herald.cluster.connection-timeout",
                      &c::cluster_connection_timeout,
                      "a peer silent this long is down and its leases are "
                      "taken over (at least twice the heartbeat interval)"));
  add(duration_option("herald.cluster.reconnect-max-delay",
                      &c::cluster_reconnect_max_delay,
                      "cap of the backoff between reconnection attempts to a "
                      "seed or a peer that is down (at least 100ms)"));
  add(int_option("herald.cluster.virtual-nodes", &c::cluster_virtual_nodes, 1,
                 4096, "points per node on the ownership ring"));
  add(duration_option("herald.delivery.lease-ttl", &c::lease_ttl,
                      "how long a node owns claimed work before another node "
                      "may take it over"));
  add(int_option("herald.delivery.queue-capacity", &c::queue_capacity, 1,
                 10000000, "notifications held in memory per node"));
  add(duration_option("herald.delivery.sweep-interval", &c::sweep_interval,
                      "how often due and orphaned work is picked up from the "
                      "database"));
  add(int_option("herald.channels.webhook.pool-size", &c::webhook_pool_size, 1,
                 4096, "concurrent deliveries (senders) per webhook endpoint"));
  add(duration_option("herald.channels.webhook.timeout", &c::webhook_timeout,
                      "time limit of one webhook delivery attempt"));
  add(duration_option("herald.channels.webhook.provider-idle-timeout",
                      &c::webhook_provider_idle_timeout,
                      "an endpoint's supervisor (breaker, senders) stops after "
                      "this long without work"));
  add(inherit_duration_option("herald.channels.webhook.retry.base-delay",
                              &c::webhook_retry_base_delay,
                              "webhook override of herald.retry.base-delay "
                              "(0 = inherit)"));
  add(inherit_duration_option("herald.channels.webhook.retry.max-delay",
                              &c::webhook_retry_max_delay,
                              "webhook override of herald.retry.max-delay "
                              "(0 = inherit)"));
  add(int_option("herald.channels.webhook.retry.max-attempts",
                 &c::webhook_retry_max_attempts, 0, 1000,
                 "webhook override of herald.retry.max-attempts (0 = inherit)"));
  add(duration_option("herald.retry.base-delay", &c::retry_base_delay,
                      "first retry delay; doubles per attempt, full jitter"));
  add(duration_option("herald.retry.max-delay", &c::retry_max_delay,
                      "upper bound of one retry delay"));
  add(int_option("herald.retry.max-attempts", &c::retry_max_attempts, 1, 1000,
                 "delivery attempts before a notification is dead-lettered"));
  add(duration_option("herald.retry.horizon", &c::retry_horizon,
                      "work due within this long is held on timers in memory; "
                      "later work waits in the database"));
  add(int_option("herald.breaker.failure-threshold",
                 &c::breaker_failure_threshold, 1, 1000000,
                 "consecutive failures that open a provider's breaker while "
                 "its window holds fewer than min-calls calls"));
  add(duration_option("herald.breaker.open-timeout", &c::breaker_open_timeout,
                      "how long an open breaker rejects before it probes"));
  add(int_option("herald.breaker.half-open-probes",
                 &c::breaker_half_open_probes, 1, 1000,
                 "trial deliveries let through while half-open"));
  add(int_option("herald.breaker.failure-rate", &c::breaker_failure_rate, 1,
                 100,
                 "failure percentage in the window that opens a breaker "
                 "once the window holds min-calls calls (then runs of "
                 "failures do not count)"));
  add(int_option("herald.breaker.min-calls", &c::breaker_min_calls, 1, 1000000,
                 "calls in the window from which the failure rate decides "
                 "instead of the consecutive failures"));
  add(duration_option("herald.breaker.window", &c::breaker_window,
                      "sliding window of the failure rate"));
  add(duration_option("herald.breaker.max-open-timeout",
                      &c::breaker_max_open_timeout,
                      "cap of the open timeout, which doubles on each failed "
                      "probe"));
  add(int_option("herald.supervisor.max-restarts", &c::supervisor_max_restarts,
                 1, 1000000,
                 "restarts of children within the restart window before a "
                 "supervisor gives up and escalates"));
  add(duration_option("herald.supervisor.restart-window",
                      &c::supervisor_restart_window,
                      "window of herald.supervisor.max-restarts"));
  add(int_option("herald.dlq.replay-rate", &c::dlq_replay_rate, 1, 100000,
                 "notifications per second a DLQ replay re-enqueues"));
  add(int_option("herald.tenants.default-rate", &c::tenant_default_rate, 1,
                 10000000,
                 "accepted notifications per second, for tenants without "
                 "their own rate"));
  add(int_option("herald.tenants.default-burst", &c::tenant_default_burst, 1,
                 100000000,
                 "token bucket size, for tenants without their own burst"));
  add(duration_option("herald.tenants.limiter-idle-timeout",
                      &c::limiter_idle_timeout,
                      "an unused, full rate limiter actor stops after this"));
  add(duration_option("herald.idempotency.retention", &c::idempotency_retention,
                      "how long an Idempotency-Key is remembered, for tenants "
                      "without their own retention (at least 24h)"));
  add(int_option("herald.idempotency.shards", &c::idempotency_shards, 1, 1024,
                 "idempotency guard actors (keys are spread by hash)"));
  add(duration_option("herald.idempotency.purge-interval",
                      &c::idempotency_purge_interval,
                      "how often expired keys are forgotten in the database"));
  add(string_option("herald.log.level", &c::log_level, valid_log_level,
                    "debug, info, warn or error"));
  add(string_option("herald.log.format", &c::log_format, valid_log_format,
                    "json (one object per line) or text"));
  add(int_option("herald.scheduler.threads", &c::scheduler_threads, 0, 1024,
                 "CAF scheduler threads, 0 = CAF's default (cores, at least 4)"));
  return xs;
}

const std::vector<option_def>& options() {
  static const auto xs = make_options();
  return xs;
}

// -- provider and channel options ------------------------------------------------

// One option of a named provider (S = provider_config) or of a provider
// channel (S = channel_config), relative to its prefix.
template <class S>
struct sub_option {
  std::string key;   // e.g. "url", "breaker.failure-threshold"
  std::string type;
  std::string help;
  std::string fallback;
  std::vector<std::string> kinds; // provider kinds it applies to; empty = all
  std::function<std::string(S&, const std::string& text, bool in_file)> assign;
};

template <class S>
sub_option<S> sub_string(std::string key, std::string S::*field,
                         std::function<std::string(const std::string&)> valid,
                         std::vector<std::string> kinds, std::string fallback,
                         std::string help) {
  sub_option<S> o{std::move(key), "string", std::move(help),
                  std::move(fallback), std::move(kinds), {}};
  o.assign = [=](S& x, const std::string& text, bool in_file) {
    std::string v;
    if (auto err = detail::parse_string(text, in_file, v); !err.empty())
      return err;
    if (auto err = valid(v); !err.empty())
      return err;
    x.*field = std::move(v);
    return std::string{};
  };
  return o;
}

template <class S>
sub_option<S> sub_bool(std::string key, bool S::*field,
                       std::vector<std::string> kinds, std::string fallback,
                       std::string help) {
  sub_option<S> o{std::move(key), "bool", std::move(help), std::move(fallback),
                  std::move(kinds), {}};
  o.assign = [=](S& x, const std::string& text, bool) {
    bool v = false;
    if (auto err = detail::parse_bool(text, v); !err.empty())
      return err;
    x.*field = v;
    return std::string{};
  };
  return o;
}

template <class S>
sub_option<S> sub_int(std::string key, int S::*field, int64_t lo, int64_t hi,
                      std::vector<std::string> kinds, std::string fallback,
                      std::string help) {
  sub_option<S> o{std::move(key), "int",
                  std::move(help) + " (" + range_text(lo, hi) + ")",
                  std::move(fallback), std::move(kinds), {}};
  o.assign = [=](S& x, const std::string& text, bool) {
    int64_t v = 0;
    if (auto err = read_int(text, lo, hi, v); !err.empty())
      return err;
    x.*field = static_cast<int>(v);
    return std::string{};
  };
  return o;
}

// `zero_inherits`: 0 is allowed and means "inherit".
template <class S>
sub_option<S> sub_duration(std::string key, millis S::*field,
                           bool zero_inherits, std::vector<std::string> kinds,
                           std::string fallback, std::string help) {
  sub_option<S> o{std::move(key), "duration", std::move(help),
                  std::move(fallback), std::move(kinds), {}};
  o.assign = [=](S& x, const std::string& text, bool) {
    millis v{0};
    if (auto err = read_duration(text, zero_inherits, v); !err.empty())
      return err;
    x.*field = v;
    return std::string{};
  };
  return o;
}

std::string valid_kind(const std::string& s) {
  if (s == "smtp" || s == "twilio" || s == "fcm" || s == "webpush")
    return {};
  return "unknown provider kind " + quote(s)
         + " (use smtp, twilio, fcm or webpush)";
}

std::string valid_smtp_url(const std::string& s) {
  if (s.rfind("smtp://", 0) == 0 || s.rfind("smtps://", 0) == 0)
    return s.find_first_of(" \t\r\n") == std::string::npos
             ? std::string{}
             : "must not contain white space";
  return quote(s) + " is not an smtp:// or smtps:// URL";
}

std::string valid_http_url(const std::string& s) {
  if (s.empty() || s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0)
    return s.find_first_of(" \t\r\n") == std::string::npos
             ? std::string{}
             : "must not contain white space";
  return quote(s) + " is not an http:// or https:// URL";
}

std::string valid_vapid_subject(const std::string& s) {
  if (s.empty() || s.rfind("mailto:", 0) == 0 || s.rfind("https://", 0) == 0)
    return {};
  return quote(s) + " is neither a mailto: nor an https: URL (RFC 8292)";
}

const std::vector<sub_option<provider_config>>& provider_options() {
  using p = provider_config;
  static const std::vector<sub_option<provider_config>> xs = [] {
    std::vector<sub_option<provider_config>> v;
    const std::vector<std::string> all;
    const std::vector<std::string> smtp{"smtp"};
    const std::vector<std::string> twilio{"twilio"};
    const std::vector<std::string> fcm{"fcm"};
    const std::vector<std::string> webpush{"webpush"};
    const std::vector<std::string> http{"twilio", "fcm"};
    v.push_back(sub_string<p>("kind", &p::kind, valid_kind, all, "none (required)",
                              "smtp, twilio, fcm or webpush"));
    v.push_back(sub_string<p>("url", &p::url, valid_smtp_url, smtp, "none (required)",
                              "SMTP server: smtp://host:port, smtps:// = implicit TLS"));
    v.push_back(sub_bool<p>("starttls", &p::starttls, smtp, "false",
                            "require STARTTLS before AUTH and MAIL"));
    v.push_back(sub_string<p>("username", &p::username, any_string, smtp, "\"\"",
                              "SMTP AUTH user (\"\" = no AUTH)"));
    v.push_back(sub_string<p>("password", &p::password, any_string, smtp, "\"\"",
                              "SMTP AUTH password"));
    v.push_back(sub_string<p>("from", &p::from, any_string,
                              {"smtp", "twilio"}, "none (required)",
                              "sender: email From (tenants may override) or the "
                              "SMS number"));
    v.push_back(sub_string<p>("reply-to", &p::reply_to, any_string, smtp, "\"\"",
                              "email Reply-To (tenants may override)"));
    v.push_back(sub_bool<p>("tls-verify", &p::tls_verify, smtp, "true",
                            "check the SMTP server's certificate"));
    v.push_back(sub_string<p>("ca-file", &p::ca_file, any_string, smtp, "\"\"",
                              "CA bundle for the SMTP server (\"\" = system)"));
    v.push_back(sub_string<p>("base-url", &p::base_url, valid_http_url, http,
                              "the real service",
                              "API base URL (https://api.twilio.com, "
                              "https://fcm.googleapis.com)"));
    v.push_back(sub_string<p>("account-sid", &p::account_sid, any_string, twilio,
                              "none (required)", "Twilio account SID"));
    v.push_back(sub_string<p>("auth-token", &p::auth_token, any_string, twilio,
                              "none (required)",
                              "Twilio auth token (basic auth, callback signatures)"));
    v.push_back(sub_string<p>("status-callback", &p::status_callback,
                              valid_http_url, twilio, "\"\"",
                              "public URL of POST /v1/receipts/twilio/NAME "
                              "(\"\" = no delivery receipts)"));
    v.push_back(sub_string<p>("project", &p::project, any_string, fcm,
                              "none (required)", "FCM project id"));
    v.push_back(sub_string<p>("token", &p::token, any_string, fcm,
                              "none (required)", "FCM OAuth 2 bearer token"));
    v.push_back(sub_string<p>("vapid-private-key-file", &p::vapid_private_key_file,
                              any_string, webpush, "none (required)",
                              "PEM file of the VAPID P-256 private key"));
    v.push_back(sub_string<p>("vapid-subject", &p::vapid_subject,
                              valid_vapid_subject, webpush, "none (required)",
                              "VAPID contact: mailto: or https: URL"));
    v.push_back(sub_duration<p>("ttl", &p::ttl, false, webpush, "24h",
                                "Web Push TTL: how long the push service keeps "
                                "an undelivered message"));
    v.push_back(sub_int<p>("rate-per-sec", &p::rate_per_sec, 0, 10000000, all,
                           "0", "outbound quota in calls per second, 0 = none"));
    v.push_back(sub_int<p>("burst", &p::burst, 0, 10000000, all, "0",
                           "quota bucket size, 0 = rate-per-sec"));
    v.push_back(sub_int<p>("pool-size", &p::pool_size, 0, 4096, all, "0",
                           "concurrent senders (connections) to the provider, "
                           "0 = the kind's default: 16 for smtp (each message "
                           "waits out four SMTP round trips), 8 for the others"));
    v.push_back(sub_duration<p>("timeout", &p::timeout, false, all, "10s",
                                "time limit of one call"));
    v.push_back(sub_string<p>("receipt-secret", &p::receipt_secret, any_string,
                              smtp, "\"\"",
                              "shared secret of POST /v1/receipts/ses/NAME "
                              "(\"\" = receipts refused)"));
    v.push_back(sub_int<p>("breaker.failure-threshold",
                           &p::breaker_failure_threshold, 0, 1000000, all, "0",
                           "override of herald.breaker.failure-threshold, 0 = inherit"));
    v.push_back(sub_duration<p>("breaker.open-timeout", &p::breaker_open_timeout,
                                true, all, "0",
                                "override of herald.breaker.open-timeout, 0 = inherit"));
    v.push_back(sub_int<p>("breaker.half-open-probes",
                           &p::breaker_half_open_probes, 0, 1000, all, "0",
                           "override of herald.breaker.half-open-probes, 0 = inherit"));
    v.push_back(sub_int<p>("breaker.failure-rate", &p::breaker_failure_rate, 0,
                           100, all, "0",
                           "override of herald.breaker.failure-rate, 0 = inherit"));
    v.push_back(sub_int<p>("breaker.min-calls", &p::breaker_min_calls, 0,
                           1000000, all, "0",
                           "override of herald.breaker.min-calls, 0 = inherit"));
    v.push_back(sub_duration<p>("retry.base-delay", &p::retry_base_delay, true,
                                all, "0",
                                "override of the channel's retry base delay, "
                                "0 = inherit"));
    v.push_back(sub_duration<p>("retry.max-delay", &p::retry_max_delay, true,
                                all, "0",
                                "override of the channel's retry max delay, "
                                "0 = inherit"));
    v.push_back(sub_int<p>("retry.max-attempts", &p::retry_max_attempts, 0,
                           1000, all, "0",
                           "override of the channel's max attempts, 0 = inherit"));
    return v;
  }();
  return xs;
}

const std::vector<sub_option<channel_config>>& channel_options() {
  using ch = channel_config;
  static const std::vector<sub_option<channel_config>> xs = [] {
    std::vector<sub_option<channel_config>> v;
    sub_option<ch> list{"providers", "string-list",
                        "named providers of the channel, in fail-over order",
                        "[]", {}, {}};
    list.assign = [](ch& x, const std::string& text, bool in_file) {
      std::vector<std::string> names;
      if (auto err = detail::parse_string_list(text, in_file, names);
          !err.empty())
        return err;
      x.providers = std::move(names);
      return std::string{};
    };
    v.push_back(std::move(list));
    v.push_back(sub_duration<ch>("retry.base-delay", &ch::retry_base_delay,
                                 true, {}, "0",
                                 "override of herald.retry.base-delay, 0 = inherit"));
    v.push_back(sub_duration<ch>("retry.max-delay", &ch::retry_max_delay, true,
                                 {}, "0",
                                 "override of herald.retry.max-delay, 0 = inherit"));
    v.push_back(sub_int<ch>("retry.max-attempts", &ch::retry_max_attempts, 0,
                            1000, {}, "0",
                            "override of herald.retry.max-attempts, 0 = inherit"));
    return v;
  }();
  return xs;
}

// A provider's name: letters, digits, '-' and '_' (it is a path segment of
// the receipt routes and a metric label).
bool is_provider_name(const std::string& s) {
  return !s.empty() && s.size() <= 64
         && std::all_of(s.begin(), s.end(), [](char c) {
              return is_alnum(c) || c == '-' || c == '_';
            });
}

// herald.providers.NAME.KEY and herald.channels.{email,sms,push}.KEY as an
// option_def of their own; nullopt for any other name. Which keys a provider
// set is recorded, so validate() can refuse options of another kind.
std::optional<option_def> dynamic_option(const std::string& name) {
  static const std::string providers = "herald.providers.";
  static const std::string channels = "herald.channels.";
  auto split = [&](const std::string& prefix, std::string& head,
                   std::string& key) {
    if (name.compare(0, prefix.size(), prefix) != 0)
      return false;
    auto rest = name.substr(prefix.size());
    auto dot = rest.find('.');
    if (dot == std::string::npos)
      return false;
    head = rest.substr(0, dot);
    key = rest.substr(dot + 1);
    return true;
  };
  std::string head;
  std::string key;
  if (split(providers, head, key) && is_provider_name(head)) {
    for (auto& o : provider_options()) {
      if (o.key != key)
        continue;
      option_def d;
      d.name = name;
      d.type = o.type;
      d.help = o.help;
      auto assign = o.assign;
      d.assign = [head, key, assign](node_config& cfg, const std::string& text,
                                     bool in_file) {
        auto& pc = cfg.providers[head];
        pc.name = head;
        if (auto err = assign(pc, text, in_file); !err.empty())
          return err;
        if (std::find(pc.keys_set.begin(), pc.keys_set.end(), key)
            == pc.keys_set.end())
          pc.keys_set.push_back(key);
        return std::string{};
      };
      d.check = [](const node_config&) { return std::string{}; };
      d.show = [](const node_config&) { return std::string{}; };
      return d;
    }
    return std::nullopt;
  }
  auto& served = provider_channels();
  if (split(channels, head, key)
      && std::find(served.begin(), served.end(), head) != served.end()) {
    for (auto& o : channel_options()) {
      if (o.key != key)
        continue;
      option_def d;
      d.name = name;
      d.type = o.type;
      d.help = o.help;
      auto assign = o.assign;
      d.assign = [head, assign](node_config& cfg, const std::string& text,
                                bool in_file) {
        return assign(cfg.channels[head], text, in_file);
      };
      d.check = [](const node_config&) { return std::string{}; };
      d.show = [](const node_config&) { return std::string{}; };
      return d;
    }
  }
  return std::nullopt;
}

// The option named `name`: one of the table or of a provider or channel.
std::optional<option_def> find_option(const std::string& name) {
  for (auto& d : options())
    if (d.name == name)
      return d;
  return dynamic_option(name);
}

// Problems of the providers and provider channels, one line each, naming the
// option.
void validate_providers(const node_config& cfg,
                        std::vector<std::string>& errors) {
  auto opt = [](const std::string& provider, const std::string& key) {
    return "herald.providers." + provider + "." + key;
  };
  std::map<std::string, std::string> used_by; // provider → channel
  for (auto& [channel, cc] : cfg.channels) {
    auto list = "herald.channels." + channel + ".providers";
    for (size_t i = 0; i < cc.providers.size(); ++i) {
      auto& name = cc.providers[i];
      if (std::find(cc.providers.begin(), cc.providers.begin() + i, name)
          != cc.providers.begin() + i) {
        errors.push_back(list + ": provider " + quote(name) + " is listed twice");
        continue;
      }
      auto i_p = cfg.providers.find(name);
      if (i_p == cfg.providers.end()) {
        errors.push_back(list + ": unknown provider " + quote(name)
                         + " (define it under [herald.providers." + name + "])");
        continue;
      }
      if (!i_p->second.kind.empty() && !kind_serves(i_p->second.kind, channel))
        errors.push_back(list + ": provider " + quote(name) + " is of kind "
                         + i_p->second.kind + ", which cannot deliver "
                         + channel);
      if (auto j = used_by.find(name); j != used_by.end() && j->second != channel)
        errors.push_back(list + ": provider " + quote(name)
                         + " already serves channel " + j->second);
      used_by.emplace(name, channel);
    }
  }
  for (auto& [name, pc] : cfg.providers) {
    if (pc.kind.empty()) {
      errors.push_back(opt(name, "kind")
                       + ": missing (smtp, twilio, fcm or webpush)");
      continue;
    }
    for (auto& key : pc.keys_set) {
      for (auto& o : provider_options()) {
        if (o.key != key || o.kinds.empty())
          continue;
        if (std::find(o.kinds.begin(), o.kinds.end(), pc.kind) == o.kinds.end())
          errors.push_back(opt(name, key) + ": not an option of a " + pc.kind
                           + " provider");
      }
    }
    auto need = [&](const std::string& key, const std::string& value) {
      if (value.empty())
        errors.push_back(opt(name, key) + ": missing, but required for a "
                         + pc.kind + " provider");
    };
    if (pc.kind == "smtp") {
      need("url", pc.url);
      need("from", pc.from);
      if (pc.starttls && pc.url.rfind("smtps://", 0) == 0)
        errors.push_back(opt(name, "starttls")
                         + ": an smtps:// URL is TLS from the start; "
                           "STARTTLS is for smtp:// URLs");
      if (!pc.password.empty() && pc.username.empty())
        errors.push_back(opt(name, "username")
                         + ": missing, but a password is set");
    } else if (pc.kind == "twilio") {
      need("account-sid", pc.account_sid);
      need("auth-token", pc.auth_token);
      need("from", pc.from);
    } else if (pc.kind == "fcm") {
      need("project", pc.project);
      need("token", pc.token);
    } else if (pc.kind == "webpush") {
      need("vapid-private-key-file", pc.vapid_private_key_file);
      need("vapid-subject", pc.vapid_subject);
    }
    if (pc.retry_base_delay.count() > 0 && pc.retry_max_delay.count() > 0
        && pc.retry_base_delay > pc.retry_max_delay)
      errors.push_back(opt(name, "retry.base-delay")
                       + " must not exceed " + opt(name, "retry.max-delay"));
    if (used_by.count(name) == 0)
      errors.push_back("herald.providers." + name
                       + ": no channel lists this provider (add it to "
                         "herald.channels.CHANNEL.providers)");
  }
}

// "unknown option X (did you mean Y?)": the closest name within three edits,
// else the only option whose last component matches (`[db] url` → herald.db.url).
std::string unknown_option(const std::string& name, const std::string& prefix) {
  // Under a provider or provider channel: the closest key of its kind.
  for (auto [head, keys] :
       {std::pair{std::string{"herald.providers."}, 0},
        std::pair{std::string{"herald.channels."}, 1}}) {
    if (name.compare(0, head.size(), head) != 0)
      continue;
    auto rest = name.substr(head.size());
    auto dot = rest.find('.');
    if (dot == std::string::npos)
      break;
    auto owner = rest.substr(0, dot);
    auto key = rest.substr(dot + 1);
    if (keys == 0 && !is_provider_name(owner))
      return "unknown option " + prefix + name + " (a provider name has only "
             "letters, digits, - and _)";
    if (keys == 1 && owner == "webhook")
      break;
    std::vector<std::string> known;
    if (keys == 0)
      for (auto& o : provider_options())
        known.push_back(o.key);
    else
      for (auto& o : channel_options())
        known.push_back(o.key);
    if (keys == 1) {
      auto& served = provider_channels();
      if (std::find(served.begin(), served.end(), owner) == served.end())
        return "unknown option " + prefix + name
               + " (channels are email, sms, push and webhook)";
    }
    std::string best;
    size_t best_distance = 4;
    for (auto& k : known)
      if (auto dist = edit_distance(key, k); dist < best_distance) {
        best = k;
        best_distance = dist;
      }
    auto out = "unknown option " + prefix + name;
    if (!best.empty())
      return out + " (did you mean " + prefix + head + owner + "." + best + "?)";
    return out + " (see herald --help: Channels and providers)";
  }
  const option_def* best = nullptr;
  size_t best_distance = 4;
  for (auto& d : options()) {
    auto dist = edit_distance(name, d.name);
    if (dist < best_distance) {
      best = &d;
      best_distance = dist;
    }
  }
  if (best == nullptr) {
    auto last = last_component(name);
    for (auto& d : options()) {
      if (last_component(d.name) != last)
        continue;
      if (best != nullptr) {
        best = nullptr;
        break;
      }
      best = &d;
    }
  }
  std::string out = "unknown option " + prefix + name;
  if (best != nullptr)
    out += " (did you mean " + prefix + best->name + "?)";
  return out;
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0)
    return {};
  return buf;
}

std::string join_lines(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty())
      out += '\n';
    out += x;
  }
  return out;
}

// -- INI reader -----------------------------------------------------------------

// Reads CAF 0.17's INI dialect, limited to what Herald's options use, and
// reports every problem with its line instead of skipping it.
class ini_reader {
public:
  ini_reader(node_config& cfg, const std::string& text, std::string origin)
    : cfg_(cfg), text_(text), origin_(std::move(origin)) {
    // Windows line ends: the '\r' would otherwise end up in values.
    text_.erase(std::remove(text_.begin(), text_.end(), '\r'), text_.end());
  }

  std::vector<std::string> run() {
    while (pos_ < text_.size()) {
      skip_blanks();
      if (pos_ == text_.size())
        break;
      char c = text_[pos_];
      if (c == '\n') {
        next_line();
      } else if (c == ';' || c == '#') {
        skip_line();
      } else if (c == '[') {
        section_line();
      } else {
        key_line();
      }
    }
    return std::move(errors_);
  }

private:
  void skip_blanks() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t'))
      ++pos_;
  }

  void next_line() {
    ++pos_;
    ++line_;
  }

  // Skips the rest of the line including its '\n'.
  void skip_line() {
    while (pos_ < text_.size() && text_[pos_] != '\n')
      ++pos_;
    if (pos_ < text_.size())
      next_line();
  }

  bool at_line_end() const {
    return pos_ == text_.size() || text_[pos_] == '\n' || text_[pos_] == ';'
           || text_[pos_] == '#';
  }

  void fail(int line, const std::string& what) {
    errors_.push_back(origin_ + ":" + std::to_string(line) + ": " + what);
  }

  // After a header or value only blanks and a comment may follow.
  bool expect_line_end(int line, const std::string& what) {
    skip_blanks();
    if (at_line_end()) {
      skip_line();
      return true;
    }
    fail(line, "unexpected text after " + what + ": "
                 + text_.substr(pos_, text_.find('\n', pos_) - pos_));
    skip_line();
    return false;
  }

  void section_line() {
    int line = line_;
    auto close = text_.find_first_of("]\n", pos_);
    if (close == std::string::npos || text_[close] != ']') {
      fail(line, "malformed section header (missing ])");
      skip_line();
      return;
    }
    auto name = trim(text_.substr(pos_ + 1, close - pos_ - 1));
    pos_ = close + 1;
    if (!is_valid_name(name)) {
      fail(line, "malformed section name " + quote(name)
                   + " (expected e.g. [herald.db])");
      // Its keys would only repeat the error as unknown options.
      bad_section_ = true;
      skip_line();
      return;
    }
    section_ = name;
    bad_section_ = false;
    expect_line_end(line, "the section header");
  }

  void key_line() {
    int line = line_;
    auto start = pos_;
    while (pos_ < text_.size() && is_name_char(text_[pos_]))
      ++pos_;
    auto key = text_.substr(start, pos_ - start);
    skip_blanks();
    if (key.empty() || pos_ == text_.size() || text_[pos_] != '=') {
      auto end = text_.find('\n', start);
      fail(line, "malformed line (expected key = value): "
                   + text_.substr(start, end - start));
      skip_line();
      return;
    }
    ++pos_; // '='
    if (!is_valid_name(key)) {
      fail(line, "malformed key " + quote(key));
      skip_line();
      return;
    }
    skip_blanks();
    auto name = section_.empty() ? key : section_ + "." + key;
    if (at_line_end()) {
      fail(line, name + ": missing value");
      skip_line();
      return;
    }
    std::string raw;
    if (!scan_value(line, name, raw)) {
      skip_line();
      return;
    }
    if (!expect_line_end(line, "the value of " + name))
      return;
    if (bad_section_)
      return;
    if (section_.empty()) {
      fail(line, "key " + quote(key)
                   + " is outside of any section (put it under a "
                     "[section] header, e.g. [herald.db])");
      return;
    }
    apply(line, name, raw);
  }

  // Reads one value: a quoted string, a list (may span lines, may hold
  // comments) or a bare token (numbers, bools, durations).
  bool scan_value(int line, const std::string& name, std::string& raw) {
    char c = text_[pos_];
    if (c == '"') {
      std::string ignored;
      auto start = pos_;
      if (auto err = read_quoted(text_, pos_, ignored); !err.empty()) {
        fail(line, name + ": " + err);
        return false;
      }
      raw = text_.substr(start, pos_ - start);
      return true;
    }
    if (c == '[') {
      raw = "[";
      ++pos_;
      while (pos_ < text_.size()) {
        char x = text_[pos_];
        if (x == ']') {
          raw += x;
          ++pos_;
          return true;
        }
        if (x == '"') {
          std::string ignored;
          auto start = pos_;
          if (auto err = read_quoted(text_, pos_, ignored); !err.empty()) {
            fail(line_, name + ": " + err);
            return false;
          }
          raw += text_.substr(start, pos_ - start);
          continue;
        }
        if (x == ';' || x == '#') {
          while (pos_ < text_.size() && text_[pos_] != '\n')
            ++pos_;
          continue;
        }
        if (x == '\n') {
          // A section header below a list without its ']' would otherwise
          // close it; report the list and keep the header.
          auto next = text_.find_first_not_of(" \t", pos_ + 1);
          if (next != std::string::npos && text_[next] == '[') {
            fail(line, name + ": list not closed (missing ])");
            return false;
          }
          ++line_;
        }
        raw += x;
        ++pos_;
      }
      fail(line, name + ": list not closed (missing ])");
      return false;
    }
    auto start = pos_;
    while (pos_ < text_.size() && !is_space(text_[pos_])
           && text_[pos_] != ';' && text_[pos_] != '#')
      ++pos_;
    raw = text_.substr(start, pos_ - start);
    return true;
  }

  void apply(int line, const std::string& name, const std::string& raw) {
    auto d = find_option(name);
    if (!d) {
      fail(line, unknown_option(name, ""));
      return;
    }
    if (auto i = seen_.find(name); i != seen_.end()) {
      fail(line, name + " is set twice (first at " + origin_ + ":"
                   + std::to_string(i->second) + ")");
      return;
    }
    seen_.emplace(name, line);
    if (auto err = d->assign(cfg_, raw, true); !err.empty())
      fail(line, name + ": " + err);
  }

  node_config& cfg_;
  std::string text_;
  std::string origin_;
  size_t pos_ = 0;
  int line_ = 1;
  std::string section_;
  bool bad_section_ = false;
  std::map<std::string, int> seen_;
  std::vector<std::string> errors_;
};

} // namespace

// -- public interface -----------------------------------------------------------

const std::vector<option_spec>& option_specs() {
  static const auto specs = [] {
    std::vector<option_spec> xs;
    node_config defaults;
    for (auto& d : options()) {
      auto fallback = d.fallback_text.empty() ? d.show(defaults)
                                              : d.fallback_text;
      xs.push_back(option_spec{d.name, d.type, fallback, d.help});
    }
    return xs;
  }();
  return specs;
}

const std::vector<option_spec>& provider_option_specs() {
  static const auto specs = [] {
    std::vector<option_spec> xs;
    for (auto& o : channel_options())
      xs.push_back(option_spec{"herald.channels.CHANNEL." + o.key, o.type,
                               o.fallback, o.help});
    for (auto& o : provider_options()) {
      auto help = o.help;
      if (!o.kinds.empty()) {
        help += " [";
        for (size_t i = 0; i < o.kinds.size(); ++i)
          help += (i > 0 ? ", " : "") + o.kinds[i];
        help += "]";
      }
      xs.push_back(option_spec{"herald.providers.NAME." + o.key, o.type,
                               o.fallback, help});
    }
    return xs;
  }();
  return specs;
}

const std::vector<std::string>& provider_channels() {
  static const std::vector<std::string> xs{"email", "sms", "push"};
  return xs;
}

int senders_of(const provider_config& p) {
  if (p.pool_size > 0)
    return p.pool_size;
  return p.kind == "smtp" ? 16 : 8;
}

bool kind_serves(const std::string& kind, const std::string& channel) {
  return (channel == "email" && kind == "smtp")
         || (channel == "sms" && kind == "twilio")
         || (channel == "push" && (kind == "fcm" || kind == "webpush"));
}

std::string apply_ini(node_config& cfg, const std::string& text,
                      const std::string& origin) {
  return join_lines(ini_reader{cfg, text, origin}.run());
}

std::string validate(const node_config& cfg) {
  std::vector<std::string> errors;
  for (auto& d : options())
    if (auto err = d.check(cfg); !err.empty())
      errors.push_back(d.name + ": " + err);
  if (cfg.retry_base_delay > cfg.retry_max_delay)
    errors.push_back("herald.retry.base-delay ("
                     + format_duration(cfg.retry_base_delay)
                     + ") must not exceed herald.retry.max-delay ("
                     + format_duration(cfg.retry_max_delay) + ")");
  // API.md promises keys are kept at least 24 h.
  if (cfg.idempotency_retention < millis{86400000})
    errors.push_back("herald.idempotency.retention ("
                     + format_duration(cfg.idempotency_retention)
                     + ") must be at least 24h");
  if (cfg.cluster_heartbeat_interval < millis{10})
    errors.push_back("herald.cluster.heartbeat-interval ("
                     + format_duration(cfg.cluster_heartbeat_interval)
                     + ") must be at least 10ms");
  // One late heartbeat must not take a live peer for down.
  if (cfg.cluster_connection_timeout < 2 * cfg.cluster_heartbeat_interval)
    errors.push_back("herald.cluster.connection-timeout must be at least "
                     "twice herald.cluster.heartbeat-interval ("
                     + format_duration(cfg.cluster_connection_timeout)
                     + " < 2 x "
                     + format_duration(cfg.cluster_heartbeat_interval) + ")");
  if (cfg.cluster_reconnect_max_delay < millis{100})
    errors.push_back("herald.cluster.reconnect-max-delay ("
                     + format_duration(cfg.cluster_reconnect_max_delay)
                     + ") must be at least 100ms");
  if (!cfg.cluster_seeds.empty() && cfg.cluster_port == 0)
    errors.push_back("herald.cluster.seeds needs herald.cluster.port: other "
                     "nodes must be able to connect back");
  // Two listeners on one port: the second bind would fail at startup.
  std::pair<const char*, uint16_t> ports[] = {
    {"herald.api.port", cfg.api_port},
    {"herald.admin.port", cfg.admin_port},
    {"herald.cluster.port", cfg.cluster_port},
  };
  for (size_t i = 0; i < 3; ++i)
    for (size_t j = i + 1; j < 3; ++j)
      if (ports[i].second != 0 && ports[i].second == ports[j].second)
        errors.push_back(std::string{ports[i].first} + " and " + ports[j].first
                         + " are both " + std::to_string(ports[i].second));
  validate_providers(cfg, errors);
  return join_lines(errors);
}

parse_outcome parse_command_line(int argc, const char* const* argv) {
  parse_outcome result;
  std::vector<std::string> errors;
  // Reported after the file's errors, in the order the user reads them.
  std::vector<std::string> cli_errors;
  // Options given on the command line, in order, applied after the file.
  std::vector<std::pair<option_def, std::string>> overrides;
  bool have_config_file = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i] != nullptr ? argv[i] : "";
    if (arg == "--help" || arg == "-h" || arg == "-?") {
      result.help = true;
      continue;
    }
    if (arg.compare(0, 2, "--") != 0 || arg.size() == 2) {
      cli_errors.push_back("unexpected argument " + quote(arg)
                           + " (options look like --name=value; see --help)");
      continue;
    }
    auto eq = arg.find('=');
    auto name = arg.substr(2, eq == std::string::npos ? eq : eq - 2);
    bool has_value = eq != std::string::npos;
    auto value = has_value ? arg.substr(eq + 1) : std::string{};
    if (name == "config-file") {
      if (have_config_file)
        cli_errors.push_back("--config-file is given twice");
      else if (value.empty())
        cli_errors.push_back("--config-file needs a path: --config-file=PATH");
      have_config_file = true;
      result.config_file = value;
      continue;
    }
    auto d = find_option(name);
    if (!d) {
      cli_errors.push_back("command line: " + unknown_option(name, "--"));
      continue;
    }
    if (!has_value) {
      if (d->type != "bool") {
        cli_errors.push_back("command line: --" + name + " needs a value: --"
                             + name + "=VALUE");
        continue;
      }
      value = "true";
    }
    auto same = [&](auto& o) { return o.first.name == d->name; };
    if (std::any_of(overrides.begin(), overrides.end(), same)) {
      cli_errors.push_back("command line: --" + name + " is given twice");
      continue;
    }
    overrides.emplace_back(*d, value);
  }
  if (result.help) {
    // Help must work before anything is configured.
    result.cfg.node_name = host_name();
    return result;
  }
  if (have_config_file && !result.config_file.empty()) {
    auto& path = result.config_file;
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      errors.push_back("cannot read config file " + path + ": is a directory");
    } else {
      errno = 0;
      std::ifstream in{path, std::ios::binary};
      auto open_errno = errno;
      std::ostringstream buf;
      if (in)
        buf << in.rdbuf();
      if (!in || in.bad()) {
        errors.push_back("cannot read config file " + path + ": "
                         + (open_errno != 0 ? std::strerror(open_errno)
                                            : "read error"));
      } else if (auto err = apply_ini(result.cfg, buf.str(), path);
                 !err.empty()) {
        errors.push_back(err);
      }
    }
  }
  errors.insert(errors.end(), cli_errors.begin(), cli_errors.end());
  bool name_given = false;
  for (auto& [d, value] : overrides) {
    if (auto err = d.assign(result.cfg, value, false); !err.empty())
      errors.push_back("command line: --" + d.name + ": " + err);
    name_given = name_given || d.name == "herald.node.name";
  }
  if (result.cfg.node_name.empty() && !name_given)
    result.cfg.node_name = host_name();
  // Required and cross-option checks only make sense once every value parsed;
  // before that they would mostly repeat the errors above.
  if (errors.empty())
    if (auto err = validate(result.cfg); !err.empty())
      errors.push_back(err);
  result.error = join_lines(errors);
  return result;
}

std::string help_text() {
  std::ostringstream out;
  out << "Usage: herald --config-file=PATH [--OPTION=VALUE ...]\n"
         "       herald --help\n"
         "\n"
         "Starts one Herald node. Options come from the INI file given with\n"
         "--config-file (section = everything before the last dot, e.g.\n"
         "[herald.db] url = \"...\") and from --OPTION=VALUE arguments, which\n"
         "override the file. Unknown options, wrong types and out-of-range\n"
         "values stop the node. herald.db.url is required.\n"
         "\n"
         "Values:\n"
         "  string       \"text\" (quotes optional on the command line)\n"
         "  int          42\n"
         "  bool         true or false\n"
         "  duration     500ms, 30s, 5min, 1h (units ns, us, ms, s, min, h)\n"
         "  port         0..65535\n"
         "  string-list  [\"a\", \"b\"] (on the command line also a,b)\n"
         "\n"
         "Options:\n";
  auto& specs = option_specs();
  size_t w_name = 6;
  size_t w_type = 4;
  size_t w_default = 7;
  for (auto& s : specs) {
    w_name = std::max(w_name, s.name.size());
    w_type = std::max(w_type, s.type.size());
    w_default = std::max(w_default, s.fallback.size());
  }
  auto row = [&](const std::string& a, const std::string& b,
                 const std::string& c, const std::string& d) {
    out << "  " << a << std::string(w_name - a.size() + 2, ' ') << b
        << std::string(w_type - b.size() + 2, ' ') << c
        << std::string(w_default - c.size() + 2, ' ') << d << '\n';
  };
  row("OPTION", "TYPE", "DEFAULT", "MEANING");
  for (auto& s : specs)
    row(s.name, s.type, s.fallback, s.help);
  out << "\n"
         "Channels and providers: CHANNEL is email, sms or push; NAME is a\n"
         "provider's name (letters, digits, - and _), listed by one channel.\n"
         "[kinds] marks options of some provider kinds only.\n";
  for (auto& s : provider_option_specs())
    out << "  " << s.name << "  " << s.type << "  " << s.fallback << "  "
        << s.help << '\n';
  return out.str();
}

} // namespace herald
