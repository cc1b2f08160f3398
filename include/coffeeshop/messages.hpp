#pragma once

// Every message type the HTTP layer, the order gateway and the actors
// exchange, in one place. Plain values: the atoms and the typed actor
// interfaces that carry them live in actors/actor_interfaces.hpp.

#include "coffeeshop/domain/order.hpp"
#include "coffeeshop/domain/order_request.hpp"
#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"
#include "coffeeshop/resilience/service_kind.hpp"
#include "coffeeshop/telemetry/integration_event.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffeeshop {

// -- integration calls --------------------------------------------------------------

/// A payment for one order (CONTRACT §4 payment bodies).
struct charge_request {
  std::string order_id;
  cents amount = 0;
  std::string currency;
  std::string payment_method;
  std::string trace_id;
  /// The span the payment call's span is a child of (the create request's server
  /// span); empty for a payment resumed at start.
  std::string parent_span_id;
  /// W3C trace-flags of the create request's traceparent ("01" sampled), sent on as received.
  std::string trace_flags = "01";
};

/// A status notification for one order (CONTRACT §4 notification bodies).
struct notify_request {
  std::string order_id;
  std::string entry_id; // its outbox entry
  std::string status;
  std::string customer_email;
  std::string trace_id;
  /// W3C trace-flags of the order (those of the request that created it, order::trace_flags).
  std::string trace_flags = "01";
};

/// One logical call as the integration engine executes it.
struct outbound_call {
  std::string order_id;
  std::string trace_id;
  /// Parent of the call's internal span; empty makes it a root span of the trace.
  std::string parent_span_id;
  /// trace-flags of every attempt's traceparent: the caller's, as received ("01" sampled).
  std::string trace_flags = "01";
  std::string body;
  /// Sent as `Idempotency-Key` on every attempt: `<orderId>` for a payment,
  /// `<orderId>:<status>` for a notification (CONTRACT §4).
  std::optional<std::string> idempotency_key;
  /// Extra event payload members (status announced, masked e-mail, ...).
  boost::json::object context;
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

  /// True when the call was refused before anything was sent (breaker open,
  /// bulkhead full): whatever it was for has not failed, it has to wait.
  bool refused_unsent() const {
    return result == call_result::circuit_open || result == call_result::overloaded;
  }
};

// -- orders -----------------------------------------------------------------------

/// POST /api/v1/orders after validation.
struct create_order_command {
  priced_order request;
  std::optional<std::string> idempotency_key;
  std::string fingerprint; // hash of the canonical body, for idempotency checks
  std::string trace_id;
  std::string span_id;            // the request's server span, parent of the payment call's span
  std::string trace_flags = "01"; // of the request's traceparent, propagated upstream
  /// The ingress bulkhead is full: record the order as payment_failed without
  /// asking the payment service, and answer overloaded.
  bool shed = false;
};

/// How a create command ended, for the ingress to map onto a status code.
enum class create_result {
  created,        // 201
  replayed,       // 200 + Idempotency-Replayed
  in_progress,    // 409: the same key is still being processed
  key_mismatch,   // 422: the same key with another body
  payment_failed, // 402/502/504/503 by outcome.result
  store_failed,   // 503 store_unavailable: nothing of it was committed
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

enum class change_result {
  changed,
  not_found,
  conflict,
  store_failed, // 503 store_unavailable: the change was not committed
};

struct change_status_reply {
  change_result result = change_result::changed;
  order current;
};

/// POST /api/v1/admin/outbox/{id}/retry.
enum class requeue_result {
  requeued,   // 202: a failed entry is pending again, attempts reset
  not_found,  // 404
  not_failed, // 409: only a failed entry can be put back
  store_failed,
};

struct requeue_reply {
  requeue_result result = requeue_result::requeued;
  outbox_entry entry;
};

/// POST /api/v1/integrations/{service}/circuit.
enum class circuit_action { isolate, reset };

/// An integration's state as /api/v1/integrations shows it (a wrapper, so
/// CAF treats the JSON as one opaque value).
struct integration_view {
  boost::json::object json;
};

} // namespace coffeeshop
