#pragma once

#include "actor_interfaces.hpp"

#include "coffeeshop/services.hpp"
#include "coffeeshop/store/write_queue.hpp"
#include "coffeeshop/telemetry/integration_event.hpp"
#include "coffeeshop/util/exception_message.hpp"

#include <caf/fwd.hpp>

#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace coffeeshop {

/// Where integration events go: a buffer drained by the current event_logger
/// actor. Emitters append and wake the logger only when the buffer was empty,
/// so under load one message carries a whole batch. The supervisor rebinds
/// the handle when it restarts the logger; nothing buffered is lost meanwhile.
class event_sink {
public:
  /// `instance`, when not empty, goes into every event's metadata.
  explicit event_sink(std::string instance = {}) : instance_(std::move(instance)) {}

  /// Points the sink at a (new) logger and wakes it if events are waiting.
  void bind(event_logger_actor logger);
  event_logger_actor current() const;

  /// Fills id and timestamp and queues the event for the logger.
  void emit(integration_event ev);

  /// Takes every queued event, oldest first (the logger's side).
  std::vector<integration_event> take();

private:
  const std::string instance_;
  mutable std::mutex mtx_;
  event_logger_actor logger_;
  std::vector<integration_event> pending_;
};

/// The shared services plus the event sink, which only actors and the
/// integration engine's shells emit into.
struct runtime_deps : shared_services {
  std::shared_ptr<event_sink> events;
  /// Where breaker snapshots are committed, so an open breaker stays open
  /// across a restart; none in tests that do not need it.
  std::shared_ptr<write_queue> writer;
};

/// Makes an uncaught exception in `self`'s handlers end the actor with
/// `sec::runtime_error` carrying the exception's message (CAF's default,
/// plus a JSON log line instead of a bare stderr line), so supervisors and
/// operators see why it stopped.
void report_uncaught_exceptions(caf::scheduled_actor* self, std::shared_ptr<logger> log,
                                std::string actor_name);

/// Counts a call refused before it reached the network (breaker open,
/// bulkhead full), on the integration board and in the metrics alike.
void count_rejected_call(const runtime_deps& deps, service_kind kind);

} // namespace coffeeshop
