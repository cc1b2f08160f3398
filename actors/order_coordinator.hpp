#pragma once

#include "actor_interfaces.hpp"
#include "integration_actor.hpp"
#include "runtime.hpp"

#include "coffeeshop/config.hpp"

#include <caf/fwd.hpp>

#include <functional>

namespace coffeeshop {

/// What the order coordinator needs to build and supervise its children.
struct coordinator_spec {
  runtime_deps deps;
  supervision_settings supervision;
  /// Spawn the payment / notification actors; tests inject fakes here.
  std::function<payment_actor(caf::local_actor* parent)> start_payment;
  std::function<notification_actor(caf::local_actor* parent)> start_notification;
};

/// Owns orders, the only writer of them: creates and prices them into the
/// store, asks the payment actor (or records them unpaid when the bulkhead
/// shed them or the payment breaker is refusing), moves statuses and queues
/// notifications. Supervises the payment and notification actors; work a
/// crashed child held is re-issued to its successor.
coordinator_actor spawn_order_coordinator(caf::local_actor* parent, coordinator_spec spec);
coordinator_actor spawn_order_coordinator(caf::actor_system& sys, coordinator_spec spec);

} // namespace coffeeshop
