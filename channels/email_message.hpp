#pragma once

// An e-mail notification as an RFC 5322 / MIME message, ready for SMTP DATA
// (channels/smtp_client.hpp). Plain functions, no CAF, no I/O.
//
// What comes out:
//   Date, From, To, Reply-To (only if set), Subject, Message-ID,
//   MIME-Version, Content-Type (+ Content-Transfer-Encoding), then the
//   extra headers; a blank line; the body.
//   text only     text/plain; charset=utf-8
//   html only     text/html; charset=utf-8
//   text + html   multipart/alternative, text/plain first (the last part is
//                 the preferred one, RFC 2046 §5.1.4)
//   Bodies are quoted-printable, or base64 when most of the text is
//   non-ASCII (shorter); line breaks become CRLF (the canonical form of
//   text/*), so a text decodes to itself with its line breaks as CRLF.
//
// Guarantees the SMTP path relies on: every line ends in CRLF and has at
// most 998 octets (headers are folded at 78 where there is a space;
// quoted-printable and base64 lines have at most 76); no value can start a
// header of its own (CR, LF and other control characters in any header
// value become a space); the multipart boundary contains "=_", which
// neither quoted-printable nor base64 can produce.

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace herald {

struct email_message {
  /// Mailboxes, "Name <a@b>" or "a@b". A non-ASCII display name is sent as
  /// RFC 2047 encoded words; the address itself must be ASCII (no SMTPUTF8).
  std::string from;
  std::string reply_to; // "" = no Reply-To header
  std::string to;
  /// UTF-8. Sent as RFC 2047 encoded words when not plain ASCII.
  std::string subject;
  /// UTF-8 bodies; at least one should be non-empty.
  std::string text;
  std::string html;
  /// Without the angle brackets; "" = a random one on the From domain.
  std::string message_id;
  /// Appended after the standard headers. Dropped: names that are not
  /// RFC 5322 field names and names build_mime writes itself (Date, From,
  /// To, Reply-To, Subject, Message-ID, MIME-Version, Content-*), so an
  /// extra header can neither duplicate nor redirect the MIME structure.
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

/// The complete message (headers and body) for SMTP DATA, CRLF line ends.
/// `date` is written in UTC ("Tue, 02 Jan 2024 03:04:05 +0000").
std::string build_mime(const email_message& m,
                       std::chrono::system_clock::time_point date);

/// "notif-<notification_id>@<domain>": a stable Message-ID for a
/// notification (retries of the same notification carry the same id, so a
/// receiver can drop duplicates). The domain comes from the From address,
/// "herald.local" if it has none; characters of the id that are not allowed
/// in a Message-ID become "=XX".
std::string message_id_for(const std::string& notification_id,
                           const std::string& from);

/// The bare address of "Name <a@b>", "<a@b>" or "a@b"; "" if there is
/// none or it is not usable on the SMTP envelope (no '@', empty local part
/// or domain, spaces, non-ASCII, angle brackets, or a control character
/// anywhere in `mailbox`).
std::string bare_address(const std::string& mailbox);

} // namespace herald
