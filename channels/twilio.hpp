#pragma once

// The HTTP shape of Twilio's Programmable Messaging API, as plain functions:
// the request that sends one SMS, its answer, and the signature Twilio puts
// on the status callbacks it POSTs back (X-Twilio-Signature). No I/O: the
// caller POSTs the request with webhook_client and feeds the answer's status
// and error code to classify_sms (channels/classify.hpp).
//
//   POST {base}/2010-04-01/Accounts/{sid}/Messages.json
//   Authorization: Basic base64(sid:token)
//   Content-Type: application/x-www-form-urlencoded
//   To=%2B15551234567&From=%2B15557654321&Body=Hi[&StatusCallback=https...]
//
//   201 {"sid": "SM…", "status": "queued", …}
//   4xx {"code": 21211, "message": "…", "more_info": "…", "status": 400}

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::twilio {

inline constexpr std::string_view default_base_url = "https://api.twilio.com";

/// Header of Twilio's signature on the requests it sends (status callbacks).
inline constexpr std::string_view signature_header = "X-Twilio-Signature";

/// Form fields in order; names may repeat.
using form_fields = std::vector<std::pair<std::string, std::string>>;

struct settings {
  /// Scheme, host and port, e.g. "http://127.0.0.1:8099" for a fake; a
  /// trailing '/' is ignored, "" means default_base_url.
  std::string base_url = std::string{default_base_url};
  std::string account_sid;
  std::string auth_token;
  /// Sender: an E.164 number or a messaging service's alphanumeric id.
  std::string from;
  /// Where Twilio POSTs delivery receipts; "" = none.
  std::string status_callback;
};

struct request {
  std::string url;
  /// Form-encoded To, From, Body[, StatusCallback].
  std::string body;
  /// Authorization: Basic base64(sid:token).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Pass as webhook_client::post's content_type.
  std::string content_type = "application/x-www-form-urlencoded";
};

/// The request that sends `text` to `to`. The account sid is percent-encoded
/// into the path; nothing is validated (Twilio answers bad numbers with
/// codes that classify_sms knows).
request build_request(const settings& cfg, const std::string& to,
                      const std::string& text);

/// What an answer says. Fields the body lacks stay empty; a body that is
/// not a JSON object leaves everything empty (the HTTP status decides).
struct response {
  /// The message's sid ("SM…"), on success.
  std::string sid;
  /// The message's status ("queued", "sent", "failed", …); empty for error
  /// bodies, whose numeric "status" only repeats the HTTP status.
  std::string status;
  /// The error body's "code" (or a message resource's "error_code") as
  /// decimal text, e.g. "21211": pass it to classify_sms.
  std::string error_code;
  /// The error body's "message" (or a message resource's "error_message").
  std::string message;
};

response parse_response(const std::string& body);

/// application/x-www-form-urlencoded (the WHATWG URL standard's
/// serializer): every byte but ALPHA / DIGIT / "*-._" is %XX, space is '+'.
std::string form_encode(const form_fields& fields);

/// The inverse, for the form bodies Twilio POSTs: '+' is space, %XX a byte
/// (either case), empty pairs ("a=1&&b=2") are skipped, a name without '='
/// has an empty value. nullopt for a malformed escape ("%4", "%zz").
std::optional<form_fields> form_decode(std::string_view body);

/// Twilio's request signature: base64(HMAC-SHA1(auth_token, url + name +
/// value of every POST parameter, sorted by name, then by value for repeated
/// names)). `url` is the full URL Twilio requested, query included, exactly
/// as given (verify_signature also tries url_variants).
std::string signature(const std::string& auth_token, const std::string& url,
                      form_fields params);

/// `url` and, as Twilio's own validators accept, the same URL with the
/// scheme's default port added (if it has none) or removed (if it has it).
std::vector<std::string> url_variants(const std::string& url);

/// Whether `signature_value` (the X-Twilio-Signature header) is signature(…)
/// of these for `url` or one of its url_variants, compared in constant time.
bool verify_signature(const std::string& auth_token, const std::string& url,
                      form_fields params, const std::string& signature_value);

} // namespace herald::twilio
