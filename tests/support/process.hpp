#pragma once

// Child processes for end-to-end tests: a binary started with its stdout and
// stderr captured (read by a background thread, so a chatty child never
// blocks on a full pipe), lines awaited with a deadline, a clean stop with
// SIGTERM or a hard one with SIGKILL.
//
// A CAF_REQUIRE that fails calls abort(): no destructor runs. Children are
// therefore started with PR_SET_PDEATHSIG = SIGKILL, so they die with the
// test binary whatever way it ends (abort, watchdog, a kill by ctest).
//
// Independent of any test framework: failures are return values.

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace herald::test {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

/// Polls `f` until it returns true or `timeout` passes: waits on a condition
/// instead of guessing how long something takes.
template <class F>
bool eventually(F&& f, milliseconds timeout = std::chrono::seconds(10),
                milliseconds step = milliseconds(20)) {
  auto deadline = steady_clock::now() + timeout;
  for (;;) {
    if (f())
      return true;
    if (steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(step);
  }
}

class child_process {
public:
  struct options {
    /// SIGKILL the child when the test binary dies (off for helpers that
    /// must finish their job, e.g. starting a database server).
    bool die_with_parent = true;
    /// Start the child in its own process group (a Ctrl-C on the terminal
    /// then reaches only the test).
    bool own_process_group = false;
  };

  child_process(std::string binary, std::vector<std::string> args)
    : child_process(std::move(binary), std::move(args), options{}) {
  }

  child_process(std::string binary, std::vector<std::string> args,
                options opts) {
    args.insert(args.begin(), binary);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
      return;
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return;
    }
    auto parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      // Only async-signal-safe calls between fork and exec.
      if (opts.die_with_parent) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
          ::_exit(127);
      }
      if (opts.own_process_group)
        ::setpgid(0, 0);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0)
        ::dup2(devnull, STDIN_FILENO);
      // The test blocks no signals on purpose, but be sure: a blocked
      // SIGTERM would be inherited and make "stop with SIGTERM" meaningless.
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve(binary.c_str(), argv.data(), environ);
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (pid_ < 0) {
      ::close(out[0]);
      ::close(err[0]);
      return;
    }
    out_fd_ = out[0];
    err_fd_ = err[0];
    reader_ = std::thread{[this] { read_loop(); }};
  }

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  ~child_process() {
    kill_hard();
    stop_reading_ = true;
    if (reader_.joinable())
      reader_.join();
    if (out_fd_ >= 0)
      ::close(out_fd_);
    if (err_fd_ >= 0)
      ::close(err_fd_);
  }

  bool started() const {
    return pid_ > 0 || exited_;
  }

  pid_t pid() const {
    return pid_;
  }

  bool running() {
    poll_exit();
    return pid_ > 0;
  }

  /// Waits until stdout has a line starting with `prefix`; returns the rest
  /// of that line, or false on timeout or when stdout ended first.
  bool await_line(const std::string& prefix, std::string& rest,
                  milliseconds timeout = std::chrono::seconds(20)) {
    std::unique_lock<std::mutex> guard{mtx_};
    auto found = [&] {
      size_t pos = 0;
      while (pos < out_.size()) {
        auto nl = out_.find('\n', pos);
        if (nl == std::string::npos)
          break;
        if (out_.compare(pos, prefix.size(), prefix) == 0
            && nl - pos >= prefix.size()) {
          rest = out_.substr(pos + prefix.size(), nl - pos - prefix.size());
          return true;
        }
        pos = nl + 1;
      }
      return false;
    };
    return cv_.wait_for(guard, timeout, [&] { return found() || out_eof_; })
           && found();
  }

  std::string stdout_text() {
    std::lock_guard<std::mutex> guard{mtx_};
    return out_;
  }

  std::string stderr_text() {
    std::lock_guard<std::mutex> guard{mtx_};
    return err_;
  }

  /// Waits for the child to end by itself. Its exit code; 128 + N if signal
  /// N ended it; -1 on timeout.
  int wait_exit(milliseconds timeout = std::chrono::seconds(10)) {
    if (!eventually([&] { return poll_exit(); }, timeout, milliseconds(10)))
      return -1;
    // Give the reader a moment to collect the last output.
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, std::chrono::seconds(2),
                 [&] { return out_eof_ && err_eof_; });
    return exit_code_;
  }

  /// SIGTERM, then wait_exit.
  int terminate(milliseconds timeout = std::chrono::seconds(10)) {
    if (pid_ > 0)
      ::kill(pid_, SIGTERM);
    return wait_exit(timeout);
  }

  /// SIGKILL and reap (no-op if the child already ended).
  void kill_hard() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_)
        record(status);
      pid_ = -1;
    }
  }

  /// The exit code seen last (as wait_exit returns it; -1 = not yet).
  int exit_code() const {
    return exit_code_;
  }

private:
  bool poll_exit() {
    if (pid_ <= 0)
      return exited_;
    int status = 0;
    auto rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      record(status);
      pid_ = -1;
      return true;
    }
    return false;
  }

  void record(int status) {
    exited_ = true;
    if (WIFEXITED(status))
      exit_code_ = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      exit_code_ = 128 + WTERMSIG(status);
  }

  void read_loop() {
    // Polls with a timeout: a grandchild that inherited a pipe must not keep
    // this thread (and the destructor) waiting for an EOF forever.
    bool out_open = true;
    bool err_open = true;
    while ((out_open || err_open) && !stop_reading_) {
      pollfd fds[2] = {{out_open ? out_fd_ : -1, POLLIN, 0},
                       {err_open ? err_fd_ : -1, POLLIN, 0}};
      auto rc = ::poll(fds, 2, 100);
      if (rc < 0 && errno != EINTR)
        break;
      if (rc <= 0)
        continue;
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0)
          continue;
        char chunk[4096];
        auto n = ::read(fds[i].fd, chunk, sizeof chunk);
        std::lock_guard<std::mutex> guard{mtx_};
        if (n > 0) {
          (i == 0 ? out_ : err_).append(chunk, static_cast<size_t>(n));
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          (i == 0 ? out_open : err_open) = false;
          (i == 0 ? out_eof_ : err_eof_) = true;
        }
        cv_.notify_all();
      }
    }
    std::lock_guard<std::mutex> guard{mtx_};
    out_eof_ = err_eof_ = true;
    cv_.notify_all();
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int exit_code_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_reading_{false};
  std::mutex mtx_;
  std::condition_variable cv_;
  std::string out_;
  std::string err_;
  bool out_eof_ = false;
  bool err_eof_ = false;
};

/// Runs a command to its end: its exit code (-1 on timeout, after which it
/// is killed) and its combined output.
struct command_result {
  int exit_code = -1;
  std::string output;
};

inline command_result run_command(const std::string& binary,
                                  std::vector<std::string> args,
                                  milliseconds timeout = std::chrono::seconds(90)) {
  child_process::options opts;
  opts.die_with_parent = false;
  opts.own_process_group = true;
  child_process proc{binary, std::move(args), opts};
  command_result res;
  res.exit_code = proc.wait_exit(timeout);
  res.output = proc.stdout_text() + proc.stderr_text();
  return res;
}

} // namespace herald::test
