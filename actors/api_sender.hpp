#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/actors.hpp"
#include "actors/policy/liveness_gate.hpp"
#include "channels/fcm.hpp"
#include "channels/twilio.hpp"
#include "channels/webhook_client.hpp"
#include "channels/webpush.hpp"

namespace herald {

/// One provider with an HTTP API (herald.providers.NAME.*): Twilio-shaped
/// SMS, FCM HTTP v1 or Web Push.
struct api_sender_settings {
  std::string node;
  std::string provider;        // its name
  std::string kind;            // twilio | fcm | webpush
  std::chrono::milliseconds timeout{10000};
  twilio::settings twilio;
  fcm::settings fcm;
  std::string vapid_pem;       // webpush: the VAPID key (PEM text)
  std::string vapid_subject;   // webpush: mailto: or https: contact
  std::chrono::seconds ttl{86400}; // webpush: TTL header
};

struct api_sender_state {
  static inline const char* name = "api-sender";
  api_sender_settings settings;
  std::unique_ptr<webhook_client> client; // keep-alive connection
  std::unique_ptr<webpush::vapid_signer> vapid;
  std::shared_ptr<const liveness_gate> gate; // null: no cluster, always open
};

/// The outcome of a Twilio answer (classify_sms): the message SID is the
/// provider message id (status callbacks name it).
attempt_report twilio_outcome(const delivery_job& job, const std::string& node,
                              const std::string& provider,
                              const post_result& res);

/// The outcome of an FCM answer (classify_push): the message name is the
/// provider message id; a dead token (fcm::token_dead) is `address_gone`.
attempt_report fcm_outcome(const delivery_job& job, const std::string& node,
                           const std::string& provider, const post_result& res);

/// The outcome of a push service's answer (RFC 8030): 2xx delivered (its
/// Location, the message's URL, is the provider message id); 404 and 410
/// mean the subscription is gone (permanent, `address_gone`); other
/// statuses as for webhooks (429 and 5xx retryable, Retry-After honoured).
attempt_report webpush_outcome(const delivery_job& job, const std::string& node,
                               const std::string& provider,
                               const post_result& res);

/// The Web Push message a service worker receives (JSON, before
/// encryption): {"id", "title", "body", "data"}.
std::string webpush_payload(const notification& n);

/// RFC 8030 Urgency of a notification's priority: high → high, low → low,
/// normal → normal.
std::string webpush_urgency(const std::string& priority);

/// Delivers SMS and push notifications through one provider's HTTP API.
/// Must be spawned `detached` (blocking HTTP).
sender_actor::behavior_type
api_sender(sender_actor::stateful_pointer<api_sender_state> self,
           api_sender_settings settings,
           std::shared_ptr<const liveness_gate> gate = nullptr);

} // namespace herald
