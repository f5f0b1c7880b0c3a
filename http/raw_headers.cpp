#include "http/raw_headers.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <strings.h>

namespace herald {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool httplib_own(const std::string& name) {
  static const char* const own[] = {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR",
                                    "LOCAL_PORT"};
  return std::any_of(std::begin(own), std::end(own), [&](const char* x) {
    return ::strcasecmp(name.c_str(), x) == 0;
  });
}

} // namespace

std::vector<std::pair<std::string, std::string>>
parse_raw_headers(std::string_view head) {
  std::vector<std::pair<std::string, std::string>> result;
  bool request_line = true;
  while (!head.empty()) {
    auto nl = head.find('\n');
    if (nl == std::string_view::npos)
      break; // an unterminated last line: httplib did not read it as a field
    auto line = head.substr(0, nl);
    head.remove_prefix(nl + 1);
    if (request_line) {
      request_line = false;
      continue;
    }
    if (line.empty() || line.back() != '\r')
      continue; // not CRLF-terminated: httplib skips it
    line.remove_suffix(1);
    if (line.empty())
      break; // the end of the head
    while (!line.empty() && is_blank(line.back()))
      line.remove_suffix(1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && is_blank(value.front()))
      value.remove_prefix(1);
    result.emplace_back(std::string{line.substr(0, colon)}, std::string{value});
  }
  return result;
}

void restore_raw_headers(
  const std::vector<std::pair<std::string, std::string>>& raw,
  httplib::Headers& headers) {
  std::set<std::string, httplib::detail::ci> names;
  for (auto& [name, value] : raw)
    if (!httplib_own(name))
      names.insert(name);
  for (auto& name : names)
    headers.erase(name);
  for (auto& [name, value] : raw)
    if (names.count(name) != 0)
      headers.emplace(name, value);
}

} // namespace herald
