#include "channels/webpush.hpp"

#include "core/crypto.hpp"

#include <cctype>
#include <exception>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace herald::webpush {

namespace {

// -- OpenSSL ownership --------------------------------------------------------

template <class T, void (*Free)(T*)>
struct deleter {
  void operator()(T* x) const {
    Free(x);
  }
};

template <class T, void (*Free)(T*)>
using owned = std::unique_ptr<T, deleter<T, Free>>;

using pkey_ptr = owned<EVP_PKEY, EVP_PKEY_free>;
using pkey_ctx_ptr = owned<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using md_ctx_ptr = owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using cipher_ctx_ptr = owned<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using bn_ptr = owned<BIGNUM, BN_free>;
using secret_bn_ptr = owned<BIGNUM, BN_clear_free>;
using group_ptr = owned<EC_GROUP, EC_GROUP_free>;
using point_ptr = owned<EC_POINT, EC_POINT_free>;
using sig_ptr = owned<ECDSA_SIG, ECDSA_SIG_free>;
using bio_ptr = owned<BIO, BIO_free_all>;
using param_bld_ptr = owned<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using params_ptr = owned<OSSL_PARAM, OSSL_PARAM_free>;

// Failed OpenSSL calls leave entries in the thread's error queue, where a
// later TLS call on the same thread (the HTTP client) would read them as its
// own. Each public function drops what it added on the way out.
class error_queue_scope {
public:
  error_queue_scope() {
    ERR_set_mark();
  }
  ~error_queue_scope() {
    ERR_pop_to_mark();
  }
  error_queue_scope(const error_queue_scope&) = delete;
  error_queue_scope& operator=(const error_queue_scope&) = delete;
};

const unsigned char* bytes(std::string_view x) {
  return reinterpret_cast<const unsigned char*>(x.data());
}

unsigned char* bytes(std::string& x) {
  return reinterpret_cast<unsigned char*>(x.data());
}

constexpr size_t point_size = 65;  // 0x04 || x || y
constexpr size_t scalar_size = 32;
constexpr size_t salt_size = 16;
constexpr size_t auth_size = 16;
constexpr size_t tag_size = 16;
constexpr size_t header_size = salt_size + 4 + 1 + point_size; // 86
constexpr char curve_name[] = "prime256v1";

// -- keys ---------------------------------------------------------------------

group_ptr p256() {
  return group_ptr{EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)};
}

// An EVP_PKEY for a peer's uncompressed point. OpenSSL rejects points off the
// curve on import; the public check also covers the subgroup.
pkey_ptr public_key_from_raw(std::string_view raw) {
  if (raw.size() != point_size || raw[0] != 0x04)
    return nullptr;
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                     const_cast<char*>(curve_name), 0),
    OSSL_PARAM_construct_octet_string(
      OSSL_PKEY_PARAM_PUB_KEY, const_cast<char*>(raw.data()), raw.size()),
    OSSL_PARAM_construct_end(),
  };
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
      || EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
    return nullptr;
  pkey_ptr result{key};
  pkey_ctx_ptr check{EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr)};
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    return nullptr;
  return result;
}

// The uncompressed encoding of a key's public point, whatever form the key
// was stored in (an ECPrivateKey may carry a compressed one).
std::optional<std::string> uncompressed_public(const EVP_PKEY* key) {
  unsigned char buf[133];
  size_t len = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf,
                                      sizeof(buf), &len)
      != 1)
    return std::nullopt;
  if (len == point_size && buf[0] == 0x04)
    return std::string(reinterpret_cast<char*>(buf), len);
  auto group = p256();
  point_ptr point{group ? EC_POINT_new(group.get()) : nullptr};
  if (!point
      || EC_POINT_oct2point(group.get(), point.get(), buf, len, nullptr) != 1)
    return std::nullopt;
  std::string out(point_size, '\0');
  if (EC_POINT_point2oct(group.get(), point.get(),
                         POINT_CONVERSION_UNCOMPRESSED, bytes(out), out.size(),
                         nullptr)
      != point_size)
    return std::nullopt;
  return out;
}

struct key_pair {
  pkey_ptr key;
  std::string public_raw; // uncompressed point
};

// A key pair from a raw private scalar. EVP_PKEY_fromdata does not derive
// the public point from the scalar, so it is computed here (d * G).
std::optional<key_pair> key_pair_from_raw(std::string_view raw) {
  if (raw.size() != scalar_size)
    return std::nullopt;
  auto group = p256();
  secret_bn_ptr d{BN_secure_new()};
  if (!group || !d || BN_bin2bn(bytes(raw), scalar_size, d.get()) == nullptr)
    return std::nullopt;
  BN_set_flags(d.get(), BN_FLG_CONSTTIME);
  // Valid scalars are 1 .. n-1.
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0)
    return std::nullopt;
  point_ptr pub{EC_POINT_new(group.get())};
  std::string public_raw(point_size, '\0');
  if (!pub
      || EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr,
                      nullptr)
           != 1
      || EC_POINT_point2oct(group.get(), pub.get(),
                            POINT_CONVERSION_UNCOMPRESSED, bytes(public_raw),
                            public_raw.size(), nullptr)
           != point_size)
    return std::nullopt;
  param_bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!bld
      || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME,
                                         curve_name, 0)
           != 1
      || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get())
           != 1
      || OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY,
                                          public_raw.data(), public_raw.size())
           != 1)
    return std::nullopt;
  params_ptr params{OSSL_PARAM_BLD_to_param(bld.get())};
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1
      || EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_KEYPAIR, params.get())
           != 1)
    return std::nullopt;
  return key_pair{pkey_ptr{key}, std::move(public_raw)};
}

std::optional<key_pair> generate_key_pair() {
  pkey_ptr key{EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_name)};
  if (!key)
    return std::nullopt;
  auto pub = uncompressed_public(key.get());
  if (!pub)
    return std::nullopt;
  return key_pair{std::move(key), std::move(*pub)};
}

std::optional<std::string> private_raw(const EVP_PKEY* key) {
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
    return std::nullopt;
  secret_bn_ptr owner{d};
  std::string out(scalar_size, '\0');
  if (BN_bn2binpad(d, bytes(out), static_cast<int>(out.size())) < 0)
    return std::nullopt;
  return out;
}

bool is_p256(const EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "EC") != 1)
    return false;
  char name[64];
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof(name), &len) != 1)
    return false;
  std::string_view group{name, len};
  return group == "prime256v1" || group == "P-256" || group == "secp256r1";
}

// The x coordinate of priv * peer (32 bytes).
std::optional<std::string> ecdh(EVP_PKEY* priv, EVP_PKEY* peer) {
  pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, priv, nullptr)};
  size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1
      || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1
      || EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1)
    return std::nullopt;
  std::string secret(len, '\0');
  if (EVP_PKEY_derive(ctx.get(), bytes(secret), &len) != 1)
    return std::nullopt;
  secret.resize(len);
  return secret;
}

// -- RFC 8291 key schedule -----------------------------------------------------

struct content_keys {
  std::string cek;   // 16 bytes
  std::string nonce; // 12 bytes
};

// HKDF-SHA-256 as RFC 8291 §3.4 writes it: every output here is at most one
// hash long, so expand is a single HMAC over info || 0x01.
std::string hkdf_extract(std::string_view salt, std::string_view ikm) {
  return crypto::hmac_sha256(salt, ikm);
}

std::string hkdf_expand_1(std::string_view prk, std::string info, size_t n) {
  info += '\x01';
  return crypto::hmac_sha256(prk, info).substr(0, n);
}

content_keys derive_keys(std::string_view ecdh_secret, std::string_view auth,
                         std::string_view ua_public, std::string_view as_public,
                         std::string_view salt) {
  std::string key_info = "WebPush: info";
  key_info += '\0';
  key_info.append(ua_public);
  key_info.append(as_public);
  auto prk_key = hkdf_extract(auth, ecdh_secret);
  auto ikm = hkdf_expand_1(prk_key, std::move(key_info), 32);
  auto prk = hkdf_extract(salt, ikm);
  std::string cek_info = "Content-Encoding: aes128gcm";
  cek_info += '\0';
  std::string nonce_info = "Content-Encoding: nonce";
  nonce_info += '\0';
  return {hkdf_expand_1(prk, std::move(cek_info), 16),
          hkdf_expand_1(prk, std::move(nonce_info), 12)};
}

// -- AES-128-GCM ----------------------------------------------------------------

std::optional<std::string> seal(const content_keys& keys,
                                std::string_view plaintext) {
  cipher_ctx_ptr ctx{EVP_CIPHER_CTX_new()};
  if (!ctx
      || EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr,
                            bytes(keys.cek), bytes(keys.nonce))
           != 1)
    return std::nullopt;
  std::string out(plaintext.size() + tag_size, '\0');
  int len = 0;
  if (EVP_EncryptUpdate(ctx.get(), bytes(out), &len, bytes(plaintext),
                        static_cast<int>(plaintext.size()))
      != 1)
    return std::nullopt;
  int tail = 0;
  if (EVP_EncryptFinal_ex(ctx.get(), bytes(out) + len, &tail) != 1)
    return std::nullopt;
  auto ct_len = static_cast<size_t>(len + tail);
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, tag_size,
                          bytes(out) + ct_len)
      != 1)
    return std::nullopt;
  out.resize(ct_len + tag_size);
  return out;
}

// nullopt if the tag does not match.
std::optional<std::string> open(const content_keys& keys,
                                std::string_view record) {
  if (record.size() < tag_size)
    return std::nullopt;
  auto ciphertext = record.substr(0, record.size() - tag_size);
  std::string tag{record.substr(ciphertext.size())};
  cipher_ctx_ptr ctx{EVP_CIPHER_CTX_new()};
  if (!ctx
      || EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr,
                            bytes(keys.cek), bytes(keys.nonce))
           != 1)
    return std::nullopt;
  std::string out(ciphertext.size() + 16, '\0');
  int len = 0;
  if (EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(ciphertext),
                        static_cast<int>(ciphertext.size()))
      != 1)
    return std::nullopt;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, tag_size,
                          tag.data())
      != 1)
    return std::nullopt;
  int tail = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), bytes(out) + len, &tail) != 1)
    return std::nullopt;
  out.resize(static_cast<size_t>(len + tail));
  return out;
}

void put_u32(std::string& out, uint32_t x) {
  out += static_cast<char>((x >> 24) & 0xFF);
  out += static_cast<char>((x >> 16) & 0xFF);
  out += static_cast<char>((x >> 8) & 0xFF);
  out += static_cast<char>(x & 0xFF);
}

uint32_t get_u32(std::string_view x) {
  return (uint32_t{static_cast<uint8_t>(x[0])} << 24)
         | (uint32_t{static_cast<uint8_t>(x[1])} << 16)
         | (uint32_t{static_cast<uint8_t>(x[2])} << 8)
         | uint32_t{static_cast<uint8_t>(x[3])};
}

// The subscription's keys, decoded and checked.
struct peer_keys {
  pkey_ptr ua_public;
  std::string ua_public_raw;
  std::string auth;
};

std::optional<peer_keys> subscription_keys(const subscription& sub,
                                           std::string& error) {
  auto p256dh = crypto::base64url_decode(sub.p256dh);
  if (!p256dh) {
    error = "p256dh is not base64url";
    return std::nullopt;
  }
  auto key = public_key_from_raw(*p256dh);
  if (!key) {
    error = "p256dh is not an uncompressed P-256 public key (65 bytes)";
    return std::nullopt;
  }
  auto auth = crypto::base64url_decode(sub.auth);
  if (!auth) {
    error = "auth is not base64url";
    return std::nullopt;
  }
  if (auth->size() != auth_size) {
    error = "auth must decode to 16 bytes, not " + std::to_string(auth->size());
    return std::nullopt;
  }
  return peer_keys{std::move(key), std::move(*p256dh), std::move(*auth)};
}

std::optional<std::string> encrypt_impl(const subscription& sub,
                                        std::string_view plaintext,
                                        std::string_view salt,
                                        const key_pair& sender,
                                        std::string& error) {
  if (plaintext.size() > max_plaintext) {
    error = "payload of " + std::to_string(plaintext.size())
            + " bytes exceeds the Web Push limit of "
            + std::to_string(max_plaintext);
    return std::nullopt;
  }
  if (salt.size() != salt_size) {
    error = "salt must be 16 bytes";
    return std::nullopt;
  }
  auto peer = subscription_keys(sub, error);
  if (!peer)
    return std::nullopt;
  auto secret = ecdh(sender.key.get(), peer->ua_public.get());
  if (!secret) {
    error = "ECDH key agreement failed";
    return std::nullopt;
  }
  auto keys = derive_keys(*secret, peer->auth, peer->ua_public_raw,
                          sender.public_raw, salt);
  std::string padded{plaintext};
  padded += '\x02'; // delimiter of the last (and only) record, no padding
  auto record = seal(keys, padded);
  if (!record) {
    error = "AES-128-GCM encryption failed";
    return std::nullopt;
  }
  std::string body;
  body.reserve(header_size + record->size());
  body.append(salt);
  put_u32(body, record_size);
  body += static_cast<char>(point_size);
  body += sender.public_raw;
  body += *record;
  return body;
}

// -- small text helpers ----------------------------------------------------------

std::string lower(std::string_view x) {
  std::string out{x};
  for (auto& c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view x) {
  while (!x.empty() && (x.front() == ' ' || x.front() == '\t'))
    x.remove_prefix(1);
  while (!x.empty() && (x.back() == ' ' || x.back() == '\t'))
    x.remove_suffix(1);
  return x;
}

bool is_all_digits(std::string_view x) {
  if (x.empty())
    return false;
  for (char c : x)
    if (c < '0' || c > '9')
      return false;
  return true;
}

// -- JWT ---------------------------------------------------------------------

constexpr std::string_view jwt_header = R"({"typ":"JWT","alg":"ES256"})";

// JOSE wants r || s, each left-padded to 32 bytes; OpenSSL speaks DER.
std::optional<std::string> der_to_raw(std::string_view der) {
  auto p = bytes(der);
  sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()))};
  if (!sig)
    return std::nullopt;
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * scalar_size, '\0');
  if (BN_bn2binpad(r, bytes(out), scalar_size) < 0
      || BN_bn2binpad(s, bytes(out) + scalar_size, scalar_size) < 0)
    return std::nullopt;
  return out;
}

std::optional<std::string> raw_to_der(std::string_view raw) {
  if (raw.size() != 2 * scalar_size)
    return std::nullopt;
  sig_ptr sig{ECDSA_SIG_new()};
  bn_ptr r{BN_bin2bn(bytes(raw), scalar_size, nullptr)};
  bn_ptr s{BN_bin2bn(bytes(raw) + scalar_size, scalar_size, nullptr)};
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1)
    return std::nullopt;
  r.release(); // owned by sig now
  s.release();
  int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0)
    return std::nullopt;
  std::string der(static_cast<size_t>(len), '\0');
  auto p = bytes(der);
  if (i2d_ECDSA_SIG(sig.get(), &p) != len)
    return std::nullopt;
  return der;
}

std::optional<std::string> es256_sign(EVP_PKEY* key, std::string_view input) {
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  size_t len = 0;
  if (!ctx
      || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key)
           != 1
      || EVP_DigestSign(ctx.get(), nullptr, &len, bytes(input), input.size())
           != 1)
    return std::nullopt;
  std::string der(len, '\0');
  if (EVP_DigestSign(ctx.get(), bytes(der), &len, bytes(input), input.size())
      != 1)
    return std::nullopt;
  der.resize(len);
  return der_to_raw(der);
}

bool es256_verify(EVP_PKEY* key, std::string_view input,
                  std::string_view raw_signature) {
  auto der = raw_to_der(raw_signature);
  if (!der)
    return false;
  md_ctx_ptr ctx{EVP_MD_CTX_new()};
  return ctx
         && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                                 key)
              == 1
         && EVP_DigestVerify(ctx.get(), bytes(*der), der->size(), bytes(input),
                             input.size())
              == 1;
}

// A JSON object from a base64url JWT segment; nullopt for anything else.
std::optional<nlohmann::json> json_segment(std::string_view segment) {
  auto text = crypto::base64url_decode(segment);
  if (!text)
    return std::nullopt;
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return std::nullopt;
  return j;
}

// Never throws on bytes that are not UTF-8 (dump's default would).
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace

// -- subscriptions ---------------------------------------------------------------

std::optional<subscription> parse_subscription(const std::string& json,
                                               std::string& error) {
  error_queue_scope errors;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "subscription is not a JSON object";
    return std::nullopt;
  }
  auto endpoint = j.find("endpoint");
  if (endpoint == j.end() || !endpoint->is_string()) {
    error = "subscription has no endpoint string";
    return std::nullopt;
  }
  subscription result;
  result.endpoint = endpoint->get<std::string>();
  auto scheme = lower(result.endpoint.substr(0, result.endpoint.find(':')));
  if ((scheme != "https" && scheme != "http")
      || origin_of(result.endpoint).empty()) {
    error = "endpoint is not an http(s) URL";
    return std::nullopt;
  }
  for (unsigned char c : result.endpoint)
    if (c <= 0x20 || c == 0x7F) {
      error = "endpoint contains whitespace or control characters";
      return std::nullopt;
    }
  auto keys = j.find("keys");
  if (keys == j.end() || !keys->is_object()) {
    error = "subscription has no keys object";
    return std::nullopt;
  }
  auto p256dh = keys->find("p256dh");
  auto auth = keys->find("auth");
  if (p256dh == keys->end() || !p256dh->is_string()) {
    error = "subscription has no keys.p256dh string";
    return std::nullopt;
  }
  if (auth == keys->end() || !auth->is_string()) {
    error = "subscription has no keys.auth string";
    return std::nullopt;
  }
  result.p256dh = p256dh->get<std::string>();
  result.auth = auth->get<std::string>();
  if (!subscription_keys(result, error))
    return std::nullopt;
  return result;
}

// -- encryption ----------------------------------------------------------------------

std::optional<std::string> encrypt(const subscription& sub,
                                   std::string_view plaintext,
                                   std::string& error) {
  error_queue_scope errors;
  auto sender = generate_key_pair();
  if (!sender) {
    error = "cannot generate an ephemeral P-256 key";
    return std::nullopt;
  }
  std::string salt;
  try {
    salt = crypto::random_bytes(salt_size);
  } catch (const std::exception& e) {
    error = e.what();
    return std::nullopt;
  }
  return encrypt_impl(sub, plaintext, salt, *sender, error);
}

std::optional<std::string> encrypt_with(const subscription& sub,
                                        std::string_view plaintext,
                                        std::string_view salt,
                                        std::string_view sender_private_raw,
                                        std::string& error) {
  error_queue_scope errors;
  auto sender = key_pair_from_raw(sender_private_raw);
  if (!sender) {
    error = "sender private key is not a 32-byte P-256 scalar";
    return std::nullopt;
  }
  return encrypt_impl(sub, plaintext, salt, *sender, error);
}

std::optional<std::string> decrypt(std::string_view body,
                                   std::string_view ua_private_raw,
                                   std::string_view auth_secret,
                                   std::string& error) {
  error_queue_scope errors;
  if (auth_secret.size() != auth_size) {
    error = "auth secret must be 16 bytes";
    return std::nullopt;
  }
  auto ua = key_pair_from_raw(ua_private_raw);
  if (!ua) {
    error = "user agent private key is not a 32-byte P-256 scalar";
    return std::nullopt;
  }
  if (body.size() < salt_size + 5) {
    error = "body shorter than the aes128gcm header";
    return std::nullopt;
  }
  auto salt = body.substr(0, salt_size);
  auto rs = get_u32(body.substr(salt_size, 4));
  auto idlen = static_cast<uint8_t>(body[salt_size + 4]);
  if (rs < 18) {
    error = "record size below the minimum of 18";
    return std::nullopt;
  }
  if (idlen != point_size) {
    error = "keyid must be the sender's 65-byte public key, not "
            + std::to_string(idlen) + " bytes";
    return std::nullopt;
  }
  if (body.size() < header_size) {
    error = "body shorter than the aes128gcm header";
    return std::nullopt;
  }
  auto as_public_raw = body.substr(salt_size + 5, point_size);
  auto record = body.substr(header_size);
  if (record.size() < tag_size + 1) {
    error = "record too short";
    return std::nullopt;
  }
  if (record.size() > rs) {
    error = "more than one record (Web Push allows exactly one)";
    return std::nullopt;
  }
  auto as_public = public_key_from_raw(as_public_raw);
  if (!as_public) {
    error = "keyid is not a P-256 public key";
    return std::nullopt;
  }
  auto secret = ecdh(ua->key.get(), as_public.get());
  if (!secret) {
    error = "ECDH key agreement failed";
    return std::nullopt;
  }
  auto keys = derive_keys(*secret, auth_secret, ua->public_raw, as_public_raw,
                          salt);
  auto padded = open(keys, record);
  if (!padded) {
    error = "decryption failed (wrong keys or tampered body)";
    return std::nullopt;
  }
  // RFC 8188 §2: data || delimiter || 0x00*; 0x02 marks the last record.
  auto end = padded->find_last_not_of('\0');
  if (end == std::string::npos) {
    error = "record has no padding delimiter";
    return std::nullopt;
  }
  if ((*padded)[end] != '\x02') {
    error = (*padded)[end] == '\x01'
              ? "record is not marked as the last one"
              : "record has an invalid padding delimiter";
    return std::nullopt;
  }
  padded->resize(end);
  return std::move(*padded);
}

ua_keys generate_ua_keys() {
  error_queue_scope errors;
  auto pair = generate_key_pair();
  if (!pair)
    throw std::runtime_error("OpenSSL could not generate a P-256 key");
  auto priv = private_raw(pair->key.get());
  if (!priv)
    throw std::runtime_error("OpenSSL could not export a P-256 private key");
  return {std::move(*priv), crypto::base64url_encode(pair->public_raw),
          crypto::random_token(auth_size)};
}

// -- VAPID -------------------------------------------------------------------------------

struct vapid_signer::impl {
  pkey_ptr key;
  std::string public_b64; // k
};

vapid_signer::vapid_signer(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

vapid_signer::~vapid_signer() = default;

std::unique_ptr<vapid_signer>
vapid_signer::from_pem_file(const std::string& path, std::string& error) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    error = "cannot open VAPID key file " + path;
    return nullptr;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    error = "cannot read VAPID key file " + path;
    return nullptr;
  }
  auto result = from_pem(text.str(), error);
  if (!result)
    error = path + ": " + error;
  return result;
}

std::unique_ptr<vapid_signer> vapid_signer::from_pem(const std::string& pem,
                                                     std::string& error) {
  error_queue_scope errors;
  if (pem.size() > 1024 * 1024) { // a key file is a few hundred bytes
    error = "VAPID key file too large";
    return nullptr;
  }
  bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) {
    error = "out of memory";
    return nullptr;
  }
  // Without a callback OpenSSL would prompt on the terminal for the
  // passphrase of an encrypted key; this one declines.
  auto no_passphrase = [](char*, int, int, void*) -> int { return -1; };
  pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase,
                                       nullptr)};
  if (!key) {
    error = "no unencrypted PEM private key (EC PRIVATE KEY or PRIVATE KEY)";
    return nullptr;
  }
  if (!is_p256(key.get())) {
    error = "VAPID key is not an EC P-256 (prime256v1) key";
    return nullptr;
  }
  auto pub = uncompressed_public(key.get());
  if (!pub) {
    error = "cannot compute the VAPID public key";
    return nullptr;
  }
  auto x = std::make_unique<impl>();
  x->key = std::move(key);
  x->public_b64 = crypto::base64url_encode(*pub);
  return std::unique_ptr<vapid_signer>{new vapid_signer(std::move(x))};
}

std::string vapid_signer::public_key() const {
  return impl_->public_b64;
}

std::string vapid_signer::authorization(const std::string& endpoint,
                                        const std::string& subject,
                                        int64_t now_s) const {
  error_queue_scope errors;
  auto aud = origin_of(endpoint);
  if (aud.empty())
    return {};
  nlohmann::json claims{{"aud", aud}, {"exp", now_s + vapid_lifetime_s}};
  if (!subject.empty())
    claims["sub"] = subject;
  auto input = crypto::base64url_encode(jwt_header) + '.'
               + crypto::base64url_encode(dump(claims));
  auto sig = es256_sign(impl_->key.get(), input);
  if (!sig)
    return {};
  return "vapid t=" + input + '.' + crypto::base64url_encode(*sig)
         + ", k=" + impl_->public_b64;
}

std::string verify_vapid(const std::string& authorization,
                         const std::string& expected_audience, int64_t now_s,
                         std::string* subject) {
  error_queue_scope errors;
  std::string_view header = trim(authorization);
  auto space = header.find_first_of(" \t");
  if (space == std::string_view::npos
      || lower(header.substr(0, space)) != "vapid")
    return "not a vapid authorization";
  // auth-params: name = value, comma-separated, values token or quoted.
  std::optional<std::string_view> t;
  std::optional<std::string_view> k;
  auto rest = header.substr(space + 1);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto param = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(comma + 1);
    if (param.empty())
      continue;
    auto eq = param.find('=');
    if (eq == std::string_view::npos)
      return "malformed vapid parameter";
    auto name = lower(trim(param.substr(0, eq)));
    auto value = trim(param.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    auto slot = name == "t" ? &t : name == "k" ? &k : nullptr;
    if (slot == nullptr)
      continue; // unknown parameters are ignored
    if (*slot)
      return "duplicate vapid parameter " + name;
    *slot = value;
  }
  if (!t)
    return "missing t (the JWT)";
  if (!k)
    return "missing k (the public key)";
  auto k_raw = crypto::base64url_decode(*k);
  auto key = k_raw ? public_key_from_raw(*k_raw) : nullptr;
  if (!key)
    return "k is not an uncompressed P-256 public key";
  auto dot1 = t->find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : t->find('.', dot1 + 1);
  if (dot2 == std::string_view::npos
      || t->find('.', dot2 + 1) != std::string_view::npos)
    return "JWT does not have three parts";
  auto jwt_head = json_segment(t->substr(0, dot1));
  auto claims = json_segment(t->substr(dot1 + 1, dot2 - dot1 - 1));
  auto sig = crypto::base64url_decode(t->substr(dot2 + 1));
  if (!jwt_head || !claims || !sig)
    return "JWT is malformed";
  auto alg = jwt_head->find("alg");
  if (alg == jwt_head->end() || !alg->is_string() || *alg != "ES256")
    return "JWT alg is not ES256";
  if (sig->size() != 2 * scalar_size
      || !es256_verify(key.get(), t->substr(0, dot2), *sig))
    return "bad signature";
  auto aud = claims->find("aud");
  if (aud == claims->end() || !aud->is_string())
    return "JWT has no aud";
  if (aud->get<std::string>() != expected_audience)
    return "aud is " + aud->get<std::string>() + ", expected "
           + expected_audience;
  auto exp = claims->find("exp");
  if (exp == claims->end() || !exp->is_number_integer())
    return "JWT has no integer exp";
  // Compare in the signed domain without overflow: huge values are far out.
  constexpr auto max_s = std::numeric_limits<int64_t>::max();
  int64_t exp_s = exp->is_number_unsigned()
                    ? (exp->get<uint64_t>() > static_cast<uint64_t>(max_s)
                         ? max_s
                         : static_cast<int64_t>(exp->get<uint64_t>()))
                    : exp->get<int64_t>();
  if (exp_s <= now_s)
    return "JWT expired";
  // exp_s > now_s, so the unsigned difference is exact.
  if (static_cast<uint64_t>(exp_s) - static_cast<uint64_t>(now_s)
      > static_cast<uint64_t>(vapid_max_lifetime_s))
    return "JWT exp is more than 24 hours ahead";
  if (subject) {
    auto sub = claims->find("sub");
    *subject = sub != claims->end() && sub->is_string()
                 ? sub->get<std::string>()
                 : std::string{};
  }
  return {};
}

// -- origins -----------------------------------------------------------------------------

std::string origin_of(const std::string& endpoint) {
  auto sep = endpoint.find("://");
  if (sep == std::string::npos || sep == 0)
    return {};
  auto scheme = lower(std::string_view{endpoint}.substr(0, sep));
  if (!std::isalpha(static_cast<unsigned char>(scheme[0])))
    return {};
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-'
        && c != '.')
      return {};
  auto rest = std::string_view{endpoint}.substr(sep + 3);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = authority.rfind('@'); at != std::string_view::npos)
    authority.remove_prefix(at + 1);
  std::string_view host;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos)
      return {};
    host = authority.substr(0, close + 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        return {};
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.find(':') != std::string_view::npos)
        return {};
    }
  }
  if (host.empty() || host == "[]")
    return {};
  for (unsigned char c : host)
    if (c <= 0x20 || c == 0x7F || c == '\\')
      return {};
  std::string result = scheme + "://" + lower(host);
  if (!port.empty()) {
    if (!is_all_digits(port) || port.size() > 5)
      return {};
    auto value = std::stoi(std::string{port});
    if (value > 65535)
      return {};
    auto default_port = scheme == "https" ? 443 : scheme == "http" ? 80 : -1;
    if (value != default_port)
      result += ":" + std::to_string(value);
  }
  return result;
}

} // namespace herald::webpush
