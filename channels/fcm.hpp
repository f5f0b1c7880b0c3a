#pragma once

// The HTTP shape of Firebase Cloud Messaging's HTTP v1 API, as plain
// functions: the request that sends one push, its answer, and whether the
// answer says the device token is dead (the device should be forgotten). No
// I/O: the caller POSTs with webhook_client and classifies with
// classify_push (channels/classify.hpp), passing classify_reason(response):
// the FcmError errorCode if the answer has one, else error.status.
//
//   POST {base}/v1/projects/{project}/messages:send
//   Authorization: Bearer <OAuth 2 access token>
//   {"message": {"token": "…", "notification": {"title", "body"},
//                "data": {"k": "string values only"}}}
//
//   200 {"name": "projects/{project}/messages/{id}"}
//   4xx/5xx {"error": {"code": 404, "message": "…", "status": "NOT_FOUND",
//            "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
//                         "errorCode": "UNREGISTERED"}]}}

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald::fcm {

inline constexpr std::string_view default_base_url
  = "https://fcm.googleapis.com";

/// The @type of the error detail that carries FCM's errorCode.
inline constexpr std::string_view fcm_error_type
  = "type.googleapis.com/google.firebase.fcm.v1.FcmError";

struct settings {
  /// Scheme, host and port; a trailing '/' is ignored, "" means
  /// default_base_url.
  std::string base_url = std::string{default_base_url};
  /// Firebase project id.
  std::string project;
  /// OAuth 2 access token, sent as a bearer token.
  std::string token;
};

struct request {
  std::string url;
  std::string body;
  /// Authorization: Bearer <token>.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Pass as webhook_client::post's content_type.
  std::string content_type = "application/json";
  /// "" = built; else why not (data_json is not a JSON object): nothing to
  /// send, a permanent failure of the notification.
  std::string error;
};

/// The request that pushes one notification to `device_token`. Empty
/// `title` and `body` are left out (both empty: a data-only message).
/// `data_json` is a JSON object's text or "" (no data); FCM accepts only
/// string values, so other values are sent as their JSON text (1 → "1",
/// true → "true", {"a":1} → "{\"a\":1}", null → "null"). FCM's reserved keys
/// ("from", "message_type", "google.*", "gcm.*") are not filtered: FCM
/// refuses them with INVALID_ARGUMENT.
request build_request(const settings& cfg, const std::string& device_token,
                      const std::string& title, const std::string& body,
                      const std::string& data_json);

/// What an answer says; fields the body lacks stay empty.
struct response {
  /// "projects/{project}/messages/{id}", on success.
  std::string name;
  /// error.status, e.g. "NOT_FOUND", "INVALID_ARGUMENT", "UNAVAILABLE".
  std::string status;
  /// errorCode of the FcmError detail, e.g. "UNREGISTERED".
  std::string error_code;
  /// error.message.
  std::string message;
};

response parse_response(const std::string& body);

/// The reason to pass to classify_push: error_code if set, else status ("" if
/// neither, then the HTTP status decides).
inline std::string classify_reason(const response& r) {
  return r.error_code.empty() ? r.status : r.error_code;
}

/// True if the device token will never work again, so the device should be
/// removed: UNREGISTERED (FCM answers 404), or INVALID_ARGUMENT (400) whose
/// message is about the registration token ("The registration token is not
/// a valid FCM registration token"). Other INVALID_ARGUMENTs (a bad payload)
/// are permanent failures of the message, not of the token; so is
/// SENDER_ID_MISMATCH, which a misconfigured project would answer for every
/// token, so it must not wipe them.
bool token_dead(int http_status, const response& r);

} // namespace herald::fcm
