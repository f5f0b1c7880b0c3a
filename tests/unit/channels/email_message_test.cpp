// herald-test-links: herald_channels
// build_mime, message_id_for and bare_address: header order and format,
// RFC 2047 subjects and display names, header injection, the multipart
// boundary, CRLF line ends and line lengths, and bodies that decode back to
// the input.
#define CAF_SUITE email_message
#include <caf/test/unit_test.hpp>
#include <caf/test/unit_test_impl.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "channels/email_message.hpp"
#include "core/crypto.hpp"
#include "core/text.hpp"

using namespace herald;

namespace {

// 1994-11-06 08:49:37 UTC, a Sunday.
const auto fixed_date
  = std::chrono::system_clock::time_point{std::chrono::seconds{784111777}};

struct header {
  std::string name;
  std::string value; // unfolded, without the space after the colon
  std::string raw;   // as written, folded, without the final CRLF
};

struct parsed {
  std::vector<header> headers;
  std::string body;

  const header* find(const std::string& name) const {
    for (auto& h : headers)
      if (h.name == name)
        return &h;
    return nullptr;
  }

  std::string value(const std::string& name) const {
    auto h = find(name);
    return h ? h->value : "<missing>";
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (auto& h : headers)
      out.push_back(h.name);
    return out;
  }
};

// Splits a header block and body at the first empty line; continuation
// lines (starting with a space or tab) join the header above them.
parsed parse(const std::string& msg) {
  parsed out;
  size_t pos = 0;
  while (pos < msg.size()) {
    auto eol = msg.find("\r\n", pos);
    if (eol == std::string::npos)
      break;
    auto line = msg.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) {
      out.body = msg.substr(pos);
      return out;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !out.headers.empty()) {
      out.headers.back().value += line;
      out.headers.back().raw += "\r\n" + line;
      continue;
    }
    auto colon = line.find(':');
    header h;
    h.name = line.substr(0, colon);
    h.value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!h.value.empty() && h.value[0] == ' ')
      h.value.erase(0, 1);
    h.raw = line;
    out.headers.push_back(std::move(h));
  }
  return out;
}

// Every CR is followed by LF and every LF preceded by CR.
bool crlf_only(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'))
      return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
      return false;
  }
  return true;
}

size_t longest_line(const std::string& s) {
  size_t longest = 0;
  size_t pos = 0;
  while (pos <= s.size()) {
    auto eol = s.find("\r\n", pos);
    if (eol == std::string::npos)
      eol = s.size();
    longest = std::max(longest, eol - pos);
    pos = eol + 2;
  }
  return longest;
}

std::string canonical(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      out += "\r\n";
      if (i + 1 < s.size() && s[i + 1] == '\n')
        ++i;
    } else if (s[i] == '\n') {
      out += "\r\n";
    } else {
      out += s[i];
    }
  }
  return out;
}

std::optional<std::string> qp_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out += s[i];
      continue;
    }
    if (s.compare(i, 3, "=\r\n") == 0) {
      i += 2;
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    auto byte = crypto::hex_decode(s.substr(i + 1, 2));
    if (!byte)
      return std::nullopt;
    out += *byte;
    i += 2;
  }
  return out;
}

std::optional<std::string> base64_decode_lines(std::string s) {
  s.erase(std::remove_if(s.begin(), s.end(),
                         [](char c) { return c == '\r' || c == '\n'; }),
          s.end());
  return crypto::base64_decode(s);
}

// Decodes a body by its Content-Transfer-Encoding.
std::optional<std::string> decode_body(const std::string& cte,
                                       const std::string& body) {
  if (cte == "quoted-printable")
    return qp_decode(body);
  if (cte == "base64")
    return base64_decode_lines(body);
  return std::nullopt;
}

// Decodes RFC 2047 B words (UTF-8 only, which is all build_mime writes);
// whitespace between two encoded words is dropped (RFC 2047 §6.2). Each
// word must decode to well-formed UTF-8 on its own.
std::optional<std::string> decode_words(const std::string& s,
                                        size_t* longest_word = nullptr) {
  std::string out;
  std::string pending_space;
  bool last_was_word = false;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, 10, "=?UTF-8?B?") == 0) {
      auto end = s.find("?=", i + 10);
      if (end == std::string::npos)
        return std::nullopt;
      if (longest_word)
        *longest_word = std::max(*longest_word, end + 2 - i);
      auto bytes = crypto::base64_decode(s.substr(i + 10, end - i - 10));
      if (!bytes || !text::valid_utf8(*bytes))
        return std::nullopt;
      if (!last_was_word)
        out += pending_space;
      pending_space.clear();
      out += *bytes;
      last_was_word = true;
      i = end + 2;
    } else if (s[i] == ' ' || s[i] == '\t') {
      pending_space += s[i++];
    } else {
      out += pending_space;
      pending_space.clear();
      out += s[i++];
      last_was_word = false;
    }
  }
  return out + pending_space;
}

struct part {
  parsed p;
  std::string decoded;
};

// The parts of a multipart body delimited by `boundary`.
std::vector<part> split_parts(const std::string& body,
                              const std::string& boundary) {
  std::vector<part> out;
  auto delim = "--" + boundary;
  auto pos = body.find(delim);
  while (pos != std::string::npos) {
    auto start = pos + delim.size();
    if (body.compare(start, 2, "--") == 0)
      break;
    start += 2; // CRLF after the delimiter
    auto next = body.find("\r\n" + delim, start);
    if (next == std::string::npos)
      break;
    part pt;
    pt.p = parse(body.substr(start, next - start) + "\r\n");
    // parse() stops at the blank line; the body is what follows, minus the
    // CRLF we appended.
    pt.p.body.erase(pt.p.body.size() - 2);
    auto decoded = decode_body(pt.p.value("Content-Transfer-Encoding"),
                               pt.p.body);
    pt.decoded = decoded ? *decoded : "<undecodable>";
    out.push_back(std::move(pt));
    pos = next + 2;
  }
  return out;
}

std::string boundary_of(const std::string& content_type) {
  auto key = std::string{"boundary=\""};
  auto pos = content_type.find(key);
  if (pos == std::string::npos)
    return {};
  auto end = content_type.find('"', pos + key.size());
  return content_type.substr(pos + key.size(), end - pos - key.size());
}

size_t count(const std::string& s, const std::string& needle) {
  size_t n = 0;
  for (auto pos = s.find(needle); pos != std::string::npos;
       pos = s.find(needle, pos + 1))
    ++n;
  return n;
}

email_message sample() {
  email_message m;
  m.from = "Herald <notify@example.com>";
  m.to = "ana@example.org";
  m.subject = "Your code";
  m.text = "Hello Ana\nYour code is 1234.\n";
  m.message_id = "notif-1@example.com";
  return m;
}

using strings = std::vector<std::string>;

} // namespace

CAF_TEST(headers come in a fixed order with date and message id) {
  auto m = sample();
  m.reply_to = "help@example.com";
  auto msg = build_mime(m, fixed_date);
  CAF_CHECK(crlf_only(msg));
  auto p = parse(msg);
  CAF_CHECK_EQUAL(p.names(),
                  (strings{"Date", "From", "To", "Reply-To", "Subject",
                           "Message-ID", "MIME-Version", "Content-Type",
                           "Content-Transfer-Encoding"}));
  CAF_CHECK_EQUAL(p.value("Date"), "Sun, 06 Nov 1994 08:49:37 +0000");
  CAF_CHECK_EQUAL(p.value("From"), "Herald <notify@example.com>");
  CAF_CHECK_EQUAL(p.value("To"), "ana@example.org");
  CAF_CHECK_EQUAL(p.value("Reply-To"), "help@example.com");
  CAF_CHECK_EQUAL(p.value("Subject"), "Your code");
  CAF_CHECK_EQUAL(p.value("Message-ID"), "<notif-1@example.com>");
  CAF_CHECK_EQUAL(p.value("MIME-Version"), "1.0");
  CAF_CHECK_EQUAL(p.value("Content-Type"), "text/plain; charset=utf-8");
  CAF_CHECK_EQUAL(p.value("Content-Transfer-Encoding"), "quoted-printable");
  CAF_CHECK_EQUAL(p.body, "Hello Ana\r\nYour code is 1234.\r\n");
  // No Reply-To header without a reply_to.
  CAF_CHECK_EQUAL(parse(build_mime(sample(), fixed_date)).find("Reply-To"),
                  nullptr);
}

CAF_TEST(a text without a final line break gets a soft one) {
  auto m = sample();
  m.text = "no break at the end";
  auto p = parse(build_mime(m, fixed_date));
  // The SMTP terminator adds a CRLF after the last line; "=" makes it a
  // soft break, so the text decodes without one.
  CAF_CHECK_EQUAL(p.body, "no break at the end=\r\n");
  CAF_CHECK_EQUAL(qp_decode(p.body), std::string{"no break at the end"});
}

CAF_TEST(html only is text/html) {
  auto m = sample();
  m.text.clear();
  m.html = "<p>Hi</p>\n";
  auto p = parse(build_mime(m, fixed_date));
  CAF_CHECK_EQUAL(p.value("Content-Type"), "text/html; charset=utf-8");
  CAF_CHECK_EQUAL(qp_decode(p.body), std::string{"<p>Hi</p>\r\n"});
}

CAF_TEST(text and html are a multipart alternative with an unguessable boundary) {
  auto m = sample();
  m.text = "Olá Ana,\nsua conta está confirmada.\nsoma = 2 + 2\n";
  m.html = "<p>Olá <b>Ana</b></p>\n<p style=\"color:red\">ok</p>";
  auto msg = build_mime(m, fixed_date);
  CAF_CHECK(crlf_only(msg));
  auto p = parse(msg);
  CAF_CHECK_EQUAL(p.find("Content-Transfer-Encoding"), nullptr);
  auto ct = p.value("Content-Type");
  CAF_CHECK_EQUAL(ct.rfind("multipart/alternative; boundary=\"", 0), 0u);
  auto boundary = boundary_of(ct);
  CAF_MESSAGE("boundary: " << boundary);
  CAF_CHECK_EQUAL(boundary.rfind("=_", 0), 0u);
  CAF_CHECK_GREATER_OR_EQUAL(boundary.size(), 30u);
  // Three delimiters and nothing else holds the boundary.
  CAF_CHECK_EQUAL(count(p.body, boundary), 3u);
  CAF_CHECK_EQUAL(p.body.substr(p.body.size() - boundary.size() - 6),
                  "--" + boundary + "--\r\n");
  auto parts = split_parts(p.body, boundary);
  CAF_REQUIRE_EQUAL(parts.size(), 2u);
  CAF_CHECK_EQUAL(parts[0].p.value("Content-Type"), "text/plain; charset=utf-8");
  CAF_CHECK_EQUAL(parts[1].p.value("Content-Type"), "text/html; charset=utf-8");
  CAF_CHECK_EQUAL(parts[0].decoded, canonical(m.text));
  CAF_CHECK_EQUAL(parts[1].decoded, canonical(m.html));
  // A fresh boundary every time.
  auto again = parse(build_mime(m, fixed_date));
  CAF_CHECK_NOT_EQUAL(boundary_of(again.value("Content-Type")), boundary);
}

CAF_TEST(a non ASCII subject is sent as encoded words) {
  auto m = sample();
  m.subject = "Olá — confirmação";
  auto p = parse(build_mime(m, fixed_date));
  auto subject = p.value("Subject");
  CAF_MESSAGE("Subject: " << subject);
  CAF_CHECK(text::valid_utf8(subject));
  CAF_CHECK(std::all_of(subject.begin(), subject.end(),
                        [](char c) { return c > 0x1f && c < 0x7f; }));
  CAF_CHECK_EQUAL(subject.rfind("=?UTF-8?B?", 0), 0u);
  CAF_CHECK_EQUAL(decode_words(subject), m.subject);
}

CAF_TEST(a long non ASCII subject is folded between whole characters) {
  auto m = sample();
  std::string s;
  for (int i = 0; i < 40; ++i)
    s += "confirmação ✓ 你好 ";
  m.subject = s;
  auto msg = build_mime(m, fixed_date);
  auto p = parse(msg);
  auto subject = p.find("Subject");
  CAF_REQUIRE(subject != nullptr);
  CAF_CHECK_LESS_OR_EQUAL(longest_line(subject->raw), 78u);
  CAF_CHECK_GREATER(count(subject->raw, "\r\n "), 10u);
  size_t longest_word = 0;
  CAF_CHECK_EQUAL(decode_words(subject->value, &longest_word), s);
  CAF_CHECK_LESS_OR_EQUAL(longest_word, 75u);
}

CAF_TEST(a long ASCII subject is folded at spaces) {
  auto m = sample();
  std::string s;
  for (int i = 0; i < 30; ++i)
    s += "word" + std::to_string(i) + " ";
  s += "end";
  m.subject = s;
  auto p = parse(build_mime(m, fixed_date));
  auto subject = p.find("Subject");
  CAF_REQUIRE(subject != nullptr);
  CAF_CHECK_GREATER(count(subject->raw, "\r\n "), 1u);
  CAF_CHECK_LESS_OR_EQUAL(longest_line(subject->raw), 78u);
  // Unfolding (removing the CRLFs) gives the subject back.
  CAF_CHECK_EQUAL(subject->value, s);
}

CAF_TEST(ASCII that a reader would decode or cannot fold is encoded) {
  auto m = sample();
  m.subject = "=?UTF-8?B?SGk=?= is not an encoded word here";
  auto p = parse(build_mime(m, fixed_date));
  CAF_CHECK_EQUAL(decode_words(p.value("Subject")), m.subject);
  m.subject = std::string(3000, 'x');
  auto msg = build_mime(m, fixed_date);
  CAF_CHECK_LESS_OR_EQUAL(longest_line(msg), 998u);
  CAF_CHECK_EQUAL(decode_words(parse(msg).value("Subject")), m.subject);
}

CAF_TEST(header injection through any header value is impossible) {
  email_message m;
  m.from = "Evil <a@example.com>\r\nBcc: victim1@evil.example";
  m.to = "b@example.org\nBcc: victim2@evil.example";
  m.reply_to = "r@example.org\rBcc: victim3@evil.example";
  m.subject = "Hi\r\nBcc: victim4@evil.example\r\n\r\nforged body";
  m.message_id = "id@example.com>\r\nBcc: victim5@evil.example";
  m.text = "body";
  m.extra_headers = {
    {"X-Tag", "1\r\nBcc: victim6@evil.example"},
    {"X-Bad\r\nBcc", "victim7@evil.example"},
    {"Bcc : x", "victim8@evil.example"},
    {"", "empty name"},
    {"Content-Type", "text/evil"},
    {"content-transfer-encoding", "7bit"},
    {"MIME-Version", "2.0"},
    {"Subject", "second subject"},
    {"X-Nul", std::string{"a\0b", 3}},
    {"List-Unsubscribe", "<https://example.com/u?x=1>"},
  };
  auto msg = build_mime(m, fixed_date);
  CAF_CHECK(crlf_only(msg));
  auto p = parse(msg);
  CAF_CHECK_EQUAL(p.names(),
                  (strings{"Date", "From", "To", "Reply-To", "Subject",
                           "Message-ID", "MIME-Version", "Content-Type",
                           "Content-Transfer-Encoding", "X-Tag", "X-Nul",
                           "List-Unsubscribe"}));
  CAF_CHECK_EQUAL(p.value("From"), "Evil <a@example.com>");
  CAF_CHECK_EQUAL(p.value("To"), "b@example.org Bcc: victim2@evil.example");
  CAF_CHECK_EQUAL(p.value("Subject"),
                  "Hi Bcc: victim4@evil.example forged body");
  CAF_CHECK_EQUAL(p.value("Message-ID"),
                  "<id@example.comBcc:victim5@evil.example>");
  CAF_CHECK_EQUAL(p.value("X-Tag"), "1 Bcc: victim6@evil.example");
  CAF_CHECK_EQUAL(p.value("X-Nul"), "a b");
  CAF_CHECK_EQUAL(p.value("Content-Type"), "text/plain; charset=utf-8");
  CAF_CHECK_EQUAL(p.value("List-Unsubscribe"), "<https://example.com/u?x=1>");
  CAF_CHECK_EQUAL(qp_decode(p.body), std::string{"body"});
}

CAF_TEST(display names are atoms quoted strings or encoded words) {
  auto to_header = [](const std::string& to) {
    auto m = sample();
    m.to = to;
    return parse(build_mime(m, fixed_date)).value("To");
  };
  CAF_CHECK_EQUAL(to_header("Ana Lima <ana@example.org>"),
                  "Ana Lima <ana@example.org>");
  CAF_CHECK_EQUAL(to_header("<ana@example.org>"), "ana@example.org");
  CAF_CHECK_EQUAL(to_header("  ana@example.org  "), "ana@example.org");
  CAF_CHECK_EQUAL(to_header("Lima, Ana <ana@example.org>"),
                  "\"Lima, Ana\" <ana@example.org>");
  CAF_CHECK_EQUAL(to_header("\"Ana \\\"AL\\\" Lima\" <ana@example.org>"),
                  "\"Ana \\\"AL\\\" Lima\" <ana@example.org>");
  auto encoded = to_header("Conceição <c@example.org>");
  CAF_CHECK_EQUAL(encoded.rfind("=?UTF-8?B?", 0), 0u);
  CAF_CHECK_EQUAL(decode_words(encoded), std::string{"Conceição <c@example.org>"});
}

CAF_TEST(body lines stay short and CRLF whatever the text holds) {
  auto m = sample();
  std::string text = std::string(5000, 'a') + "\n";           // one long line
  text += "trailing spaces   \n";                                // must be escaped
  text += "tab at end\t\r\n";
  text += ".leading dot\n.\n";                                    // SMTP dot
  text += "From the start\n";                                     // mbox
  text += "lone\rcarriage return and = sign\n";
  text += std::string(100, '=') + "\n";
  text += std::string(300, ' ') + "x\n";
  m.text = text;
  auto msg = build_mime(m, fixed_date);
  CAF_CHECK(crlf_only(msg));
  auto p = parse(msg);
  CAF_CHECK_EQUAL(p.value("Content-Transfer-Encoding"), "quoted-printable");
  CAF_CHECK_LESS_OR_EQUAL(longest_line(p.body), 76u);
  CAF_CHECK_EQUAL(qp_decode(p.body), canonical(text));
  // No encoded line starts with a dot or "From ", and none ends in a space.
  size_t pos = 0;
  while (pos < p.body.size()) {
    auto eol = p.body.find("\r\n", pos);
    auto line = p.body.substr(pos, eol - pos);
    CAF_CHECK(line.empty() || line[0] != '.');
    CAF_CHECK(line.rfind("From ", 0) != 0);
    CAF_CHECK(line.empty() || (line.back() != ' ' && line.back() != '\t'));
    pos = eol + 2;
  }
}

CAF_TEST(mostly non ASCII text goes as base64) {
  auto m = sample();
  std::string text;
  for (int i = 0; i < 50; ++i)
    text += "Ваш код подтверждения: 1234. 你的验证码是 1234。\n";
  m.text = text;
  m.html = "<p>" + text + "</p>";
  auto p = parse(build_mime(m, fixed_date));
  auto parts = split_parts(p.body, boundary_of(p.value("Content-Type")));
  CAF_REQUIRE_EQUAL(parts.size(), 2u);
  for (auto& pt : parts) {
    CAF_CHECK_EQUAL(pt.p.value("Content-Transfer-Encoding"), "base64");
    CAF_CHECK_LESS_OR_EQUAL(longest_line(pt.p.body), 76u);
  }
  CAF_CHECK_EQUAL(parts[0].decoded, canonical(m.text));
  CAF_CHECK_EQUAL(parts[1].decoded, canonical(m.html));
  // Single part: the base64 ends in a CRLF.
  m.html.clear();
  auto single = parse(build_mime(m, fixed_date));
  CAF_CHECK_EQUAL(single.value("Content-Transfer-Encoding"), "base64");
  CAF_CHECK_EQUAL(single.body.substr(single.body.size() - 2), "\r\n");
  CAF_CHECK_EQUAL(base64_decode_lines(single.body), canonical(m.text));
}

CAF_TEST(extra headers are appended folded and encoded) {
  auto m = sample();
  std::string long_value;
  for (int i = 0; i < 20; ++i)
    long_value += "token" + std::to_string(i) + " ";
  m.extra_headers = {{"X-Long", long_value},
                     {"X-Notification-Id", "0190c0de-1111"},
                     {"X-Name", "São Paulo"}};
  auto msg = build_mime(m, fixed_date);
  auto p = parse(msg);
  auto names = p.names();
  CAF_REQUIRE_EQUAL(names.size(), 11u);
  CAF_CHECK_EQUAL((strings{names.begin() + 8, names.end()}),
                  (strings{"X-Long", "X-Notification-Id", "X-Name"}));
  CAF_CHECK_EQUAL(p.value("X-Long"), long_value);
  CAF_CHECK_LESS_OR_EQUAL(longest_line(p.find("X-Long")->raw), 78u);
  CAF_CHECK_EQUAL(p.value("X-Notification-Id"), "0190c0de-1111");
  CAF_CHECK_EQUAL(decode_words(p.value("X-Name")), std::string{"São Paulo"});
}

CAF_TEST(an empty message id becomes a random one on the From domain) {
  auto m = sample();
  m.message_id.clear();
  auto a = parse(build_mime(m, fixed_date)).value("Message-ID");
  auto b = parse(build_mime(m, fixed_date)).value("Message-ID");
  CAF_MESSAGE("Message-ID: " << a);
  CAF_CHECK_NOT_EQUAL(a, b);
  CAF_CHECK_EQUAL(a.front(), '<');
  CAF_CHECK_EQUAL(a.substr(a.size() - 13), "@example.com>");
}

CAF_TEST(message_id_for) {
  CAF_CHECK_EQUAL(message_id_for("0190c0de-7b1a-7cc3-8000-1234567890ab",
                                 "Herald <notify@Mail.Example.COM>"),
                  "notif-0190c0de-7b1a-7cc3-8000-1234567890ab@mail.example.com");
  CAF_CHECK_EQUAL(message_id_for("abc", "notify@example.com"),
                  "notif-abc@example.com");
  CAF_CHECK_EQUAL(message_id_for("abc", ""), "notif-abc@herald.local");
  CAF_CHECK_EQUAL(message_id_for("abc", "no address here"),
                  "notif-abc@herald.local");
  CAF_CHECK_EQUAL(message_id_for("abc", "x@[10.0.0.1]"),
                  "notif-abc@herald.local");
  CAF_CHECK_EQUAL(message_id_for("a b@<c>=\r\n", "n@example.com"),
                  "notif-a=20b=40=3Cc=3E=3D=0D=0A@example.com");
  // Usable as is in a Message-ID header.
  auto m = sample();
  m.message_id = message_id_for("42", m.from);
  CAF_CHECK_EQUAL(parse(build_mime(m, fixed_date)).value("Message-ID"),
                  "<notif-42@example.com>");
}

CAF_TEST(bare_address) {
  CAF_CHECK_EQUAL(bare_address("a@b"), "a@b");
  CAF_CHECK_EQUAL(bare_address("  a@b.example  "), "a@b.example");
  CAF_CHECK_EQUAL(bare_address("Name <a@b>"), "a@b");
  CAF_CHECK_EQUAL(bare_address("<a@b>"), "a@b");
  CAF_CHECK_EQUAL(bare_address("\"Lima, Ana <x>\" <ana@example.org>"),
                  "ana@example.org");
  CAF_CHECK_EQUAL(bare_address("Name < a@b >"), "a@b");
  CAF_CHECK_EQUAL(bare_address("first.last+tag@sub.example.com"),
                  "first.last+tag@sub.example.com");
  for (auto bad : {"", "   ", "Name", "Name <>", "<a@b", "@b", "a@", "a@@b",
                   "a@b@c", "a b@c", "a@b\r\nRCPT TO:<x@y>", "a@b\n",
                   "Name <a@b\r\n>", "a<b@c", "a,b@c", "ação@example.com",
                   "a@exämple.com", "a\"b@c"})
    CAF_CHECK_EQUAL(bare_address(bad), "");
}
