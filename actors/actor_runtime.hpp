#pragma once

// The actor side of the daemon behind a CAF-free face, so that the daemon's
// start-up code (src/daemon) never includes a CAF header.

#include "coffeeshop/config.hpp"
#include "coffeeshop/order_gateway.hpp"
#include "coffeeshop/services.hpp"
#include "coffeeshop/store/write_queue.hpp"

#include <memory>
#include <string>

namespace coffeeshop {

/// Owns the actor system and the actor tree. Lifecycle: construct, hand
/// gateway() to the HTTP layer, start(), wait(), stop().
class actor_runtime {
public:
  actor_runtime(const config& cfg, shared_services services, std::shared_ptr<write_queue> writer,
                std::string payment_url, std::string notification_url);
  ~actor_runtime();

  actor_runtime(const actor_runtime&) = delete;
  actor_runtime& operator=(const actor_runtime&) = delete;

  /// Valid from construction; answers once start() has run.
  order_gateway& gateway();

  /// Spawns the root supervisor; its http_ingress child serves `server`.
  void start(std::shared_ptr<background_server> server);

  /// How wait() ended.
  struct ending {
    bool root_failed = false;
    std::string reason; // why the root supervisor gave up
  };

  /// Blocks until request_stop() is called or the root supervisor gives up.
  ending wait();

  /// Makes wait() return; callable from any thread (the signal waiter).
  void request_stop();

  /// Stops the tree: children one at a time in reverse start order. False
  /// when it did not end within `timeout`.
  bool stop(millis timeout);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace coffeeshop
