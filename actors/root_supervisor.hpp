#pragma once

#include "actor_gateway.hpp"
#include "runtime.hpp"

#include "coffeeshop/config.hpp"
#include "coffeeshop/store/write_queue.hpp"

#include <caf/fwd.hpp>

#include <memory>
#include <string>

namespace coffeeshop {

/// What the root of the actor tree is built from.
struct root_spec {
  runtime_deps deps;
  config cfg;
  std::shared_ptr<write_queue> writer;
  /// Final URLs of the payment and notification calls.
  std::string payment_url;
  std::string notification_url;
  /// Pointed at every (re)started coordinator.
  std::shared_ptr<actor_gateway> gateway;
  /// Served by the http_ingress child.
  std::shared_ptr<background_server> server;
};

/// Spawns the root supervisor (one_for_one by the configured strategy) with
/// its children event-logger, order_coordinator (which supervises payment and
/// notification, each with its own transport workers) and http_ingress.
/// `(stop_atom)` stops the children one at a time in reverse start order,
/// each within drain_timeout_ms, then the root itself.
caf::actor spawn_root_supervisor(caf::actor_system& sys, root_spec spec);

} // namespace coffeeshop
