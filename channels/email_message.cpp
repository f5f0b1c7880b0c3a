#include "channels/email_message.hpp"

#include <cstdio>
#include <ctime>
#include <string_view>

#include "core/crypto.hpp"

namespace herald {

namespace {

// RFC 5322 §2.1.1: lines SHOULD stay within 78 characters, MUST within 998.
constexpr size_t soft_line_limit = 78;
// An ASCII run without a space longer than this cannot be folded under 998
// octets together with its field name: such values go out as encoded words.
constexpr size_t longest_unfoldable_run = 900;
// Raw bytes per encoded word: 39 bytes are 52 base64 characters, 64 with
// "=?UTF-8?B?" and "?=", so "Subject: " plus one word stays within 78
// (RFC 2047 §2 allows 75 per word).
constexpr size_t encoded_word_bytes = 39;
// RFC 2045 §6.7 (5): encoded lines at most 76 characters.
constexpr size_t qp_line_limit = 76;
constexpr size_t base64_line_limit = 76;

const std::string_view crlf = "\r\n";

char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i]))
      return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80)
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// A header value that cannot break out of its header: every run of control
/// characters (CR, LF, TAB, NUL, ...) becomes one space.
std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool in_run = false;
  for (unsigned char c : s) {
    if (is_control(c)) {
      if (!in_run)
        out += ' ';
      in_run = true;
    } else {
      out += static_cast<char>(c);
      in_run = false;
    }
  }
  return out;
}

/// RFC 2047 B-encoded words of UTF-8 text, separated by spaces (which a
/// decoder drops between adjacent encoded words, RFC 2047 §6.2). Words never
/// split a UTF-8 sequence (§5: each word must be self-contained).
std::string encoded_words(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = std::min(encoded_word_bytes, s.size() - i);
    // Back off while the next byte would continue a sequence.
    while (n > 1 && i + n < s.size()
           && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80)
      --n;
    if (!out.empty())
      out += ' ';
    out += "=?UTF-8?B?";
    out += crypto::base64_encode(s.substr(i, n));
    out += "?=";
    i += n;
  }
  return out;
}

/// True if an unstructured value must go out as encoded words: 8-bit text,
/// text a decoder would mistake for an encoded word, or a run too long to
/// fold.
bool needs_encoding(std::string_view s) {
  if (!is_ascii(s) || s.find("=?") != std::string_view::npos)
    return true;
  size_t run = 0;
  for (char c : s) {
    run = c == ' ' ? 0 : run + 1;
    if (run > longest_unfoldable_run)
      return true;
  }
  return false;
}

std::string unstructured(std::string_view raw) {
  auto s = sanitize(raw);
  return needs_encoding(s) ? encoded_words(s) : s;
}

/// "Name: value" + CRLF, folded before a space where a line would pass 78
/// characters. `value` must hold no control characters.
std::string header_line(std::string_view name, std::string_view value) {
  std::string out{name};
  out += ':';
  if (value.empty()) {
    out += crlf;
    return out;
  }
  std::string v = " ";
  v += value;
  size_t line_start = 0;
  bool line_has_word = false;
  size_t i = 0;
  while (i < v.size()) {
    size_t j = i;
    while (j < v.size() && v[j] == ' ')
      ++j;
    bool has_word = j < v.size();
    while (j < v.size() && v[j] != ' ')
      ++j;
    auto chunk = std::string_view{v}.substr(i, j - i);
    // A continuation line starts with the chunk's space (RFC 5322 §2.2.3)
    // and never consists of spaces only.
    if (has_word && line_has_word
        && out.size() - line_start + chunk.size() > soft_line_limit) {
      out += crlf;
      line_start = out.size();
      line_has_word = false;
    }
    out += chunk;
    line_has_word = line_has_word || has_word;
    i = j;
  }
  out += crlf;
  return out;
}

bool is_atext(char c) {
  static constexpr std::string_view specials = "!#$%&'*+-/=?^_`{|}~";
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || specials.find(c) != std::string_view::npos;
}

/// A display name as an RFC 5322 phrase: atoms as they are, a quoted string
/// if it holds specials, encoded words if it is not ASCII.
std::string phrase(std::string_view name) {
  if (needs_encoding(name))
    return encoded_words(name);
  bool plain = true;
  for (char c : name)
    if (!is_atext(c) && c != ' ')
      plain = false;
  if (plain)
    return std::string{name};
  std::string out = "\"";
  for (char c : name) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

/// A display name as the caller wrote it: surrounding quotes removed and
/// quoted-pairs resolved.
std::string unquote(std::string_view s) {
  s = trim(s);
  if (s.size() < 2 || s.front() != '"' || s.back() != '"')
    return std::string{s};
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size())
      ++i;
    out += s[i];
  }
  return out;
}

/// From, To and Reply-To: "phrase <addr>" or "addr", rebuilt from the parts
/// so nothing but a display name and an address reaches the header.
std::string mailbox(std::string_view raw) {
  auto s = sanitize(raw);
  auto addr = bare_address(s);
  if (addr.empty())
    return unstructured(trim(s));
  auto lt = s.rfind('<');
  auto name = lt == std::string::npos
                ? std::string{}
                : unquote(std::string_view{s}.substr(0, lt));
  if (trim(name).empty())
    return addr;
  return phrase(trim(name)) + " <" + addr + ">";
}

std::string domain_of(const std::string& from) {
  auto addr = bare_address(from);
  auto at = addr.rfind('@');
  if (at == std::string::npos)
    return "herald.local";
  std::string domain;
  for (char c : addr.substr(at + 1)) {
    c = ascii_lower(c);
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'
              || c == '.';
    if (!ok)
      return "herald.local";
    domain += c;
  }
  if (domain.empty() || domain.front() == '.' || domain.back() == '.')
    return "herald.local";
  return domain;
}

std::string date_header_value(std::chrono::system_clock::time_point t) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed",
                                         "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d +0000",
                days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string message_id_value(const email_message& m) {
  std::string id;
  for (unsigned char c : m.message_id)
    if (c > 0x20 && c < 0x7f && c != '<' && c != '>')
      id += static_cast<char>(c);
  if (id.empty())
    id = crypto::hex_encode(crypto::random_bytes(16)) + "@" + domain_of(m.from);
  return "<" + id + ">";
}

// --- bodies ----------------------------------------------------------------

/// Text with every line break (CRLF, LF or a lone CR) as CRLF: the canonical
/// form of text/* (RFC 2046 §4.1.1).
std::string canonical_text(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += crlf;
      if (i + 1 < s.size() && s[i + 1] == '\n')
        ++i;
    } else if (s[i] == '\n') {
      out += crlf;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool qp_literal(unsigned char c) {
  return c >= 33 && c <= 126 && c != '=';
}

/// Quoted-printable (RFC 2045 §6.7) of canonical text; hard line breaks stay
/// CRLF. Also escapes a '.' or the 'F' of "From " at the start of a line, so
/// the body survives agents that do not dot-stuff or that write mbox files.
std::string quoted_printable(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t col = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      out += crlf;
      col = 0;
      ++i;
      continue;
    }
    bool at_line_end = i + 1 == s.size()
                       || (s[i + 1] == '\r' && i + 2 < s.size()
                           && s[i + 2] == '\n');
    bool literal = qp_literal(c) || ((c == ' ' || c == '\t') && !at_line_end);
    size_t width = literal ? 1 : 3;
    // Leave room for the '=' of a soft line break.
    if (col + width > qp_line_limit - 1) {
      out += "=\r\n";
      col = 0;
    }
    if (col == 0 && literal
        && (c == '.' || (c == 'F' && s.substr(i, 5) == "From "))) {
      literal = false;
      width = 3;
    }
    if (literal) {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += hex[c >> 4];
      out += hex[c & 0x0F];
    }
    col += width;
  }
  return out;
}

/// Base64 of canonical text in lines of 76, joined by CRLF (no final break).
std::string base64_lines(std::string_view s) {
  auto b64 = crypto::base64_encode(s);
  std::string out;
  out.reserve(b64.size() + b64.size() / base64_line_limit * 2);
  for (size_t i = 0; i < b64.size(); i += base64_line_limit) {
    if (i > 0)
      out += crlf;
    out += b64.substr(i, base64_line_limit);
  }
  return out;
}

struct encoded_part {
  std::string headers; // Content-Type and Content-Transfer-Encoding lines
  std::string body;    // encoded, without a line break after the last line
  bool base64 = false;
};

encoded_part encode_text(std::string_view text, const char* subtype) {
  auto canonical = canonical_text(text);
  // Quoted-printable costs 2 extra bytes per escaped byte, base64 a third of
  // the whole: base64 is shorter once more than a sixth needs escaping.
  size_t escaped = 0;
  for (unsigned char c : canonical)
    if (!qp_literal(c) && c != ' ' && c != '\r' && c != '\n')
      ++escaped;
  encoded_part part;
  part.base64 = escaped * 6 > canonical.size();
  part.headers = header_line("Content-Type", std::string{"text/"} + subtype
                                               + "; charset=utf-8");
  part.headers += header_line("Content-Transfer-Encoding",
                              part.base64 ? "base64" : "quoted-printable");
  part.body = part.base64 ? base64_lines(canonical)
                          : quoted_printable(canonical);
  return part;
}

bool reserved_header(std::string_view name) {
  for (auto r : {"Date", "From", "To", "Reply-To", "Subject", "Message-ID",
                 "MIME-Version"})
    if (iequals(name, r))
      return true;
  return istarts_with(name, "Content-");
}

bool valid_field_name(std::string_view name) {
  // RFC 5322 §3.6.8: printable US-ASCII except ':'. The length bound keeps
  // "Name: " plus a folded value within the line limits.
  if (name.empty() || name.size() > 64)
    return false;
  for (unsigned char c : name)
    if (c < 33 || c > 126 || c == ':')
      return false;
  return true;
}

std::string new_boundary() {
  // "=_" cannot occur in quoted-printable ('=' is followed by two hex digits
  // or CRLF) nor in base64 ('_' is not in its alphabet).
  return "=_herald_" + crypto::hex_encode(crypto::random_bytes(12));
}

} // namespace

std::string bare_address(const std::string& mailbox) {
  // A mailbox with a line break is an injection attempt, not a typo: no
  // address out of it, wherever the brackets are.
  for (unsigned char c : mailbox)
    if (is_control(c) && c != '\t')
      return {};
  std::string_view s = trim(mailbox);
  auto lt = s.rfind('<');
  if (lt != std::string_view::npos) {
    auto gt = s.find('>', lt);
    if (gt == std::string_view::npos)
      return {};
    s = trim(s.substr(lt + 1, gt - lt - 1));
  }
  auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size()
      || s.find('@', at + 1) != std::string_view::npos)
    return {};
  static constexpr std::string_view forbidden = "<>,;\"\\()";
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7f || forbidden.find(static_cast<char>(c))
                                    != std::string_view::npos)
      return {};
  return std::string{s};
}

std::string message_id_for(const std::string& notification_id,
                           const std::string& from) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string left = "notif-";
  for (unsigned char c : notification_id) {
    if (is_atext(static_cast<char>(c)) && c != '=') {
      left += static_cast<char>(c);
    } else {
      left += '=';
      left += hex[c >> 4];
      left += hex[c & 0x0F];
    }
  }
  return left + "@" + domain_of(from);
}

std::string build_mime(const email_message& m,
                       std::chrono::system_clock::time_point date) {
  std::string out;
  out += header_line("Date", date_header_value(date));
  out += header_line("From", mailbox(m.from));
  out += header_line("To", mailbox(m.to));
  if (!trim(m.reply_to).empty())
    out += header_line("Reply-To", mailbox(m.reply_to));
  out += header_line("Subject", unstructured(m.subject));
  out += header_line("Message-ID", message_id_value(m));
  out += header_line("MIME-Version", "1.0");

  std::string body;
  if (!m.text.empty() && !m.html.empty()) {
    auto text = encode_text(m.text, "plain");
    auto html = encode_text(m.html, "html");
    auto boundary = new_boundary();
    while (text.body.find(boundary) != std::string::npos
           || html.body.find(boundary) != std::string::npos)
      boundary = new_boundary();
    out += header_line("Content-Type", "multipart/alternative; boundary=\""
                                         + boundary + "\"");
    // The CRLF before each delimiter belongs to the delimiter (RFC 2046
    // §5.1.1), so a part's own last line break survives decoding.
    for (auto* part : {&text, &html}) {
      body += "--" + boundary + "\r\n";
      body += part->headers;
      body += crlf;
      body += part->body;
      body += crlf;
    }
    body += "--" + boundary + "--\r\n";
  } else {
    auto part = m.html.empty() ? encode_text(m.text, "plain")
                               : encode_text(m.html, "html");
    out += part.headers;
    body = std::move(part.body);
    // The SMTP terminator adds a line break after the last line; a soft
    // line break keeps it out of a quoted-printable text that had none.
    bool ends_with_break = body.size() >= 2
                           && body.compare(body.size() - 2, 2, crlf) == 0;
    if (!body.empty() && !ends_with_break)
      body += part.base64 ? "\r\n" : "=\r\n";
  }

  for (auto& [name, value] : m.extra_headers)
    if (valid_field_name(name) && !reserved_header(name))
      out += header_line(name, unstructured(value));

  out += crlf;
  out += body;
  return out;
}

} // namespace herald
