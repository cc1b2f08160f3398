#pragma once

// Orders whose payment is never attempted: shed by the ingress bulkhead or
// refused at the edge while the payment breaker is open. Shared by the
// coordinator and the ingress so both record them the same way.

#include "runtime.hpp"

#include "coffeeshop/messages.hpp"

namespace coffeeshop {

/// A new order from a validated create command, status pending_payment.
order open_order(create_order_command& cmd);

/// Stores `o` as payment_failed, counts it, emits `event_type` for it and
/// returns the reply the ingress maps onto 503 (`why` says which kind).
create_order_reply record_unpaid_order(const runtime_deps& deps, order o, call_outcome why,
                                       const char* event_type);

} // namespace coffeeshop
