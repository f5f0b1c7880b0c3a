#include "core/time.hpp"

#include <array>
#include <chrono>
#include <cstdio>

#include "core/text.hpp"

namespace herald {

namespace {

using text::is_digit;

constexpr int64_t ms_per_day = 86400000;

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

} // namespace

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

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

} // namespace herald
