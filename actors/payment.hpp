#pragma once

#include "integration_actor.hpp"

namespace coffeeshop {

/// Builds the payment body in the configured wire format (CONTRACT §4).
std::string payment_body(wire_format format, const charge_request& req);

/// Spawns the payment actor. Every attempt carries `Idempotency-Key: <orderId>`;
/// a 2xx whose body says `"success": false` is a retryable failure.
payment_actor spawn_payment(caf::local_actor* parent, integration_spec spec);
payment_actor spawn_payment(caf::actor_system& sys, integration_spec spec);

} // namespace coffeeshop
