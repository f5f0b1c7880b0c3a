// The SMTP shape of the fake (see smtp_shape.hpp): an ESMTP sink on its own
// port, a thread per connection.

#include "smtp_shape.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <string_view>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace herald::tools {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

// A command line longer than this (RFC 5321 allows 512) ends the session.
constexpr std::size_t max_command_bytes = 4096;
// A text line (RFC 5321: 1000 octets) held back longer than this is dropped
// and the message answered 552.
constexpr std::size_t max_line_bytes = 1024 * 1024;

const std::string greeting = "220 fake-provider ESMTP ready\r\n";
const std::string closing = "421 4.3.2 Service not available, closing "
                            "transmission channel\r\n";

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    auto a = s[i];
    if (a >= 'a' && a <= 'z')
      a = static_cast<char>(a - 'a' + 'A');
    if (a != prefix[i])
      return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// "FROM:<a@b> SIZE=12" after the verb: the address in the angle brackets
// (a bare one up to the first space is taken too) and the parameters.
bool parse_path(std::string_view rest, std::string_view keyword,
                std::string& address, std::string_view& params) {
  rest = trim(rest);
  if (!iequals_prefix(rest, keyword))
    return false;
  rest = trim(rest.substr(keyword.size()));
  if (!rest.empty() && rest.front() == '<') {
    auto close = rest.find('>');
    if (close == std::string_view::npos)
      return false;
    address.assign(rest.substr(1, close - 1));
    params = trim(rest.substr(close + 1));
    return true;
  }
  auto sp = rest.find(' ');
  address.assign(rest.substr(0, sp));
  params = sp == std::string_view::npos ? std::string_view{}
                                        : trim(rest.substr(sp));
  return !address.empty();
}

// The value of a SIZE=n parameter, 0 if absent or not a number.
std::size_t size_param(std::string_view params) {
  while (!params.empty()) {
    auto sp = params.find(' ');
    auto p = params.substr(0, sp);
    if (iequals_prefix(p, "SIZE=")) {
      std::size_t n = 0;
      for (char c : p.substr(5)) {
        if (c < '0' || c > '9' || n > (std::size_t{1} << 40))
          return 0;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      return n;
    }
    if (sp == std::string_view::npos)
      break;
    params = trim(params.substr(sp));
  }
  return 0;
}

// The X-Herald-Notification-Id header of a message, "" if it has none.
std::string notification_id(const std::string& data) {
  std::string_view rest{data};
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    auto line = rest.substr(0, eol);
    if (line.empty())
      break; // end of the header block
    if (iequals_prefix(line, "X-HERALD-NOTIFICATION-ID:"))
      return std::string{trim(line.substr(25))};
    if (eol == std::string_view::npos)
      break;
    rest.remove_prefix(eol + 2);
  }
  return {};
}

bool roll(double rate) {
  if (rate <= 0.0)
    return false;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> uniform{0.0, 1.0};
  return uniform(rng) < rate;
}

bool send_all(int fd, const std::string& out) {
  std::size_t sent = 0;
  while (sent < out.size()) {
    auto n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Closes with RST, as a refused connection is reset.
void reset_and_close(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

} // namespace

smtp_shape::smtp_shape(std::string host, int port, hooks h)
  : host_(std::move(host)), port_(port), hooks_(std::move(h)) {
}

smtp_shape::~smtp_shape() {
  stop();
}

bool smtp_shape::start(std::string& error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port_));
  if (::inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) {
    error = "cannot listen on " + host_ + " (smtp port): not an IPv4 address";
    return false;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (listen_fd_ < 0
      || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0
      || ::listen(listen_fd_, SOMAXCONN) != 0) {
    error = "cannot listen on " + host_ + ":" + std::to_string(port_)
            + " (smtp port): " + std::strerror(errno);
    return false;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
  return true;
}

void smtp_shape::stop() {
  if (stopping_.exchange(true))
    return;
  // shutdown() wakes the thread blocked in accept() (Linux).
  if (listen_fd_ >= 0)
    ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable())
    acceptor_.join();
  if (listen_fd_ >= 0)
    ::close(listen_fd_);
  listen_fd_ = -1;
  std::vector<connection> all;
  {
    std::lock_guard<std::mutex> guard{conns_mu_};
    for (auto& c : conns_)
      ::shutdown(c.fd, SHUT_RDWR); // wakes its thread's recv()
    all.swap(conns_);
  }
  for (auto& c : all)
    c.thread.join();
}

void smtp_shape::reap_locked() {
  for (auto i = conns_.begin(); i != conns_.end();) {
    if (*i->finished) {
      i->thread.join();
      i = conns_.erase(i);
    } else {
      ++i;
    }
  }
}

void smtp_shape::accept_loop() {
  for (;;) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (stopping_) {
      if (fd >= 0)
        ::close(fd);
      return;
    }
    if (fd < 0) {
      // Out of descriptors or a connection gone before accept: go on.
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS
          || errno == ENOMEM)
        std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    if (hooks_.refusing()) {
      book_.count("aborted_while_refusing");
      reset_and_close(fd);
      continue;
    }
    book_.count("connections");
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> guard{conns_mu_};
    reap_locked();
    auto finished = std::make_shared<std::atomic<bool>>(false);
    // The thread closes its fd under conns_mu_ (see serve): stop() never
    // shuts down a number that was reused.
    conns_.push_back(connection{fd, std::thread([this, fd, finished] {
                                  serve(fd);
                                  *finished = true;
                                }),
                                finished});
  }
}

void smtp_shape::serve(int fd) {
  std::string in;
  std::size_t pos = 0;
  std::string out = greeting;
  bool greeted = false;
  bool in_data = false;
  bool quit = false;
  // The current transaction.
  bool have_mail = false;
  std::string from;
  json rcpts = json::array();
  std::string data;
  bool too_big = false;
  bool skip_to_eol = false; // the rest of an over-long text line
  auto clear_transaction = [&] {
    have_mail = false;
    from.clear();
    rcpts = json::array();
    data.clear();
    too_big = false;
  };
  std::vector<char> buf(64 * 1024);
  while (!quit) {
    for (;;) {
      auto nl = in.find('\n', pos);
      if (nl == std::string::npos)
        break;
      std::string_view line{in.data() + pos, nl - pos};
      pos = nl + 1;
      if (!line.empty() && line.back() == '\r')
        line.remove_suffix(1);
      if (in_data) {
        if (skip_to_eol) {
          skip_to_eol = false;
          continue;
        }
        if (line == ".") {
          in_data = false;
          if (hooks_.refusing()) {
            book_.count("aborted_while_refusing");
            out += closing;
            quit = true;
            break;
          }
          out += finish_message(std::move(from), std::move(rcpts),
                                std::move(data), too_big);
          clear_transaction();
          continue;
        }
        if (!line.empty() && line.front() == '.')
          line.remove_prefix(1);
        if (too_big)
          continue;
        if (data.size() + line.size() + 2 > max_message_bytes) {
          too_big = true;
          data.clear();
          continue;
        }
        data.append(line).append("\r\n");
        continue;
      }
      if (hooks_.refusing()) {
        book_.count("aborted_while_refusing");
        out += closing;
        quit = true;
        break;
      }
      auto verb = line.substr(0, line.find(' '));
      auto rest = verb.size() < line.size() ? line.substr(verb.size())
                                            : std::string_view{};
      if (iequals_prefix(verb, "EHLO") && verb.size() == 4) {
        greeted = true;
        clear_transaction();
        out += "250-fake-provider greets ";
        out.append(trim(rest));
        out += "\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE "
               + std::to_string(max_message_bytes)
               + "\r\n250 ENHANCEDSTATUSCODES\r\n";
      } else if (iequals_prefix(verb, "HELO") && verb.size() == 4) {
        greeted = true;
        clear_transaction();
        out += "250 fake-provider\r\n";
      } else if (iequals_prefix(verb, "MAIL") && verb.size() == 4) {
        std::string address;
        std::string_view params;
        if (!greeted)
          out += "503 5.5.1 Error: send HELO/EHLO first\r\n";
        else if (have_mail)
          out += "503 5.5.1 Error: nested MAIL command\r\n";
        else if (!parse_path(rest, "FROM:", address, params))
          out += "501 5.5.4 Syntax: MAIL FROM:<address>\r\n";
        else if (size_param(params) > max_message_bytes)
          out += "552 5.3.4 Message size exceeds fixed limit\r\n";
        else {
          have_mail = true;
          from = std::move(address);
          out += "250 2.1.0 Ok\r\n";
        }
      } else if (iequals_prefix(verb, "RCPT") && verb.size() == 4) {
        std::string address;
        std::string_view params;
        if (!have_mail)
          out += "503 5.5.1 Error: need MAIL command\r\n";
        else if (!parse_path(rest, "TO:", address, params) || address.empty())
          out += "501 5.5.4 Syntax: RCPT TO:<address>\r\n";
        else if (rcpts.size() >= 1000)
          out += "452 4.5.3 Error: too many recipients\r\n";
        else {
          rcpts.push_back(std::move(address));
          out += "250 2.1.5 Ok\r\n";
        }
      } else if (iequals_prefix(verb, "DATA") && line.size() == 4) {
        if (rcpts.empty()) {
          out += "503 5.5.1 Error: need RCPT command\r\n";
        } else {
          in_data = true;
          out += "354 End data with <CR><LF>.<CR><LF>\r\n";
        }
      } else if (iequals_prefix(verb, "RSET") && line.size() == 4) {
        clear_transaction();
        out += "250 2.0.0 Ok\r\n";
      } else if (iequals_prefix(verb, "NOOP") && verb.size() == 4) {
        out += "250 2.0.0 Ok\r\n";
      } else if (iequals_prefix(verb, "QUIT") && line.size() == 4) {
        out += "221 2.0.0 Bye\r\n";
        quit = true;
        break;
      } else if (iequals_prefix(verb, "VRFY") && verb.size() == 4) {
        out += "252 2.5.2 Cannot VRFY user\r\n";
      } else {
        out += "500 5.5.2 Error: command not recognized\r\n";
      }
    }
    if (pos > 0) {
      in.erase(0, pos);
      pos = 0;
    }
    if (!quit && !in_data && in.size() > max_command_bytes) {
      out += "500 5.5.2 Error: line too long\r\n";
      quit = true;
    }
    if (in_data && in.size() > max_line_bytes) {
      // No line break in sight: drop what we have of this line.
      too_big = true;
      data.clear();
      in.clear();
      skip_to_eol = true;
    }
    if (!out.empty()) {
      if (!send_all(fd, out))
        break;
      out.clear();
    }
    if (quit)
      break;
    auto n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    in.append(buf.data(), static_cast<std::size_t>(n));
  }
  std::lock_guard<std::mutex> guard{conns_mu_};
  ::close(fd);
  for (auto& c : conns_)
    if (c.fd == fd)
      c.fd = -1;
}

std::string smtp_shape::finish_message(std::string from, json rcpts,
                                       std::string data, bool too_big) {
  auto arrival = steady_clock::now();
  book_.count_received();
  auto f = hooks_.faults();
  if (f.latency_ms > 0)
    hooks_.delay(milliseconds(f.latency_ms));
  if (too_big) {
    book_.answered(552,
                   {{"mail_from", std::move(from)},
                    {"rcpt_to", std::move(rcpts)},
                    {"size", "too big"}},
                   arrival);
    return "552 5.3.4 Message size exceeds fixed limit\r\n";
  }
  if (roll(f.fail_rate)) {
    book_.count_injected();
    return "451 4.3.0 Injected failure, try again later\r\n";
  }
  auto id = notification_id(data);
  if (id.empty()) {
    book_.count("without_id");
  } else {
    uint32_t n = 0;
    {
      std::lock_guard<std::mutex> guard{ids_mu_};
      n = ++delivered_ids_[id];
    }
    if (n == 2)
      book_.count("duplicates");
    if (n >= 2)
      book_.count("duplicate_deliveries");
  }
  auto size = data.size();
  book_.answered(250,
                 {{"mail_from", std::move(from)},
                  {"rcpt_to", std::move(rcpts)},
                  {"notification_id", id},
                  {"size", size},
                  {"data", std::move(data)}},
                 arrival);
  return "250 2.0.0 Ok: queued\r\n";
}

json smtp_shape::stats(bool with_ids) const {
  auto j = book_.stats();
  std::lock_guard<std::mutex> guard{ids_mu_};
  j["unique"] = delivered_ids_.size();
  if (with_ids) {
    auto ids = json::object();
    for (const auto& [id, n] : delivered_ids_)
      ids[id] = n;
    j["ids"] = std::move(ids);
  }
  return j;
}

json smtp_shape::messages(std::size_t limit) const {
  return book_.messages(limit);
}

void smtp_shape::reset() {
  book_.reset();
  std::lock_guard<std::mutex> guard{ids_mu_};
  delivered_ids_.clear();
}

} // namespace herald::tools
