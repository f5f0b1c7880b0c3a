#pragma once

// Wall-clock time as the API and the database see it: Unix epoch
// milliseconds and RFC 3339 text. Actors read elapsed time from their actor
// clock; this is for timestamps only. Plain functions, no CAF, no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald {

/// RFC 3339 with millisecond precision in UTC, e.g. 2026-11-21T10:00:00.123Z.
std::string format_rfc3339(int64_t ms);

/// Parses RFC 3339 (with 'Z' or a numeric offset, optional fraction).
std::optional<int64_t> parse_rfc3339(std::string_view text);

/// Unix epoch milliseconds now (system clock).
int64_t now_ms();

} // namespace herald
