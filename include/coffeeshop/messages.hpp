#pragma once

// Every message type and atom the actors exchange, in one place.

#include "coffeeshop/domain/order.hpp"
#include "coffeeshop/domain/order_request.hpp"
#include "coffeeshop/net/http_call.hpp"
#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"
#include "coffeeshop/resilience/service_kind.hpp"
#include "coffeeshop/telemetry/integration_event.hpp"

#include <boost/json/object.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffeeshop {

// -- atoms ----------------------------------------------------------------------

using call_atom = caf::atom_constant<caf::atom("call")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using circuit_atom = caf::atom_constant<caf::atom("circuit")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;

// -- integration calls --------------------------------------------------------------

/// A payment for one order (CONTRACT §4 payment bodies).
struct charge_request {
  std::string order_id;
  cents amount = 0;
  std::string currency;
  std::string payment_method;
  std::string trace_id;
};

/// A status notification for one order (CONTRACT §4 notification bodies).
struct notify_request {
  std::string order_id;
  std::string status;
  std::string customer_email;
  std::string trace_id;
};

/// How a whole integration call (all attempts) ended.
enum class call_result {
  succeeded,
  declined,     // a final 4xx: not retried
  exhausted,    // every allowed attempt failed
  timed_out,    // the total budget ran out
  circuit_open, // rejected by the breaker, nothing sent
  overloaded,   // rejected by the bulkhead, nothing sent
};

/// Reply of the payment and notification actors.
struct call_outcome {
  call_result result = call_result::succeeded;
  int attempts = 0;
  int last_status = 0;
  std::optional<std::string> reference; // payment reference on success
  millis retry_after{0};                // for circuit_open / overloaded
  std::string detail;                   // human-readable reason of a failure
};

// -- orders -----------------------------------------------------------------------

/// POST /api/v1/orders after validation.
struct create_order_command {
  priced_order request;
  std::optional<std::string> idempotency_key;
  std::string fingerprint; // hash of the canonical body, for idempotency checks
  std::string trace_id;
  /// The ingress bulkhead is full: record the order as payment_failed without
  /// asking the payment service, and answer overloaded.
  bool shed = false;
};

/// How a create command ended, for the ingress to map onto a status code.
enum class create_result {
  created,          // 201
  replayed,         // 200 + Idempotency-Replayed
  in_progress,      // 409: the same key is still being processed
  key_mismatch,     // 422: the same key with another body
  payment_failed,   // 402/502/504/503 by outcome.result
};

struct create_order_reply {
  create_result result = create_result::created;
  order placed;
  call_outcome payment;
};

/// PATCH /api/v1/orders/{id}/status.
struct change_status_command {
  std::string order_id;
  order_status target = order_status::waiting;
  std::string trace_id;
};

enum class change_result { changed, not_found, conflict };

struct change_status_reply {
  change_result result = change_result::changed;
  order current;
};

/// POST /api/v1/integrations/{service}/circuit.
enum class circuit_action { isolate, reset };

/// An integration's state as /api/v1/integrations shows it (a wrapper, so
/// CAF treats the JSON as one opaque value).
struct integration_view {
  boost::json::object json;
};

} // namespace coffeeshop

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::http_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::http_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::service_kind)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::charge_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::notify_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::call_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::create_order_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::create_order_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::change_status_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::change_status_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::circuit_action)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::integration_event)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::circuit_breaker)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::integration_view)
