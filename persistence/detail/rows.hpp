#pragma once

// Row converters and parameter helpers shared by the aggregates' .cpp files
// (persistence/ only: it needs libpqxx).

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <pqxx/pqxx>

#include "core/messages.hpp"
#include "persistence/sql/common.hpp"

namespace herald::detail {

static_assert(
  std::is_same_v<pqxx::row::size_type,
                 std::remove_const_t<decltype(sql::k_notification_column_count)>>);

inline constexpr int32_t k_max_page = 200;

// libpqxx 6 cannot send containers as parameters: build the array literal.
inline std::string text_array(const std::vector<std::string>& xs) {
  std::string out = "{";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (char c : xs[i]) {
      if (c == '"' || c == '\\')
        out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

inline notification row_to_notification(const pqxx::row& r) {
  notification n;
  n.id = r[0].as<std::string>();
  n.tenant_id = r[1].as<std::string>();
  n.channel = r[2].as<std::string>();
  n.to = r[3].as<std::string>();
  n.subject = r[4].as<std::string>();
  n.body = r[5].as<std::string>();
  n.data = r[6].as<std::string>();
  n.priority = r[7].as<std::string>();
  n.send_at_ms = r[8].as<int64_t>();
  n.provider = r[9].as<std::string>();
  if (!from_string(r[10].as<std::string>(), n.status))
    throw std::runtime_error("notification " + n.id + ": unknown status "
                             + r[10].as<std::string>());
  n.attempts = r[11].as<int32_t>();
  n.last_error = r[12].as<std::string>();
  n.created_at_ms = r[13].as<int64_t>();
  n.updated_at_ms = r[14].as<int64_t>();
  n.idempotency_key = r[15].as<std::string>();
  n.idempotency_hash = r[16].as<std::string>();
  n.next_attempt_at_ms = r[17].as<int64_t>();
  n.request_id = r[18].as<std::string>();
  n.template_code = r[19].as<std::string>();
  n.template_version = r[20].as<int32_t>();
  n.rendered = r[21].as<std::string>();
  n.recipient_id = r[22].as<std::string>();
  n.provider_message_id = r[23].as<std::string>();
  return n;
}

// A listing page from rows fetched with LIMIT limit + 1: an extra row only
// tells that another page exists, which then starts after the last item.
template <class Page, class Convert, class IdOf>
Page page_of(const pqxx::result& r, int32_t limit, Convert convert,
             IdOf id_of) {
  Page page;
  for (const auto& row : r) {
    if (page.items.size() == static_cast<size_t>(limit)) {
      page.next_cursor = id_of(page.items.back());
      break;
    }
    page.items.push_back(convert(row));
  }
  return page;
}

} // namespace herald::detail
