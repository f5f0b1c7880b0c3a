#pragma once

// Blocking SMTP submission of one message to one recipient, on libcurl.
// Keeps the connection (and its TLS session and AUTH) open between messages:
// one curl easy handle is reused, so message 2..n to the same relay costs
// MAIL FROM, RCPT TO and DATA only.
//
// How an attempt ends, and how classify_smtp (channels/classify.hpp) reads
// it:
//   accepted                     reply_code 250, error ""            ok
//   4xx / 5xx reply at any step  reply_code + enhanced_status        retryable / permanent
//   (greeting, AUTH, MAIL, RCPT, DATA, end of data)
//   refused, reset, closed,      reply_code 0, connection_error      retryable
//   TLS failure
//   no answer within timeout     reply_code 0, timed_out             retryable
// A positive reply before the failure (250 to MAIL FROM, then the server
// hangs up) is not reported: reply_code stays 0, so a broken transaction can
// never look delivered. After any failed transaction the connection is
// dropped (curl would keep some, e.g. after a timeout waiting for the
// end-of-data reply, and then read that late reply as the answer to the next
// MAIL FROM); the next send() opens a new one.
//
// A timeout after the message was sent (the end-of-data reply is late) may
// still have delivered it: retries of e-mail are at-least-once, which is why
// message_id_for (channels/email_message.hpp) gives retries the same
// Message-ID.

#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

namespace herald {

struct smtp_settings {
  /// smtp://host:port or smtps://host:port (implicit TLS). An optional path
  /// is the name sent with EHLO (curl sends gethostname() without one).
  std::string url;
  /// Require STARTTLS (CURLUSESSL_ALL): no TLS, no message. Without it an
  /// smtp:// connection stays plain text.
  bool starttls = false;
  /// AUTH when username is non-empty (curl picks the best mechanism the
  /// server offers). With starttls or smtps, not before TLS is up. If the
  /// server offers no AUTH, curl skips it silently and the server's answer
  /// to MAIL FROM (typically 530) decides.
  std::string username;
  std::string password;
  /// Bounds one send() as a whole: connect, TLS, EHLO, AUTH and the
  /// transaction.
  std::chrono::milliseconds timeout{10000};
  /// Verify the server's certificate chain and name.
  bool verify_peer = true;
  /// A PEM bundle of CAs trusted in addition to the system's; "" = the
  /// system's only.
  std::string ca_file;
};

struct smtp_result {
  /// The reply that decided the transaction: 250 when accepted, the first
  /// negative (4xx/5xx) reply otherwise; 0 = none (connection error,
  /// timeout). Addresses rejected before anything is sent (see send()) give
  /// 501.
  int reply_code = 0;
  /// The RFC 3463 code of that reply ("5.1.1"), "" if the server sent none.
  std::string enhanced_status;
  /// "" on success; else curl's error and the server's reply text.
  std::string error;
  bool timed_out = false;
  bool connection_error = false;
};

/// Not thread-safe: one sender thread uses an instance.
class smtp_client {
public:
  explicit smtp_client(smtp_settings s);
  /// Sends QUIT on an open connection (waits at most `timeout`, rounded up
  /// to whole seconds, for the answer).
  ~smtp_client();

  smtp_client(const smtp_client&) = delete;
  smtp_client& operator=(const smtp_client&) = delete;

  /// Sends `mime` (build_mime's output: CRLF lines, at most 998 octets
  /// each) with the envelope MAIL FROM:<mail_from> RCPT TO:<rcpt_to>. Both
  /// may be "Name <a@b>" or "a@b"; an empty mail_from is the null sender
  /// "<>". An address bare_address cannot extract (or one holding CR/LF,
  /// which would inject SMTP commands) is refused without connecting:
  /// reply_code 501 with enhanced status 5.1.7 (sender) or 5.1.3
  /// (recipient), which classify_smtp takes as permanent.
  smtp_result send(const std::string& mail_from, const std::string& rcpt_to,
                   const std::string& mime);

  /// Connections curl opened so far (CURLINFO_NUM_CONNECTS summed):
  /// 1 after any number of successful sends to a server that keeps the
  /// connection open.
  uint64_t connections_opened() const {
    return connections_;
  }

private:
  static size_t on_read(char* buf, size_t size, size_t n, void* self);
  static size_t on_header(char* buf, size_t size, size_t n, void* self);

  bool init_handle();
  /// Makes sure the connection of a failed transaction is not reused.
  void drop_connection();

  smtp_settings settings_;
  void* curl_ = nullptr; // CURL*, kept out of this header
  // The message being uploaded.
  const std::string* body_ = nullptr;
  size_t offset_ = 0;
  // The server's last reply lines of the current send (pingpong protocols
  // hand every reply line to CURLOPT_HEADERFUNCTION).
  std::deque<std::string> reply_lines_;
  std::string errbuf_;
  uint64_t connections_ = 0;
};

} // namespace herald
