#include "core/crypto.hpp"

#include "core/text.hpp"

#include <array>
#include <cstdint>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace herald::crypto {

namespace {

constexpr char std_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char url_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr int8_t invalid = -1;

// Reverse lookup table for one alphabet; everything else maps to `invalid`.
constexpr std::array<int8_t, 256> make_reverse(const char* alphabet) {
  std::array<int8_t, 256> table{};
  for (auto& x : table)
    x = invalid;
  for (int i = 0; i < 64; ++i)
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<int8_t>(i);
  return table;
}

constexpr auto std_reverse = make_reverse(std_alphabet);
constexpr auto url_reverse = make_reverse(url_alphabet);

std::string encode(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16)
                 | (static_cast<uint8_t>(bytes[i + 1]) << 8)
                 | static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  auto rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad)
      out += "==";
  } else if (rest == 2) {
    uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16)
                 | (static_cast<uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad)
      out += '=';
  }
  return out;
}

// Decodes unpadded data (padding already stripped by the caller). Rejects a
// length that no encoder produces and non-zero unused bits.
std::optional<std::string> decode_unpadded(std::string_view text,
                                           const std::array<int8_t, 256>& rev) {
  if (text.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    auto v = rev[static_cast<unsigned char>(c)];
    if (v == invalid)
      return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  return encode(bytes, std_alphabet, true);
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=')
    ++pad;
  return decode_unpadded(text.substr(0, text.size() - pad), std_reverse);
}

std::string base64url_encode(std::string_view bytes) {
  return encode(bytes, url_alphabet, false);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // Padding is optional here, but if present it must complete a quad.
  auto unpadded = text;
  while (!unpadded.empty() && unpadded.back() == '=')
    unpadded.remove_suffix(1);
  auto pad = text.size() - unpadded.size();
  if (pad > 0 && (pad > 2 || text.size() % 4 != 0))
    return std::nullopt;
  return decode_unpadded(unpadded, url_reverse);
}

std::string hex_encode(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::optional<std::string> hex_decode(std::string_view text) {
  if (text.size() % 2 != 0)
    return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (size_t i = 0; i < text.size(); i += 2) {
    auto hi = text::hex_value(text[i]);
    auto lo = text::hex_value(text[i + 1]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::string sha256(std::string_view data) {
  // OpenSSL 3 looks the implementation of EVP_sha256() up in its provider
  // store (a lock and reference counts) on every digest; fetched once, the
  // digest skips that. Fetched objects are thread-safe to share.
  static EVP_MD* const fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  const EVP_MD* md_type = fetched != nullptr ? fetched : EVP_sha256();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, md_type, nullptr) != 1)
    throw std::runtime_error("OpenSSL EVP_Digest(SHA-256) failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string sha256_hex(std::string_view data) {
  return hex_encode(sha256(data));
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  // OpenSSL treats a null key pointer as "reuse the previous key", so an
  // empty key still needs a valid address.
  static const unsigned char empty = 0;
  auto key_ptr = key.empty() ? &empty
                             : reinterpret_cast<const unsigned char*>(
                               key.data());
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto ok = HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()),
                 reinterpret_cast<const unsigned char*>(message.data()),
                 message.size(), md, &len);
  if (ok == nullptr)
    throw std::runtime_error("OpenSSL HMAC(SHA-256) failed");
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (n > 0
      && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                    static_cast<int>(n))
           != 1)
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  return out;
}

std::string random_token(std::size_t n_bytes) {
  return base64url_encode(random_bytes(n_bytes));
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  if (a.empty())
    return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace herald::crypto
