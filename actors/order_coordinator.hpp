#pragma once

#include "actor_interfaces.hpp"
#include "integration_actor.hpp"
#include "runtime.hpp"

#include "coffeeshop/config.hpp"
#include "coffeeshop/store/write_queue.hpp"

#include <caf/fwd.hpp>

#include <functional>

namespace coffeeshop {

/// What the order coordinator needs to build and supervise its children.
struct coordinator_spec {
  runtime_deps deps;
  supervision_settings supervision;
  /// Where every write goes; a reply that reports a state is sent only after
  /// the write holding it committed.
  std::shared_ptr<write_queue> writer;
  /// Notifications in flight at once across orders (the notification bulkhead).
  int notification_concurrency = 32;
  /// Spawn the payment / notification actors; tests inject fakes here.
  std::function<payment_actor(caf::local_actor* parent)> start_payment;
  std::function<notification_actor(caf::local_actor* parent)> start_notification;
};

/// Owns orders, the only writer of them: commits them `pending_payment`, asks
/// the payment actor (or records them unpaid when the bulkhead shed them or
/// the payment breaker is refusing), commits the outcome, then replies. A
/// status change commits together with its outbox entry; the outbox delivers
/// each order's notifications one at a time, in status order. At start it
/// resumes every order left `pending_payment` and every pending entry.
/// Supervises the payment and notification actors; work a crashed child held
/// is re-issued to its successor.
coordinator_actor spawn_order_coordinator(caf::local_actor* parent, coordinator_spec spec);
coordinator_actor spawn_order_coordinator(caf::actor_system& sys, coordinator_spec spec);

} // namespace coffeeshop
