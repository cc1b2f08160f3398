#include "raw_socket.hpp"

#include "harness.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace coffeeshop::e2e {

namespace {

using clock = std::chrono::steady_clock;

int left_ms(clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
  return static_cast<int>(std::max<long long>(0, left.count()));
}

/// Reads what is there within the deadline: >0 bytes, 0 at the peer's close, -1 on timeout
/// or error.
ssize_t read_some(int fd, char* buf, std::size_t size, clock::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, left_ms(deadline)) <= 0)
    return -1;
  const ssize_t n = ::recv(fd, buf, size, 0);
  return n < 0 ? (errno == ECONNRESET ? 0 : -1) : n;
}

/// Length of the complete replies at the start of `text` (heads with Content-Length).
std::size_t complete_replies(const std::string& text, std::vector<int>* statuses) {
  std::size_t pos = 0;
  std::size_t count = 0;
  static const std::regex length_re{R"(\r\n[Cc]ontent-[Ll]ength:\s*(\d+))"};
  for (;;) {
    auto head_end = text.find("\r\n\r\n", pos);
    if (head_end == std::string::npos || text.compare(pos, 5, "HTTP/") != 0)
      return count;
    const std::string head = text.substr(pos, head_end - pos);
    std::smatch m;
    std::size_t body = std::regex_search(head, m, length_re) ? std::stoul(m[1]) : 0;
    if (text.size() < head_end + 4 + body)
      return count;
    if (statuses)
      statuses->push_back(std::stoi(head.substr(9, 3)));
    pos = head_end + 4 + body;
    ++count;
  }
}

} // namespace

raw_conn::raw_conn(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (fd_ >= 0)
      ::close(fd_);
    throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
  }
}

raw_conn::~raw_conn() {
  if (fd_ >= 0)
    ::close(fd_);
}

raw_conn::raw_conn(raw_conn&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

bool raw_conn::send(std::string_view data) { return write_all(fd_, data); }

std::string raw_conn::read_until(const std::function<bool(const std::string&)>& done,
                                 std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::string text;
  char buf[65536];
  while (!done(text)) {
    const ssize_t n = read_some(fd_, buf, sizeof buf, deadline);
    if (n <= 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

std::string raw_conn::read_replies(std::size_t n, std::chrono::milliseconds timeout) {
  return read_until([n](const std::string& t) { return complete_replies(t, nullptr) >= n; },
                    scaled(timeout));
}

bool raw_conn::closed_within(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + scaled(timeout);
  char buf[65536];
  for (;;) {
    const ssize_t n = read_some(fd_, buf, sizeof buf, deadline);
    if (n == 0)
      return true;
    if (n < 0)
      return false;
  }
}

std::vector<int> reply_statuses(const std::string& text) {
  std::vector<int> out;
  complete_replies(text, &out);
  return out;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

long peak_rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stol(line.substr(6));
  return 0;
}

hostile_upstream::hostile_upstream(answer_fn answer) : answer_(std::move(answer)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("hostile_upstream: cannot listen");
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_)
          return;
        continue;
      }
      std::lock_guard<std::mutex> lk(mtx_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      ++open_;
      conns_.push_back(fd);
      threads_.emplace_back([this, fd] { serve(fd); });
    }
  });
}

hostile_upstream::~hostile_upstream() {
  stopping_ = true;
  // shutdown() wakes accept() and every blocked read or write.
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lk(mtx_);
    for (int fd : conns_)
      ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_)
    t.join();
  for (int fd : conns_)
    ::close(fd);
  ::close(listen_fd_);
}

std::string hostile_upstream::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void hostile_upstream::serve(int fd) {
  static const std::regex length_re{R"(\r\n[Cc]ontent-[Ll]ength:\s*(\d+))"};
  std::string text;
  char buf[8192];
  while (!stopping_) {
    auto head_end = text.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::smatch m;
      const std::string head = text.substr(0, head_end);
      std::size_t body = std::regex_search(head, m, length_re) ? std::stoul(m[1]) : 0;
      if (text.size() >= head_end + 4 + body) {
        text.erase(0, head_end + 4 + body);
        ++requests_;
        if (!answer_(fd, stopping_))
          break;
        continue;
      }
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_RDWR);
  --open_;
}

} // namespace coffeeshop::e2e
