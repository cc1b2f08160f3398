#include "coffeeshop/net/interruptible_server.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"
#include "coffeeshop/util/thread_name.hpp"

#include <condition_variable>
#include <deque>
#include <memory>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

namespace coffeeshop::net {

namespace {

// The connection served by this worker thread, for peer_closed().
thread_local int current_connection = -1;

// How the pool placed the connection this thread is about to serve.
enum class slot { normal, reserved, refused };
thread_local slot current_slot = slot::normal;
/// The pool whose worker runs on this thread, and whether its connection already left the
/// count (release_reserved_slot()).
thread_local httplib::TaskQueue* current_pool = nullptr;
thread_local bool slot_released = false;

// Set by a handler that left the request's body unread.
thread_local bool close_requested = false;

// Lowercased names of the header lines of the request being handled on this thread whose
// value is empty or all blanks: httplib 0.11 drops such lines, so a handler could not tell
// "Idempotency-Key:" from no header at all.
thread_local std::vector<std::string> empty_headers;

/// The name of a head line "Name:<blanks>" (lowercased), or "" when the line has a value.
std::string empty_header_name(const std::string& line) {
  const auto colon = line.find(':');
  if (colon == std::string::npos || colon == 0)
    return {};
  for (size_t i = colon + 1; i < line.size(); ++i)
    if (line[i] != ' ' && line[i] != '\t')
      return {};
  std::string name = line.substr(0, colon);
  for (auto& ch : name)
    if (ch >= 'A' && ch <= 'Z')
      ch = static_cast<char>(ch - 'A' + 'a');
  return name;
}

using std::chrono::milliseconds;

/// Writes a complete problem+json reply with `Connection: close`, without blocking: the
/// socket's send buffer is empty on a fresh connection and the reply is a few hundred bytes,
/// so this is safe on the accepting thread.
void send_problem(int sock, int status, const char* reason, const char* error_type,
                  const char* title, const std::string& detail) {
  const std::string body = std::string{"{\"type\":\"https://coffeeshop.dev/problems/"} +
                           error_type + "\",\"title\":\"" + title +
                           "\",\"status\":" + std::to_string(status) + ",\"detail\":\"" + detail +
                           "\",\"instance\":\"\",\"traceId\":\"" +
                           trace_context::make_new().trace_id + "\",\"errorType\":\"" + error_type +
                           "\",\"timestamp\":\"" + format_rfc3339(now_ms()) + "\"}";
  std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Type: application/problem+json\r\nConnection: close\r\n";
  if (status == 503)
    head += "Retry-After: 1\r\n";
  head += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  const std::string msg = head + body;
  [[maybe_unused]] ssize_t n = ::send(sock, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/// Ends a connection after a canned reply: the write side first, then whatever the client
/// already sent is read away, so that close() does not turn into a reset that would make
/// the client drop the reply unread.
void close_after_canned_reply(int sock) {
  ::shutdown(sock, SHUT_WR);
  char sink[4096];
  while (::recv(sock, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  ::close(sock);
}

enum class wait_result { ready, timeout, woken };

// Waits until `sock` has `events`, or the wake fd fires, or `timeout_ms` passes. Pending
// socket data wins over a wake-up so that a request already sent is still read.
wait_result wait_socket(int sock, short events, int wake_fd, int timeout_ms) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    pollfd fds[2] = {{sock, events, 0}, {wake_fd, POLLIN, 0}};
    const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    const int rc = ::poll(fds, 2, static_cast<int>(std::max<long long>(left, 0)));
    if (rc < 0) {
      if (errno == EINTR)
        continue;
      return wait_result::woken; // unusable socket: treat as "give up now"
    }
    if (rc == 0)
      return wait_result::timeout;
    if (fds[0].revents != 0)
      return wait_result::ready; // includes HUP/ERR: recv/send reports it
    return wait_result::woken;
  }
}

int to_ms(time_t sec, time_t usec) { return static_cast<int>(sec * 1000 + usec / 1000); }

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    port = ntohs(a.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &a.sin6_addr, text, sizeof text);
    port = ntohs(a.sin6_port);
  }
  ip = text;
}

// A buffered, deadline-bounded, interruptible stream over one accepted socket, kept for the
// whole connection so that pipelined requests read ahead stay in its buffer. Buffering
// matters: httplib reads the request line and headers one byte at a time. It also enforces
// the head bounds and the whole-request deadline: when either is hit it writes the 431 or
// 408 itself and fails every later read and write, so httplib's own error reply goes nowhere.
class socket_stream final : public httplib::Stream {
public:
  socket_stream(int sock, int wake_fd, int read_timeout_ms, int write_timeout_ms,
                const connection_limits* limits)
    : sock_(sock),
      wake_fd_(wake_fd),
      read_timeout_ms_(read_timeout_ms),
      write_timeout_ms_(write_timeout_ms),
      limits_(limits) {}

  /// Starts the next request: its head is counted again and must be read by `deadline`.
  void begin_request(std::chrono::steady_clock::time_point deadline) {
    deadline_ = deadline;
    in_head_ = true;
    head_bytes_ = 0;
    head_lines_ = 0;
    line_length_ = 0;
    line_.clear();
    empty_headers.clear();
  }

  /// Bytes of a pipelined request already read ahead.
  bool has_buffered() const { return off_ < len_; }

  /// True once a canned reply (408, 431) ended the connection.
  bool ended() const { return ended_; }

  bool is_readable() const override {
    if (!flush())
      return false;
    if (off_ < len_)
      return true;
    const int wait_ms = read_wait_ms();
    return wait_ms > 0 && wait_socket(sock_, POLLIN, wake_fd_, wait_ms) == wait_result::ready;
  }

  bool is_writable() const override {
    return !ended_ &&
           wait_socket(sock_, POLLOUT, wake_fd_, write_timeout_ms_) == wait_result::ready;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (ended_ || !flush())
      return -1;
    if (off_ >= len_) {
      const bool direct = size >= sizeof buf_ && !in_head_;
      char* into = direct ? ptr : buf_;
      const size_t room = direct ? size : sizeof buf_;
      const int wait_ms = read_wait_ms();
      // Bytes already there need no poll: the usual case, since the wait between requests
      // returns once the next one has arrived. Past the deadline nothing more is read.
      ssize_t n = wait_ms > 0 ? recv_some(into, room, MSG_DONTWAIT) : -1;
      if (n < 0 && (wait_ms <= 0 || errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto waited = wait_ms > 0 ? wait_socket(sock_, POLLIN, wake_fd_, wait_ms)
                                        : wait_result::timeout;
        if (waited != wait_result::ready) {
          // The deadline, not the per-read timeout, ended this wait (poll's millisecond
          // rounding may end it a moment early, so the clock is not asked again).
          if (waited == wait_result::timeout && limits_ && wait_ms < read_timeout_ms_)
            end_with(408, "Request Timeout", "malformed_request", "Request timeout",
                     "the request was not received within http.read_timeout_ms");
          return -1;
        }
        n = recv_some(into, room, 0);
      }
      if (direct || n <= 0)
        return n;
      off_ = 0;
      len_ = static_cast<size_t>(n);
    }
    const ssize_t n = take(ptr, size);
    if (in_head_ && !count_head(ptr, static_cast<size_t>(n)))
      return -1;
    return n;
  }

  // httplib writes a reply's head and its body separately: both are held here and go out in
  // one send (one segment, one wake-up of the client) when the reply is complete, i.e. at
  // flush(), which the connection loop calls after each request, and before any read.
  ssize_t write(const char* ptr, size_t size) override {
    if (ended_)
      return -1;
    if (held_.size() + size <= max_held) {
      held_.append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    if (!flush())
      return -1;
    return send_now(ptr, size);
  }

  /// Sends what write() held back. False when the connection failed or has ended.
  bool flush() const {
    bool ok = !ended_;
    for (size_t off = 0; ok && off < held_.size();) {
      const ssize_t n = send_now(held_.data() + off, held_.size() - off);
      ok = n > 0;
      off += ok ? static_cast<size_t>(n) : 0;
    }
    held_.clear();
    return ok;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      address_of(addr, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      address_of(addr, ip, port);
  }

  socket_t socket() const override { return sock_; }

private:
  // The per-read timeout, cut to what is left of the request's deadline.
  int read_wait_ms() const {
    if (!limits_)
      return read_timeout_ms_;
    const auto left = std::chrono::ceil<milliseconds>(deadline_ - std::chrono::steady_clock::now());
    return static_cast<int>(std::clamp<long long>(left.count(), 0, read_timeout_ms_));
  }

  // Counts the head's bytes and lines in `data` (the head ends at its empty line).
  // Also notes the header lines with an empty value (empty_headers).
  bool count_head(const char* data, size_t n) {
    for (size_t i = 0; i < n && in_head_; ++i) {
      ++head_bytes_;
      if (data[i] == '\n') {
        if (line_length_ == 0)
          in_head_ = false;
        else
          ++head_lines_;
        if (line_length_ > 0 && line_length_ <= max_noted_line) {
          auto name = empty_header_name(line_);
          if (!name.empty())
            empty_headers.push_back(std::move(name));
        }
        line_length_ = 0;
        line_.clear();
      } else if (data[i] != '\r') {
        ++line_length_;
        if (line_length_ <= max_noted_line)
          line_ += data[i];
      }
    }
    if (!limits_)
      return true;
    // head_lines_ counts the request line too.
    if (head_bytes_ > limits_->max_header_bytes || head_lines_ > limits_->max_headers + 1) {
      end_with(431, "Request Header Fields Too Large", "malformed_request",
               "Request header fields too large",
               "the request head exceeds http.max_header_bytes (" +
                 std::to_string(limits_->max_header_bytes) + " bytes) or http.max_headers (" +
                 std::to_string(limits_->max_headers) + ")");
      return false;
    }
    return true;
  }

  void end_with(int status, const char* reason, const char* error_type, const char* title,
                const std::string& detail) {
    if (ended_)
      return;
    ended_ = true;
    send_problem(sock_, status, reason, error_type, title, detail);
  }

  ssize_t take(char* ptr, size_t size) {
    const size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  // A reply almost always fits the send buffer: poll only when it is full.
  ssize_t send_now(const char* ptr, size_t size) const {
    const ssize_t n = send_some(ptr, size, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
      return n;
    if (!is_writable())
      return -1;
    return send_some(ptr, size, 0);
  }

  ssize_t send_some(const char* ptr, size_t size, int flags) const {
    for (;;) {
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL | flags);
      if (n < 0 && errno == EINTR)
        continue;
      return n;
    }
  }

  ssize_t recv_some(char* ptr, size_t size, int flags) {
    for (;;) {
      const ssize_t n = ::recv(sock_, ptr, size, flags);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return n; // nothing read: nothing to acknowledge
      // Acknowledge at once. A client without TCP_NODELAY (httplib's default) writes the
      // headers and the body separately, and Nagle holds the body until the headers are
      // acknowledged; with delayed ACKs that is 40 ms per call on a kept-alive connection.
      // Linux clears QUICKACK by itself, hence once per read.
      int one = 1;
      ::setsockopt(sock_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      return n;
    }
  }

  int sock_;
  int wake_fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  const connection_limits* limits_; // none: no head bounds and no deadline
  std::chrono::steady_clock::time_point deadline_{};
  bool in_head_ = false;
  bool ended_ = false;
  size_t head_bytes_ = 0;
  size_t head_lines_ = 0;
  size_t line_length_ = 0;
  // The current head line, while it is short enough to be a header with an empty value.
  static constexpr size_t max_noted_line = 256;
  std::string line_;
  char buf_[4096];
  /// What write() holds until flush(): at most max_held bytes (larger writes go straight out).
  static constexpr size_t max_held = 16 * 1024;
  mutable std::string held_; // is_readable() is const and must send it first too
  size_t off_ = 0;
  size_t len_ = 0;
};

} // namespace

interruptible_server::interruptible_server() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "eventfd");
  // httplib's default sets SO_REUSEPORT, which lets a second process bind the same port and
  // silently share the traffic; SO_REUSEADDR alone keeps "port in use" an error.
  set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd_ = sock;
  });
}

bool interruptible_server::widen_backlog(int backlog) {
  // Debian's compiled httplib listens with a backlog of 5: a burst of connects
  // (64 keep-alive clients starting at once) overflows it and some handshakes
  // are retried a second later. A second listen() only resizes the queue.
  return listen_fd_ != INVALID_SOCKET && ::listen(listen_fd_, backlog) == 0;
}

interruptible_server::~interruptible_server() {
  // The base destructor would not join workers that still use wake_fd_; stop() must have
  // returned (it joins them) before this object dies, which simulator guarantees.
  ::close(wake_fd_);
}

void interruptible_server::interrupt() {
  interrupted_ = true;
  // The counter stays non-zero (nobody reads it), so the fd stays readable and every
  // present and future poll on it returns at once.
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

bool interruptible_server::peer_closed() {
  if (current_connection < 0)
    return false;
  pollfd fd{current_connection, POLLRDHUP, 0};
  if (::poll(&fd, 1, 0) <= 0)
    return false;
  return (fd.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

bool interruptible_server::process_and_close_socket(socket_t sock) {
  const slot placed = current_slot;
  if (placed == slot::refused) {
    send_problem(sock, 503, "Service Unavailable", "overloaded", "Service unavailable",
                 "the daemon holds its maximum of open connections (http.threads)");
    close_after_canned_reply(sock);
    return true;
  }
  const bool reserved = placed == slot::reserved;
  const int keep_alive_ms = static_cast<int>(keep_alive_timeout_sec_ * 1000);
  const int read_ms = to_ms(read_timeout_sec_, read_timeout_usec_);
  const int write_ms = to_ms(write_timeout_sec_, write_timeout_usec_);
  const auto request_time = reserved ? limits_.reserved_read_timeout : limits_.read_timeout;

  socket_stream strm(sock, wake_fd_, read_ms, write_ms, limited_ ? &limits_ : nullptr);
  idle_connection waiting;
  waiting.sock = sock;
  bool ok = false;
  bool first = true;
  // A reserved slot serves one request: it must be free again for the next health check.
  for (size_t left = reserved ? 1 : keep_alive_max_count_; left > 0 && !interrupted_; --left) {
    // Between requests: wait for the next one, the keep-alive timeout, or interrupt(). A
    // connection that never sends its first request is bounded like a slow request, too.
    if (!strm.has_buffered()) {
      const int wait_ms = first && limited_
                            ? std::min(keep_alive_ms, static_cast<int>(request_time.count()))
                            : keep_alive_ms;
      // Only kept-alive connections may be shed: a new one may be a health check in flight.
      const bool idle = limited_ && !first;
      if (idle)
        mark_idle(waiting);
      const auto woke = wait_socket(sock, POLLIN, wake_fd_, wait_ms);
      if (idle)
        mark_busy(waiting);
      if (woke != wait_result::ready)
        break;
    }
    first = false;
    strm.begin_request(std::chrono::steady_clock::now() + request_time);
    const bool close_connection = left == 1 || interrupted_;
    bool connection_closed = false;
    current_connection = sock;
    close_requested = false;
    ok = process_request(strm, close_connection, connection_closed, nullptr);
    ok = strm.flush() && ok;
    current_connection = -1;
    if (!ok || connection_closed || strm.ended() || close_requested)
      break;
  }
  // A reply written before the request was read whole leaves unread bytes behind.
  if (strm.ended() || close_requested) {
    close_after_canned_reply(sock);
    return ok;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

bool interruptible_server::in_reserved_slot() { return current_slot == slot::reserved; }

void interruptible_server::close_after_reply() { close_requested = true; }

bool interruptible_server::sent_empty_header(std::string_view name) {
  for (const auto& n : empty_headers)
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
        }))
      return true;
  return false;
}

void interruptible_server::mark_idle(idle_connection& c) {
  std::lock_guard<std::mutex> lk(idle_mtx_);
  assert(!c.listed);
  c.older = idle_newest_;
  c.newer = nullptr;
  (idle_newest_ ? idle_newest_->newer : idle_oldest_) = &c;
  idle_newest_ = &c;
  c.listed = true;
}

void interruptible_server::mark_busy(idle_connection& c) {
  std::lock_guard<std::mutex> lk(idle_mtx_);
  if (c.listed) // else shed meanwhile
    unlist_idle(c);
}

void interruptible_server::unlist_idle(idle_connection& c) {
  (c.older ? c.older->newer : idle_oldest_) = c.newer;
  (c.newer ? c.newer->older : idle_newest_) = c.older;
  c.older = c.newer = nullptr;
  c.listed = false;
}

void interruptible_server::shed_idle(std::size_t n) {
  // Under the lock, so the owner cannot have closed the descriptor (or left the node's
  // stack frame) meanwhile; the owner's poll wakes up to an end of stream and closes it.
  std::lock_guard<std::mutex> lk(idle_mtx_);
  for (; n > 0 && idle_oldest_; --n) {
    ::shutdown(idle_oldest_->sock, SHUT_RDWR);
    unlist_idle(*idle_oldest_);
  }
}

/// The server's workers: `threads` of them, and never a queue. A connection is placed when it
/// is accepted: normal below max_connections, reserved up to threads, refused beyond (answered
/// on the accepting thread). Near the cap, idle keep-alive connections are closed first.
class interruptible_server::pool final : public httplib::TaskQueue {
public:
  explicit pool(interruptible_server& server) : server_(server) {
    const auto& l = server.limits_;
    threads_ = std::max(1, l.threads);
    cap_ = std::clamp(l.max_connections, 1, threads_);
    shed_from_ = cap_ - std::max(1, cap_ / 8);
    workers_.reserve(static_cast<size_t>(threads_));
    for (int i = 0; i < threads_; ++i)
      workers_.emplace_back([this] { run(); });
  }

  void enqueue(std::function<void()> fn) override {
    slot placed = slot::refused;
    int active = 0;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      if (active_ < threads_) {
        placed = active_ >= cap_ ? slot::reserved : slot::normal;
        ++active_;
        jobs_.push_back(job{std::move(fn), placed});
      }
      active = active_;
    }
    if (placed == slot::refused) {
      current_slot = slot::refused;
      fn();
      current_slot = slot::normal;
    } else {
      cv_.notify_one();
    }
    if (active >= shed_from_)
      server_.shed_idle(1);
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lk(mtx_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_)
      t.join();
  }

private:
  struct job {
    std::function<void()> fn;
    slot placed;
  };

  void run() {
    name_this_thread("cs.http");
    for (;;) {
      job j;
      {
        std::unique_lock<std::mutex> lk(mtx_);
        cv_.wait(lk, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty())
          return; // stopping, and every accepted connection was served
        j = std::move(jobs_.front());
        jobs_.pop_front();
      }
      current_slot = j.placed;
      current_pool = this;
      slot_released = false;
      j.fn();
      current_slot = slot::normal;
      current_pool = nullptr;
      if (!slot_released)
        release();
    }
  }

public:
  /// The calling worker's connection no longer counts against threads.
  void release() {
    std::lock_guard<std::mutex> lk(mtx_);
    --active_;
  }

private:
  interruptible_server& server_;
  int threads_ = 1;
  int cap_ = 1;
  int shed_from_ = 1;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  int active_ = 0; // connections placed and not yet finished
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

void interruptible_server::release_reserved_slot() {
  if (current_slot != slot::reserved || current_pool == nullptr || slot_released)
    return;
  static_cast<pool*>(current_pool)->release();
  slot_released = true;
}

void interruptible_server::set_connection_limits(const connection_limits& limits) {
  limits_ = limits;
  limited_ = true;
  new_task_queue = [this] { return new pool(*this); };
}

std::thread interruptible_server::serve_in_background() {
  auto ended = std::make_shared<std::atomic<bool>>(false);
  std::thread t{[this, ended] {
    name_this_thread("cs.http.accept");
    listen_after_bind();
    *ended = true;
  }};
  // httplib offers no "accepting now" signal; the wait is bounded by thread start-up.
  while (!is_running() && !*ended)
    std::this_thread::yield();
  return t;
}

} // namespace coffeeshop::net
