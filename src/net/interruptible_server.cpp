#include "coffeeshop/net/interruptible_server.hpp"

#include <memory>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
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

// A buffered, timeout-bounded, interruptible stream over one accepted socket. Buffering
// matters: httplib reads the request line and headers one byte at a time.
class socket_stream final : public httplib::Stream {
public:
  socket_stream(int sock, int wake_fd, int read_timeout_ms, int write_timeout_ms)
    : sock_(sock),
      wake_fd_(wake_fd),
      read_timeout_ms_(read_timeout_ms),
      write_timeout_ms_(write_timeout_ms) {}

  bool is_readable() const override {
    return off_ < len_ ||
           wait_socket(sock_, POLLIN, wake_fd_, read_timeout_ms_) == wait_result::ready;
  }

  bool is_writable() const override {
    return wait_socket(sock_, POLLOUT, wake_fd_, write_timeout_ms_) == wait_result::ready;
  }

  ssize_t read(char* ptr, size_t size) override {
    if (off_ < len_)
      return take(ptr, size);
    if (!is_readable())
      return -1;
    if (size >= sizeof buf_)
      return recv_some(ptr, size);
    const ssize_t n = recv_some(buf_, sizeof buf_);
    if (n <= 0)
      return n;
    off_ = 0;
    len_ = static_cast<size_t>(n);
    return take(ptr, size);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable())
      return -1;
    for (;;) {
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      return n;
    }
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
  ssize_t take(char* ptr, size_t size) {
    const size_t n = std::min(size, len_ - off_);
    std::memcpy(ptr, buf_ + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t recv_some(char* ptr, size_t size) {
    for (;;) {
      const ssize_t n = ::recv(sock_, ptr, size, 0);
      if (n < 0 && errno == EINTR)
        continue;
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
  char buf_[4096];
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
  const int keep_alive_ms = static_cast<int>(keep_alive_timeout_sec_ * 1000);
  const int read_ms = to_ms(read_timeout_sec_, read_timeout_usec_);
  const int write_ms = to_ms(write_timeout_sec_, write_timeout_usec_);

  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && !interrupted_; --left) {
    // Between requests: wait for the next one, the keep-alive timeout, or interrupt().
    if (wait_socket(sock, POLLIN, wake_fd_, keep_alive_ms) != wait_result::ready)
      break;
    socket_stream strm(sock, wake_fd_, read_ms, write_ms);
    const bool close_connection = left == 1 || interrupted_;
    bool connection_closed = false;
    current_connection = sock;
    ok = process_request(strm, close_connection, connection_closed, nullptr);
    current_connection = -1;
    if (!ok || connection_closed)
      break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

std::thread interruptible_server::serve_in_background() {
  auto ended = std::make_shared<std::atomic<bool>>(false);
  std::thread t{[this, ended] {
    listen_after_bind();
    *ended = true;
  }};
  // httplib offers no "accepting now" signal; the wait is bounded by thread start-up.
  while (!is_running() && !*ended)
    std::this_thread::yield();
  return t;
}

} // namespace coffeeshop::net
