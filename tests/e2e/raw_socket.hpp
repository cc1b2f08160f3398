#pragma once
// Raw loopback sockets for the hostile-client and hostile-upstream tests: what a well-behaved
// HTTP client or server library would never send. Every wait is bounded.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace coffeeshop::e2e {

/// A client connection to 127.0.0.1:port, closed in the destructor. Movable.
class raw_conn {
public:
  /// Connects (throws std::runtime_error when it cannot).
  explicit raw_conn(int port);
  ~raw_conn();
  raw_conn(raw_conn&& other) noexcept;
  raw_conn& operator=(raw_conn&&) = delete;
  raw_conn(const raw_conn&) = delete;
  raw_conn& operator=(const raw_conn&) = delete;

  /// Writes all of `data`; false when the peer closed or reset the connection.
  bool send(std::string_view data);

  /// Reads until `done(text so far)`, the peer closes, or `timeout`; returns what was read.
  /// The timeout is taken as given (tests pace drips with it); the two below are waits for
  /// the daemon and are multiplied by time_scale() (harness.hpp).
  std::string read_until(const std::function<bool(const std::string&)>& done,
                         std::chrono::milliseconds timeout);

  /// Reads `n` complete replies (heads with Content-Length bodies) or what came by `timeout`.
  std::string read_replies(std::size_t n, std::chrono::milliseconds timeout);

  /// True when the peer closes (or resets) the connection within `timeout`; data that
  /// arrives meanwhile is read away.
  bool closed_within(std::chrono::milliseconds timeout);

private:
  int fd_ = -1;
};

/// The status codes of the complete replies in `text`, in order.
std::vector<int> reply_statuses(const std::string& text);

/// A hand-made upstream on 127.0.0.1 (an ephemeral port): for every request it reads (head
/// and Content-Length body) it calls `answer(fd, stopping)`, which writes whatever it likes
/// to the socket and returns false to close the connection. A thread per connection, all
/// stopped and joined by the destructor (sockets shut down, `stopping` set).
class hostile_upstream {
public:
  using answer_fn = std::function<bool(int fd, const std::atomic<bool>& stopping)>;

  explicit hostile_upstream(answer_fn answer);
  ~hostile_upstream();
  hostile_upstream(const hostile_upstream&) = delete;
  hostile_upstream& operator=(const hostile_upstream&) = delete;

  std::string url(const std::string& path) const;
  /// Requests read so far.
  std::size_t requests() const { return requests_; }
  /// Connections accepted and not yet closed by either side.
  std::size_t open_connections() const { return open_; }

private:
  void serve(int fd);

  answer_fn answer_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> open_{0};
  std::mutex mtx_;
  std::vector<int> conns_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

/// Writes all of `data` to `fd`; false on any error (the peer went away).
bool write_all(int fd, std::string_view data);

/// VmHWM (peak resident set) of process `pid` in KiB, from /proc; 0 when unreadable.
long peak_rss_kib(int pid);

} // namespace coffeeshop::e2e
