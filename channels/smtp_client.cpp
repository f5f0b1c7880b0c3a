#include "channels/smtp_client.hpp"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include <curl/curl.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "channels/email_message.hpp"
#include "core/text.hpp"

namespace herald {

namespace {

// Enough for a multi-line EHLO answer plus the reply we are after.
constexpr size_t kept_reply_lines = 32;
// The server's reply text in an error: enough for any real reply.
constexpr size_t max_reply_excerpt = 300;

void global_init() {
  // curl_global_init is not safe to race with other curl calls.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

CURL* handle(void* p) {
  return static_cast<CURL*>(p);
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// "5.1.1" from "550 5.1.1 text" or "550-5.1.1 text" (RFC 3463: class 2, 4
/// or 5, subject and detail of 1 to 3 digits); "" if absent.
std::string enhanced_status_of(const std::string& line) {
  if (line.size() < 9)
    return {};
  size_t i = 4;
  auto start = i;
  if (line[i] != '2' && line[i] != '4' && line[i] != '5')
    return {};
  ++i;
  for (int field = 0; field < 2; ++field) {
    if (i >= line.size() || line[i] != '.')
      return {};
    ++i;
    size_t digits = 0;
    while (i < line.size() && is_digit(line[i]) && digits < 4) {
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3)
      return {};
  }
  if (i < line.size() && line[i] != ' ')
    return {};
  return line.substr(start, i - start);
}

bool starts_with_code(const std::string& line, long code) {
  return line.size() >= 3 && is_digit(line[0]) && is_digit(line[1])
         && is_digit(line[2]) && std::stol(line.substr(0, 3)) == code
         && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
}

bool network_failure(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

/// Adds the configured CA file to the trust store curl built from the
/// system bundle (CURLOPT_CAINFO would replace it).
CURLcode add_ca_file(CURL*, void* ssl_ctx, void* path) {
  auto ctx = static_cast<SSL_CTX*>(ssl_ctx);
  auto file = static_cast<const std::string*>(path);
  if (SSL_CTX_load_verify_locations(ctx, file->c_str(), nullptr) != 1)
    return CURLE_SSL_CACERT_BADFILE;
  return CURLE_OK;
}

smtp_result refused_locally(const char* status, std::string error) {
  smtp_result res;
  res.reply_code = 501;
  res.enhanced_status = status;
  res.error = std::move(error);
  return res;
}

} // namespace

smtp_client::smtp_client(smtp_settings s) : settings_(std::move(s)) {
  global_init();
  errbuf_.assign(CURL_ERROR_SIZE, '\0');
  init_handle();
}

smtp_client::~smtp_client() {
  if (curl_ != nullptr)
    curl_easy_cleanup(handle(curl_));
}

bool smtp_client::init_handle() {
  auto h = curl_easy_init();
  if (h == nullptr)
    return false;
  curl_ = h;
  auto timeout_ms = static_cast<long>(std::max<int64_t>(
    1, settings_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_URL, settings_.url.c_str());
  // Only SMTP: a URL from the configuration must not reach other protocols.
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(h, CURLOPT_READFUNCTION, &smtp_client::on_read);
  curl_easy_setopt(h, CURLOPT_READDATA, this);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &smtp_client::on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf_.data());
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  // The QUIT curl sends when it drops a connection after a failed
  // transaction ignores CURLOPT_TIMEOUT_MS and waits up to this long
  // (default 120 s) for an answer.
  curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                   std::max<long>(1, (timeout_ms + 999) / 1000));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  if (settings_.starttls)
    curl_easy_setopt(h, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (!settings_.username.empty()) {
    curl_easy_setopt(h, CURLOPT_USERNAME, settings_.username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, settings_.password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, settings_.verify_peer ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, settings_.verify_peer ? 2L : 0L);
  if (settings_.verify_peer && !settings_.ca_file.empty()) {
    curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, &add_ca_file);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, &settings_.ca_file);
  }
  return true;
}

void smtp_client::drop_connection() {
  // curl 7.88 keeps the connection of a transfer that timed out waiting for
  // the end-of-data reply: the next MAIL FROM then reads the late answer to
  // the old DATA (or nothing). Other failures may leave the session in
  // states curl does not track either. Shutting the socket down makes curl
  // find it dead before reuse and discard it without QUIT.
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(handle(curl_), CURLINFO_ACTIVESOCKET, &sock) == CURLE_OK
      && sock != CURL_SOCKET_BAD)
    ::shutdown(sock, SHUT_RDWR);
}

size_t smtp_client::on_read(char* buf, size_t size, size_t n, void* self) {
  auto* client = static_cast<smtp_client*>(self);
  if (client->body_ == nullptr)
    return 0;
  auto& body = *client->body_;
  auto count = std::min(size * n, body.size() - client->offset_);
  std::memcpy(buf, body.data() + client->offset_, count);
  client->offset_ += count;
  return count;
}

size_t smtp_client::on_header(char* buf, size_t size, size_t n, void* self) {
  auto* client = static_cast<smtp_client*>(self);
  std::string line{buf, size * n};
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  client->reply_lines_.push_back(std::move(line));
  if (client->reply_lines_.size() > kept_reply_lines)
    client->reply_lines_.pop_front();
  return size * n;
}

smtp_result smtp_client::send(const std::string& mail_from,
                              const std::string& rcpt_to,
                              const std::string& mime) {
  smtp_result res;
  std::string from;
  if (!mail_from.empty()) {
    from = bare_address(mail_from);
    if (from.empty())
      return refused_locally("5.1.7", "invalid sender address (not sent)");
  }
  auto to = bare_address(rcpt_to);
  if (to.empty())
    return refused_locally("5.1.3", "invalid recipient address (not sent)");
  if (curl_ == nullptr && !init_handle()) {
    res.error = "curl_easy_init failed";
    return res;
  }
  auto h = handle(curl_);
  auto envelope_from = "<" + from + ">";
  auto envelope_to = "<" + to + ">";
  auto rcpts = curl_slist_append(nullptr, envelope_to.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_FROM, envelope_from.c_str());
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
  curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
                   static_cast<curl_off_t>(mime.size()));
  body_ = &mime;
  offset_ = 0;
  reply_lines_.clear();
  errbuf_[0] = '\0';

  auto rc = curl_easy_perform(h);

  long code = 0;
  long connects = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
  connections_ += static_cast<uint64_t>(std::max(0L, connects));
  curl_easy_setopt(h, CURLOPT_MAIL_RCPT, nullptr);
  curl_slist_free_all(rcpts);
  body_ = nullptr;
  if (rc != CURLE_OK)
    drop_connection();

  // The server's own words for the reply that decided, last line first.
  std::string reply_text;
  for (auto i = reply_lines_.rbegin(); i != reply_lines_.rend(); ++i)
    if (starts_with_code(*i, code)) {
      reply_text = *i;
      break;
    }

  if (rc == CURLE_OK) {
    res.reply_code = static_cast<int>(code);
    res.enhanced_status = enhanced_status_of(reply_text);
    return res;
  }
  std::string detail = errbuf_.c_str();
  res.error = detail.empty() ? curl_easy_strerror(rc) : detail;
  if (rc != CURLE_OPERATION_TIMEDOUT && code >= 400 && code <= 599) {
    res.reply_code = static_cast<int>(code);
    res.enhanced_status = enhanced_status_of(reply_text);
    if (!reply_text.empty())
      res.error += ": " + text::printable_excerpt(reply_text, max_reply_excerpt);
    return res;
  }
  res.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
  res.connection_error = network_failure(rc);
  return res;
}

} // namespace herald
