#pragma once

// Notification ids: time-ordered UUIDs (version 7, RFC 9562). Plain
// functions, no CAF, no I/O.

#include <string>
#include <string_view>

namespace herald {

/// A new time-ordered UUID (version 7, RFC 9562), lowercase hex with dashes.
/// Monotonic within this process, safe to call from many threads.
std::string new_notification_id();

/// True if `text` is a UUID in canonical lowercase/uppercase 8-4-4-4-12 form.
bool is_uuid(std::string_view text);

} // namespace herald
