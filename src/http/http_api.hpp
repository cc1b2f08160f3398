#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/domain/menu.hpp"
#include "coffeeshop/order_gateway.hpp"
#include "coffeeshop/services.hpp"

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace httplib {
class Server;
}

namespace coffeeshop {

/// Readiness of the daemon as /readyz reports it.
struct lifecycle {
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
};

/// The HTTP API of CONTRACT §3 on a cpp-httplib server. Handlers run on the
/// server's threads: reads go straight to the thread-safe store and boards,
/// everything that changes state goes through the order gateway.
class http_api final : public background_server {
public:
  http_api(const config& cfg, menu m, shared_services services, order_gateway& gateway,
           std::shared_ptr<lifecycle> life);
  ~http_api() override;

  http_api(const http_api&) = delete;
  http_api& operator=(const http_api&) = delete;

  /// Binds the listen address; returns the bound port or -1 (`error` says why).
  int bind(std::string& error);

  /// Serves on a background thread until stop(). False when the server was
  /// stopped before: its socket is closed and it cannot serve again.
  bool start() override;

  /// Stops accepting; requests in flight finish; waits for the serving thread.
  void stop() override;

  int port() const { return port_; }

  /// Method and path template (`/api/v1/orders/{id}`) of every route, in match
  /// order: what the OpenAPI document must describe.
  std::vector<std::pair<std::string, std::string>> routes() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::mutex stop_mtx_;
  int port_ = -1;
  bool stopped_ = false;
};

} // namespace coffeeshop
