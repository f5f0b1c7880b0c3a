#pragma once

// Delivery receipts (the reference design's PATCH status): what a provider's
// notice after delivery says about a message, as plain functions. The
// receipt routes (http/receipt_routes.cpp) authenticate the notice and hand
// the result to the store, which moves a delivered notification to
// `bounced` or `failed`.

#include <string>
#include <utility>
#include <vector>

namespace herald {

/// What a notice means.
struct receipt {
  /// The provider's ids of the message the notice is about (as sent and
  /// with angle brackets added or removed: Message-IDs come both ways).
  std::vector<std::string> message_ids;
  /// "bounced" or "failed"; "" = nothing to change (e.g. "delivered", a
  /// subscription confirmation): `reason` says why.
  std::string status;
  std::string reason;
};

/// A Twilio status callback (its form fields): MessageStatus "undelivered"
/// and "failed" move the message (MessageSid) to failed, with the ErrorCode
/// in the reason; every other status changes nothing.
receipt twilio_receipt(const std::vector<std::pair<std::string, std::string>>& form);

/// An SES-style bounce or complaint notice, bare or wrapped in an SNS
/// envelope ({"Type": "Notification", "Message": "<notice JSON>"}):
///   Bounce, bounceType Permanent              -> bounced
///   Bounce, Transient or Undetermined         -> failed
///   Complaint                                 -> bounced ("complaint: …")
///   Delivery, SubscriptionConfirmation, other -> nothing
/// The message ids are mail.messageId, mail.commonHeaders.messageId and the
/// Message-ID of mail.headers. "" in `error` and the receipt, or the reason
/// the body is malformed (not JSON, no notification type, no message id).
receipt ses_receipt(const std::string& body, std::string& error);

} // namespace herald
