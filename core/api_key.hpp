#pragma once

// Tenant API keys: "<key_id>.<secret>" where key_id = "key_" + 16 hex digits
// names the row and the secret is 32 random bytes (base64url). Only the
// SHA-256 of the whole key is stored: the secret has 256 bits of entropy, so
// a slow password hash would add latency without adding safety.

#include <optional>
#include <string>
#include <string_view>

namespace herald {

struct issued_key {
  std::string key_id;
  std::string key;  // shown to the caller once
  std::string hash; // what the store keeps
};

/// A new random key.
issued_key issue_api_key();

/// The key id of a well-formed key, nullopt for anything else.
std::optional<std::string> key_id_of(std::string_view key);

/// Hex SHA-256 of the whole key.
std::string hash_api_key(std::string_view key);

/// Compares the key's hash with the stored one in constant time.
bool key_matches(std::string_view key, std::string_view stored_hash);

} // namespace herald
