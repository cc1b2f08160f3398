#pragma once

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
  std::function<caf::actor(caf::local_actor* parent)> start_payment;
  std::function<caf::actor(caf::local_actor* parent)> start_notification;
};

/// Owns orders: creates and prices them into the store, asks the payment
/// actor, moves statuses and queues notifications. Supervises the payment and
/// notification actors; work a crashed child held is re-issued to its successor.
/// Answers:
/// - `(create_atom, create_order_command) -> create_order_reply`
/// - `(status_atom, change_status_command) -> change_status_reply`
/// - `(circuit_atom, service_kind, circuit_action) -> boost::json::object`
/// - `(crash_atom, std::string child)`: crash rehearsal of "payment" / "notification"
caf::actor spawn_order_coordinator(caf::local_actor* parent, coordinator_spec spec);
caf::actor spawn_order_coordinator(caf::actor_system& sys, coordinator_spec spec);

/// Spawns an integration actor of `kind` with the given settings and transport.
caf::actor spawn_integration(caf::local_actor* parent, integration_spec spec);

} // namespace coffeeshop
