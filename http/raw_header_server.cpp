#include "http/raw_header_server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/raw_headers.hpp"

namespace herald {

namespace {

/// Most a request head may take before the copy is given up (httplib's own
/// limits are 8 KiB per line and 100 fields); without the copy the request
/// keeps httplib's decoded headers.
constexpr size_t max_head_bytes = 256 * 1024;

int poll_ms(time_t sec, time_t usec) {
  return static_cast<int>(sec * 1000 + usec / 1000);
}

/// A socket stream with a read buffer (httplib reads the head one byte at a
/// time) that can copy what it hands out.
class recording_stream final : public httplib::Stream {
public:
  recording_stream(socket_t sock, int read_timeout_ms, int write_timeout_ms)
    : sock_(sock),
      read_timeout_ms_(read_timeout_ms),
      write_timeout_ms_(write_timeout_ms) {
  }

  bool is_readable() const override {
    return buffered() > 0 || wait(POLLIN, read_timeout_ms_);
  }

  bool is_writable() const override {
    return wait(POLLOUT, write_timeout_ms_);
  }

  ssize_t read(char* ptr, size_t size) override {
    if (buffered() == 0) {
      if (!wait(POLLIN, read_timeout_ms_))
        return -1;
      if (size >= buf_.size() && !recording_) {
        // A large body read goes straight to the caller.
        return recv_some(ptr, size);
      }
      auto n = recv_some(buf_.data(), buf_.size());
      if (n <= 0)
        return n;
      begin_ = 0;
      end_ = static_cast<size_t>(n);
    }
    auto n = std::min(size, buffered());
    std::memcpy(ptr, buf_.data() + begin_, n);
    if (recording_) {
      if (head_.size() + n <= max_head_bytes)
        head_.append(ptr, n);
      else
        overflow_ = true;
    }
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable())
      return -1;
    ssize_t n;
    do {
      n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      to_ip_and_port(addr, len, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      to_ip_and_port(addr, len, ip, port);
  }

  socket_t socket() const override {
    return sock_;
  }

  /// Starts copying a new request head.
  void record() {
    head_.clear();
    overflow_ = false;
    recording_ = true;
  }

  /// Stops copying; returns the head, or nothing if it was too long.
  std::string take_head() {
    recording_ = false;
    if (overflow_)
      return {};
    return std::move(head_);
  }

  size_t buffered() const {
    return end_ - begin_;
  }

private:
  bool wait(short events, int timeout_ms) const {
    pollfd pfd{sock_, events, 0};
    int rc;
    do {
      rc = ::poll(&pfd, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
  }

  ssize_t recv_some(char* ptr, size_t size) {
    ssize_t n;
    do {
      n = ::recv(sock_, ptr, size, 0);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  static void to_ip_and_port(const sockaddr_storage& addr, socklen_t len,
                             std::string& ip, int& port) {
    char host[NI_MAXHOST];
    if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host,
                      sizeof(host), nullptr, 0, NI_NUMERICHOST)
        != 0)
      return;
    ip = host;
    if (addr.ss_family == AF_INET)
      port = ntohs(reinterpret_cast<const sockaddr_in&>(addr).sin_port);
    else if (addr.ss_family == AF_INET6)
      port = ntohs(reinterpret_cast<const sockaddr_in6&>(addr).sin6_port);
  }

  socket_t sock_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  std::array<char, 16 * 1024> buf_{};
  size_t begin_ = 0;
  size_t end_ = 0;
  bool recording_ = false;
  bool overflow_ = false;
  std::string head_;
};

} // namespace

bool raw_header_server::await_request(socket_t sock) const {
  // Like httplib's keep-alive wait, but it also notices a stopping server
  // within 100 ms instead of holding the connection for the whole timeout.
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::seconds(keep_alive_timeout_sec_);
  for (;;) {
    if (svr_sock_ == INVALID_SOCKET)
      return false;
    pollfd pfd{sock, POLLIN, 0};
    auto rc = ::poll(&pfd, 1, 100);
    if (rc > 0)
      return true;
    if (rc < 0 && errno != EINTR)
      return false;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
  }
}

bool raw_header_server::process_and_close_socket(socket_t sock) {
  recording_stream strm{sock, poll_ms(read_timeout_sec_, read_timeout_usec_),
                        poll_ms(write_timeout_sec_, write_timeout_usec_)};
  auto restore = [&strm](httplib::Request& req) {
    auto head = strm.take_head();
    if (!head.empty())
      restore_raw_headers(parse_raw_headers(head), req.headers);
  };
  auto ret = false;
  for (auto count = keep_alive_max_count_; count > 0; --count) {
    if (svr_sock_ == INVALID_SOCKET)
      break;
    if (strm.buffered() == 0 && !await_request(sock))
      break;
    auto close_connection = count == 1;
    auto connection_closed = false;
    strm.record();
    ret = process_request(strm, close_connection, connection_closed, restore);
    if (!ret || connection_closed)
      break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

} // namespace herald
