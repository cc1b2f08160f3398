#pragma once

#include "coffeeshop/domain/menu.hpp"
#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/messages.hpp"
#include "coffeeshop/telemetry/event_journal.hpp"
#include "coffeeshop/telemetry/integration_board.hpp"
#include "coffeeshop/telemetry/logger.hpp"
#include "coffeeshop/telemetry/metrics.hpp"

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include <exception>
#include <memory>
#include <string>
#include <mutex>
#include <vector>

namespace coffeeshop {

/// Where integration events go: a buffer drained by the current event_logger
/// actor. Emitters append and wake the logger only when the buffer was empty,
/// so under load one message carries a whole batch. The supervisor rebinds
/// the handle when it restarts the logger; nothing buffered is lost meanwhile.
class event_sink {
public:
  /// Points the sink at a (new) logger and wakes it if events are waiting.
  void bind(caf::actor logger);
  caf::actor current() const;

  /// Fills id and timestamp and queues the event for the logger.
  void emit(integration_event ev);

  /// Takes every queued event, oldest first (the logger's side).
  std::vector<integration_event> take();

private:
  mutable std::mutex mtx_;
  caf::actor logger_;
  std::vector<integration_event> pending_;
};

/// The shared, thread-safe services the actors are given (no singletons).
struct runtime_deps {
  std::shared_ptr<logger> log;
  std::shared_ptr<metrics> stats;
  std::shared_ptr<integration_board> board;
  std::shared_ptr<event_journal> journal;
  std::shared_ptr<event_sink> events;
  std::shared_ptr<order_store> store;
};

/// The message of a caught exception ("unknown exception" when it is not a
/// std::exception or there is none).
std::string exception_message(std::exception_ptr ep);

/// Makes an uncaught exception in `self`'s handlers end the actor with
/// `sec::runtime_error` carrying the exception's message (CAF's default,
/// plus a JSON log line instead of a bare stderr line), so supervisors and
/// operators see why it stopped.
void report_uncaught_exceptions(caf::scheduled_actor* self, std::shared_ptr<logger> log,
                                std::string actor_name);

/// Counts a call refused before it reached the network (breaker open,
/// bulkhead full), on the integration board and in the metrics alike.
void count_rejected_call(const runtime_deps& deps, service_kind kind);

/// Builds an event with the fields every emitter sets.
integration_event make_event(std::string service, std::string type, std::string trace_id,
                             std::string order_id, int attempt = 0,
                             boost::json::object payload = {});

inline integration_event make_event(service_kind service, std::string type, std::string trace_id,
                                    std::string order_id, int attempt = 0,
                                    boost::json::object payload = {}) {
  return make_event(std::string{to_string(service)}, std::move(type), std::move(trace_id),
                    std::move(order_id), attempt, std::move(payload));
}

} // namespace coffeeshop
