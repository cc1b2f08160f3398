#pragma once

#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/telemetry/event_journal.hpp"
#include "coffeeshop/telemetry/integration_board.hpp"
#include "coffeeshop/telemetry/logger.hpp"
#include "coffeeshop/telemetry/metrics.hpp"
#include "coffeeshop/telemetry/span.hpp"

#include <atomic>
#include <memory>

namespace coffeeshop {

class instance_registry;
class live_settings;
class work_claimer;
class work_leases;

/// Whether the store took its last commit; written by the store writer, read
/// by /readyz and by the coordinator (which announces the changes).
struct store_health {
  std::atomic<bool> ok{true};
};

/// The thread-safe services the HTTP layer and the actors share, built once
/// by the daemon and handed to both (no singletons).
struct shared_services {
  std::shared_ptr<logger> log;
  std::shared_ptr<metrics> stats;
  std::shared_ptr<integration_board> board;
  std::shared_ptr<event_journal> journal;
  std::shared_ptr<order_store> store;
  std::shared_ptr<store_health> store_state = std::make_shared<store_health>();
  /// Where finished spans go (the OTLP exporter); null when telemetry.otlp_endpoint is.
  std::shared_ptr<span_sink> spans;
  /// Other daemons write the store too (postgres, CONTRACT §8): an order
  /// pending payment that this daemon is not paying may be another's.
  bool store_shared = false;
  /// This daemon's name in logs and events when several share the store
  /// (empty: one daemon, not named).
  std::string instance_id;
  /// The daemons sharing the store (/api/v1/instances).
  std::shared_ptr<instance_registry> instances;
  /// With a shared store: this daemon's leases on order work, and the thread
  /// that renews them and claims what dead daemons left.
  std::shared_ptr<work_leases> leases;
  std::shared_ptr<work_claimer> claimer;
  /// The settings a reload may change; null (tests): the ones each actor was started with.
  std::shared_ptr<live_settings> live;
};

/// Something that serves in the background between start() and stop(): the
/// HTTP server, as the ingress actor controls it.
class background_server {
public:
  virtual ~background_server() = default;

  /// Starts serving; false when it cannot (it was stopped before).
  virtual bool start() = 0;

  /// Stops serving; requests in flight are answered first.
  virtual void stop() = 0;
};

} // namespace coffeeshop
