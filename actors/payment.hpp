#pragma once

#include "integration_actor.hpp"

namespace coffeeshop {

/// Builds the payment body in the configured wire format (CONTRACT §4).
std::string payment_body(wire_format format, const charge_request& req);

/// The payment actor: answers `(call_atom, charge_request) -> call_outcome`.
/// Every attempt carries `Idempotency-Key: <orderId>`; a 2xx whose body says
/// `"success": false` is a retryable failure.
caf::behavior payment_actor(integration_actor* self, integration_spec spec);

} // namespace coffeeshop
