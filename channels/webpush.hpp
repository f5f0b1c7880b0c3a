#pragma once

// Web Push: message encryption (RFC 8291, "aes128gcm" content coding of
// RFC 8188) and VAPID application server identification (RFC 8292, ES256),
// on OpenSSL 3's EVP interfaces. Both sides are here: the sender's (encrypt,
// vapid_signer) for the channel, and the user agent's and push service's
// (decrypt, generate_ua_keys, verify_vapid) for tools/fake-provider and tests.
//
// Byte strings are std::string (any bytes). Nothing here throws for bad
// input: failures come back as nullopt / "" with a reason for logs and
// responses. No CAF, no I/O except from_pem_file.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace herald::webpush {

/// Record size written into the RFC 8188 header. RFC 8291 allows exactly one
/// record per push message, so this also bounds the encrypted body.
inline constexpr uint32_t record_size = 4096;

/// The largest plaintext RFC 8291 §4 lets a sender rely on: 4096 octets of
/// body minus the 86-octet header, the padding delimiter and the 16-octet
/// AEAD tag. encrypt refuses longer payloads.
inline constexpr size_t max_plaintext = 3993;

/// Validity RFC 8292 §2 allows for a VAPID token, and what we sign.
inline constexpr int64_t vapid_max_lifetime_s = 24 * 3600;
inline constexpr int64_t vapid_lifetime_s = 12 * 3600;

/// A browser's PushSubscription. p256dh and auth are base64url as browsers
/// give them (unpadded; padding is accepted).
struct subscription {
  std::string endpoint;
  std::string p256dh; // uncompressed P-256 point, 65 bytes decoded
  std::string auth;   // auth secret, 16 bytes decoded
};

/// Parses PushSubscription.toJSON():
///   {"endpoint": "https://…", "keys": {"p256dh": "…", "auth": "…"}}
/// Other members (expirationTime, …) are ignored. Checks that endpoint is an
/// http(s) URL with a host, that p256dh decodes to a point on P-256 and auth
/// to 16 bytes. nullopt and `error` set otherwise.
std::optional<subscription> parse_subscription(const std::string& json,
                                               std::string& error);

/// The aes128gcm body for one push message: header (salt, rs = 4096,
/// idlen = 65, the sender's ephemeral public key) and a single record,
/// plaintext || 0x02, without further padding. A fresh salt and ephemeral
/// key each call. nullopt and `error` for unusable subscription keys, a
/// plaintext over max_plaintext, or an OpenSSL failure.
std::optional<std::string> encrypt(const subscription& sub,
                                   std::string_view plaintext,
                                   std::string& error);

/// encrypt with a given salt (16 bytes) and ephemeral private key (32-byte
/// big-endian scalar), for test vectors. Never reuse them in production.
std::optional<std::string> encrypt_with(const subscription& sub,
                                        std::string_view plaintext,
                                        std::string_view salt,
                                        std::string_view sender_private_raw,
                                        std::string& error);

/// The user agent's side: decrypts an aes128gcm body with the subscription's
/// private key (32 raw bytes) and auth secret (16 raw bytes). Only the single
/// record RFC 8291 allows is accepted; the padding must end in 0x02.
std::optional<std::string> decrypt(std::string_view body,
                                   std::string_view ua_private_raw,
                                   std::string_view auth_secret,
                                   std::string& error);

/// A fake user agent's subscription keys.
struct ua_keys {
  std::string private_raw; // 32-byte scalar
  std::string p256dh;      // base64url, no padding
  std::string auth;        // base64url of 16 random bytes, no padding
};

/// Fresh keys. Throws std::runtime_error only if OpenSSL cannot generate a
/// key (as crypto::random_bytes does): predictable keys would be worse.
ua_keys generate_ua_keys();

/// Signs VAPID tokens with the application server's P-256 key. Immutable
/// after loading, so one instance may sign from several threads.
class vapid_signer {
public:
  /// Reads a PEM file: "BEGIN EC PRIVATE KEY" (openssl ecparam -genkey,
  /// with or without the EC PARAMETERS block) or PKCS#8 "BEGIN PRIVATE
  /// KEY". Encrypted keys are refused (no passphrase prompt). nullptr and
  /// `error` if the file is unreadable or holds no P-256 private key.
  static std::unique_ptr<vapid_signer> from_pem_file(const std::string& path,
                                                     std::string& error);

  /// Same for PEM text.
  static std::unique_ptr<vapid_signer> from_pem(const std::string& pem,
                                                std::string& error);

  vapid_signer(const vapid_signer&) = delete;
  vapid_signer& operator=(const vapid_signer&) = delete;
  ~vapid_signer();

  /// base64url of the 65-byte uncompressed public point: the "k" parameter
  /// and the applicationServerKey browsers subscribe with.
  std::string public_key() const;

  /// The Authorization header value "vapid t=<JWT>, k=<public key>". JWT
  /// header {"typ":"JWT","alg":"ES256"}, claims {"aud": origin_of(endpoint),
  /// "exp": now_s + 12 h, "sub": subject} ("sub" left out when empty; push
  /// services want a mailto: or https: contact). The signature is the JOSE
  /// form, raw r || s (64 bytes). "" if endpoint has no origin or signing
  /// fails.
  std::string authorization(const std::string& endpoint,
                            const std::string& subject, int64_t now_s) const;

private:
  struct impl;
  explicit vapid_signer(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

/// The push service's side: checks an Authorization header of the vapid
/// scheme ("vapid t=…, k=…", parameters in any order). Requires a valid
/// ES256 signature by the key k, alg ES256, aud equal to
/// `expected_audience`, and exp after now_s but at most 24 h after it.
/// Returns "" if valid, else the reason. On success `*subject` (if given)
/// gets the sub claim ("" if absent).
std::string verify_vapid(const std::string& authorization,
                         const std::string& expected_audience, int64_t now_s,
                         std::string* subject = nullptr);

/// The origin of an endpoint URL, used as aud: "https://push.example.net"
/// for "https://push.example.net/x/y". Scheme and host lowercased, userinfo
/// dropped, the port kept only if not the scheme's default (443, 80). ""
/// for something that is not an absolute URL with a host.
std::string origin_of(const std::string& endpoint);

} // namespace herald::webpush
