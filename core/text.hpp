#pragma once

// Byte-level text checks shared by the JSON helpers and the REST codec:
// UTF-8 well-formedness (RFC 3629), code point counts, printable excerpts of
// untrusted text, ASCII classes. Plain functions, no CAF, no I/O.

#include <cstddef>
#include <string>
#include <string_view>

namespace herald::text {

/// Length of the well-formed UTF-8 sequence at `i`, 0 if ill-formed
/// (overlong, surrogate, beyond U+10FFFF or truncated).
size_t utf8_sequence_length(std::string_view s, size_t i);

/// True if all of `s` is well-formed UTF-8.
bool valid_utf8(std::string_view s);

/// Code points in well-formed UTF-8 text.
size_t count_code_points(std::string_view s);

/// Text from a client or a parser, made safe to echo back: ill-formed bytes
/// become U+FFFD and the result is cut (at a character boundary, with an
/// ellipsis) after `max_bytes`.
std::string printable_excerpt(std::string_view s, size_t max_bytes);

bool is_ascii_alnum(char c);
bool is_digit(char c);
bool is_hex(char c);
/// The value of a hex digit (either case), -1 for any other character.
int hex_value(char c);

/// True if `s` holds a space, a C0 control or DEL.
bool has_space_or_control(std::string_view s);

} // namespace herald::text
