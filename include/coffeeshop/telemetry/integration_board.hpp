#pragma once

#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/learned_load.hpp"
#include "coffeeshop/resilience/service_kind.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>

namespace coffeeshop {

/// Last reported state of one integration: what /api/v1/integrations shows and
/// what a restarted actor starts from.
struct integration_status {
  circuit_breaker breaker;
  std::optional<int64_t> opened_at_ms; // wall clock, while open
  /// The retry budget and concurrency limit as last reported; empty until the actor starts.
  learned_load load;
  uint64_t succeeded = 0;
  uint64_t failed = 0;
  uint64_t rejected = 0;
  uint64_t retries = 0;
  uint64_t retries_suppressed = 0;
  int restarts = 0;
  std::optional<int64_t> last_restart_ms;
};

/// The shared notice board the integration actors report to. Survives actor
/// restarts; read by HTTP threads without an actor hop. Thread-safe.
class integration_board {
public:
  explicit integration_board(const breaker_settings& payment = {},
                             const breaker_settings& notification = {});

  /// Stores the breaker as its owner last saw it.
  void report_breaker(service_kind s, const circuit_breaker& b,
                      std::optional<int64_t> opened_at_ms);

  /// Stores the retry budget and the concurrency limit as their owner last saw them.
  void report_load(service_kind s, const retry_budget& budget, const concurrency_limiter& limiter);

  enum class counter { succeeded, failed, rejected, retries, retries_suppressed };
  void count(service_kind s, counter c);

  void record_restart(service_kind s, int64_t wall_ms);

  integration_status snapshot(service_kind s) const;

  /// How long calls to `s` will still be refused when its breaker, as last
  /// reported, is open at `now` (see circuit_breaker::remaining_open); nullopt when
  /// closed or half-open (then only the actor can decide). No copy taken.
  std::optional<millis> refusing_for(service_kind s, time_point now) const;

  /// The per-service JSON of GET /api/v1/integrations at monotonic `now`.
  boost::json::object to_json(service_kind s, time_point now) const;

private:
  mutable std::mutex mtx_;
  std::array<integration_status, 2> services_;
};

} // namespace coffeeshop
