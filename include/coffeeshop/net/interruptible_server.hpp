#pragma once

// cpp-httplib 0.11's Server::stop() closes the listening socket, but each idle keep-alive
// connection keeps its worker thread polling until the keep-alive timeout (5 s) runs out, and
// the thread pool join in stop waits for it. A simulator embedded in the daemon must stop at
// once, so this server runs connections itself and can wake them all.

#include <httplib.h>

#include <atomic>
#include <thread>

namespace coffeeshop::net {

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

  /// True when the client of the connection the calling handler thread serves has closed
  /// it (or it broke). Lets a handler that holds a call (hang, latency) give up its worker
  /// thread when the caller timed out, instead of starving the pool. False off a handler.
  static bool peer_closed();

private:
  // Replaces httplib's per-connection loop (a private virtual; overriding it is the
  // library's extension point, the request handling itself stays httplib's process_request).
  bool process_and_close_socket(socket_t sock) override;

  int wake_fd_ = -1;
  socket_t listen_fd_ = INVALID_SOCKET;
  std::atomic<bool> interrupted_{false};
};

} // namespace coffeeshop::net
