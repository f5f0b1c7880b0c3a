#pragma once

#include <memory>
#include <string>

#include "actors/actors.hpp"
#include "actors/policy/liveness_gate.hpp"
#include "channels/email_message.hpp"
#include "channels/smtp_client.hpp"

namespace herald {

/// One SMTP provider as its senders see it (herald.providers.NAME.*).
struct email_sender_settings {
  std::string node;
  std::string provider;  // its name
  smtp_settings smtp;
  std::string from;      // unless the tenant has its own
  std::string reply_to;  // unless the tenant has its own
};

struct email_sender_state {
  static inline const char* name = "email-sender";
  email_sender_settings settings;
  std::unique_ptr<smtp_client> client; // keeps its SMTP connection open
  std::shared_ptr<const liveness_gate> gate; // null: no cluster, always open
};

/// The message of an email job: From/Reply-To of the tenant, else of the
/// provider; the text body, and the HTML part from `rendered` (a template's
/// html part, or a submission's "html"); a Message-ID derived from the
/// notification id (retries carry the same one); X-Request-Id with the
/// correlation id.
email_message email_of(const delivery_job& job, const email_sender_settings& s);

/// The outcome of one SMTP transaction, classified by classify_smtp; the
/// Message-ID in angle brackets is the provider message id receipts use.
attempt_report smtp_outcome(const delivery_job& job, const std::string& node,
                            const std::string& provider, const smtp_result& res,
                            const std::string& message_id);

/// Delivers email over SMTP (channels/smtp_client.hpp): one message per
/// job, the connection kept open between jobs. The envelope sender (MAIL
/// FROM, where bounces go) is always the provider's `from`; the From header
/// is the tenant's when it has one. Must be spawned `detached`
/// (blocking I/O).
sender_actor::behavior_type
email_sender(sender_actor::stateful_pointer<email_sender_state> self,
             email_sender_settings settings,
             std::shared_ptr<const liveness_gate> gate = nullptr);

} // namespace herald
