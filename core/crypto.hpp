#pragma once

// Small crypto and encoding helpers on top of OpenSSL. Byte strings are
// std::string (any bytes, not necessarily text). No CAF, no I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::crypto {

/// Standard base64 (RFC 4648 §4) with '=' padding.
std::string base64_encode(std::string_view bytes);

/// Strict inverse of base64_encode: standard alphabet, length a multiple of
/// 4, padding only at the end, unused trailing bits zero (so every byte
/// string has exactly one accepted encoding). nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

/// URL-safe base64 (RFC 4648 §5) without padding.
std::string base64url_encode(std::string_view bytes);

/// Inverse of base64url_encode; also accepts '=' padding. nullopt for
/// invalid input.
std::optional<std::string> base64url_decode(std::string_view text);

/// Lowercase hex.
std::string hex_encode(std::string_view bytes);

/// Accepts upper- and lowercase; nullopt for odd length or non-hex chars.
std::optional<std::string> hex_decode(std::string_view text);

/// SHA-256 digest, 32 raw bytes.
std::string sha256(std::string_view data);

/// SHA-256 digest as 64 lowercase hex chars.
std::string sha256_hex(std::string_view data);

/// HMAC-SHA256, 32 raw bytes. Any key length, including empty.
std::string hmac_sha256(std::string_view key, std::string_view message);

/// n bytes from OpenSSL's CSPRNG. Throws std::runtime_error if OpenSSL cannot
/// produce them: handing out predictable secrets would be worse than failing.
std::string random_bytes(std::size_t n);

/// n random bytes as base64url without padding (for ids, API keys).
std::string random_token(std::size_t n_bytes);

/// Compares without leaking the position of the first difference through
/// timing. Different lengths compare unequal (the length is not secret).
bool constant_time_equal(std::string_view a, std::string_view b);

} // namespace herald::crypto
