#pragma once

// cpp-httplib 0.11's Server::stop() closes the listening socket, but each idle keep-alive
// connection keeps its worker thread polling until the keep-alive timeout (5 s) runs out, and
// the thread pool join in stop waits for it. A simulator embedded in the daemon must stop at
// once, so this server runs connections itself and can wake them all.

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <mutex>
#include <string_view>
#include <thread>

namespace coffeeshop::net {

/// What one server may hold, so that a few hundred hostile connections cannot take it off the
/// air (cpp-httplib keeps a thread per connection).
struct connection_limits {
  /// Worker threads; a connection beyond them is answered 503 by the accepting thread.
  int threads = 8;
  /// Connections served normally. Those between it and `threads` are served one request each
  /// with a short head deadline; handlers see in_reserved_slot() and answer only health checks.
  int max_connections = 7;
  /// Deadline for a whole request head and body, from its first byte (not per read).
  std::chrono::milliseconds read_timeout{10000};
  /// The same deadline in a reserved slot.
  std::chrono::milliseconds reserved_read_timeout{1000};
  /// Bounds of a request head: bytes (request line included) and header lines.
  std::size_t max_header_bytes = 16384;
  std::size_t max_headers = 100;
};

/// An httplib::Server whose connection threads can be woken at once by interrupt().
/// Idle connections also wait in poll() instead of httplib's 10 ms select loop, so an idle
/// client pool costs no CPU. Binds with SO_REUSEADDR only (not httplib's SO_REUSEPORT), so
/// a port in use is an error.
class interruptible_server : public httplib::Server {
public:
  /// Throws std::system_error if the wake-up eventfd cannot be created.
  interruptible_server();
  ~interruptible_server() override;

  interruptible_server(const interruptible_server&) = delete;
  interruptible_server& operator=(const interruptible_server&) = delete;

  /// Ends every idle keep-alive wait and pending read now, and makes each connection close
  /// after its current reply. Call before stop(); cannot be undone.
  void interrupt();

  /// Resizes the accept queue of the bound socket (call after bind, before
  /// listen_after_bind). False when nothing is bound or listen() failed.
  bool widen_backlog(int backlog = 1024);

  /// Runs listen_after_bind() on a new thread and returns it once the accept
  /// loop runs (or has already ended): httplib's stop() is a no-op before
  /// that, so a stop() right after start would be lost and the thread never end.
  std::thread serve_in_background();

  /// Bounds connections, request heads and read time (call before listening). Installs the
  /// server's worker pool: the caller must not set new_task_queue.
  void set_connection_limits(const connection_limits& limits);

  /// True on a handler thread serving a connection beyond max_connections: the handler
  /// should answer only what must stay reachable under load (health checks).
  static bool in_reserved_slot();

  /// Called by a handler in a reserved slot once it has the request: the slot counts as free
  /// from here, so a client that reads this reply and connects again at once (a health checker)
  /// is not refused while this worker still writes and closes. A reserved slot serves one
  /// request, so nothing else arrives on it.
  static void release_reserved_slot();

  /// Called by a handler that answers without reading the request's body: the connection is
  /// closed after this reply instead of reading the body as the next request.
  static void close_after_reply();

  /// True when the client of the connection the calling handler thread serves has closed
  /// it (or it broke). Lets a handler that holds a call (hang, latency) give up its worker
  /// thread when the caller timed out, instead of starving the pool. False off a handler.
  static bool peer_closed();

  /// True when the request the calling handler thread serves had a header line `name:` with
  /// an empty or all-blank value (name compared case-insensitively). httplib 0.11 drops such
  /// lines from Request::headers, so without this they look like no header at all.
  static bool sent_empty_header(std::string_view name);

private:
  // Replaces httplib's per-connection loop (a private virtual; overriding it is the
  // library's extension point, the request handling itself stays httplib's process_request).
  bool process_and_close_socket(socket_t sock) override;

  class pool;
  friend class pool;

  /// A kept-alive connection waiting for its next request: a node of the idle list, on the
  /// stack of the worker that serves it, so that listing and unlisting it take O(1) and no
  /// allocation on every request.
  struct idle_connection {
    int sock = -1;
    idle_connection* older = nullptr;
    idle_connection* newer = nullptr;
    bool listed = false;
  };

  /// Connections waiting for their next request, oldest first; closed first under load.
  void mark_idle(idle_connection& c);
  void mark_busy(idle_connection& c);
  void shed_idle(std::size_t n);
  void unlist_idle(idle_connection& c); // with idle_mtx_ held

  connection_limits limits_;
  bool limited_ = false;
  std::mutex idle_mtx_;
  idle_connection* idle_oldest_ = nullptr;
  idle_connection* idle_newest_ = nullptr;

  int wake_fd_ = -1;
  socket_t listen_fd_ = INVALID_SOCKET;
  std::atomic<bool> interrupted_{false};
};

} // namespace coffeeshop::net
