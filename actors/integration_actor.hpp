#pragma once

// The engine shared by the payment and notification actors: one logical call
// is a retry loop of attempts through the transport, guarded by the circuit
// breaker, a bulkhead and the total deadline. All state lives in the actor.

#include "runtime.hpp"

#include "coffeeshop/config.hpp"
#include "coffeeshop/messages.hpp"
#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"

#include <caf/all.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace coffeeshop {

/// Everything an integration actor is built from.
struct integration_spec {
  service_kind kind = service_kind::payment;
  service_settings settings;
  /// Final URL of every call (the service URL, the simulator's, or the Dapr form).
  std::string url;
  caf::actor transport;
  runtime_deps deps;
  uint64_t jitter_seed = 0;
};

/// One logical call as the engine executes it.
struct outbound_call {
  std::string order_id;
  std::string trace_id;
  std::string body;
  /// Payments carry `Idempotency-Key: <orderId>` on every attempt.
  bool idempotent = false;
  /// Extra event payload members (status announced, masked e-mail, ...).
  boost::json::object context;
};

struct integration_state {
  struct pending {
    outbound_call call;
    caf::typed_response_promise<call_outcome> promise;
    deadline budget;
    int attempt = 0;
    bool in_flight = false;
    time_point attempt_started{};
  };

  integration_spec spec;
  circuit_breaker breaker;
  retry_policy retry;
  std::unordered_map<uint64_t, pending> calls;
  uint64_t next_call_id = 1;
  int attempts_in_flight = 0;
  /// What the board last heard, to report only changes.
  circuit_state reported_state = circuit_state::closed;
  int reported_failures = 0;
  bool reported_isolated = false;
  std::optional<int64_t> opened_at_ms;

  static inline const char* name = "integration";
};

using integration_actor = caf::stateful_actor<integration_state>;

/// Loads the spec and the breaker its predecessor last reported to the board.
void init_integration(integration_actor* self, integration_spec spec);

/// Starts a logical call; the promise is fulfilled when it ends.
caf::result<call_outcome> start_call(integration_actor* self, outbound_call call);

/// Runs the next attempt of call `id` (a retry timer fired).
void on_retry_timer(integration_actor* self, uint64_t id);

/// Applies an operator's isolate/reset.
void apply_circuit_action(integration_actor* self, circuit_action action);

/// The behaviour of an integration actor: `request_handler` accepts its
/// request type; retry timers, circuit admin and crash rehearsal are common.
template <class RequestHandler>
caf::behavior make_integration_behavior(integration_actor* self, RequestHandler request_handler) {
  return {
    std::move(request_handler),
    [self](retry_atom, uint64_t id) { on_retry_timer(self, id); },
    [self](circuit_atom, circuit_action action) {
      apply_circuit_action(self, action);
      return integration_view{
        self->state.spec.deps.board->to_json(self->state.spec.kind, self->clock().now())};
    },
    [](crash_atom) {
      throw std::runtime_error("crash rehearsal requested through the admin API");
    },
  };
}

} // namespace coffeeshop
