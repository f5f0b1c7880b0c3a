#include "core/api_key.hpp"

#include "core/crypto.hpp"

namespace herald {

namespace {

constexpr std::string_view key_prefix = "key_";
constexpr size_t key_id_hex_digits = 16;
constexpr size_t key_id_size = key_prefix.size() + key_id_hex_digits;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_base64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
         || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

} // namespace

issued_key issue_api_key() {
  issued_key k;
  k.key_id = std::string{key_prefix} + crypto::hex_encode(crypto::random_bytes(key_id_hex_digits / 2));
  k.key = k.key_id + "." + crypto::random_token(32);
  k.hash = hash_api_key(k.key);
  return k;
}

std::optional<std::string> key_id_of(std::string_view key) {
  if (key.size() < key_id_size + 2 || key.size() > 200
      || key.substr(0, key_prefix.size()) != key_prefix
      || key[key_id_size] != '.')
    return std::nullopt;
  for (size_t i = key_prefix.size(); i < key_id_size; ++i)
    if (!is_hex(key[i]))
      return std::nullopt;
  for (size_t i = key_id_size + 1; i < key.size(); ++i)
    if (!is_base64url(key[i]))
      return std::nullopt;
  return std::string{key.substr(0, key_id_size)};
}

std::string hash_api_key(std::string_view key) {
  return crypto::sha256_hex(key);
}

bool key_matches(std::string_view key, std::string_view stored_hash) {
  return crypto::constant_time_equal(hash_api_key(key), stored_hash);
}

} // namespace herald
