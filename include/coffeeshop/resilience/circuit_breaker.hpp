#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

namespace coffeeshop {

enum class circuit_state { closed, half_open, open };

/// "closed", "half_open", "open".
std::string_view to_string(circuit_state s);

/// Gauge value of coffeeshop_circuit_state: 0 closed, 1 half-open, 2 open.
int gauge_value(circuit_state s);

/// A state change, reported so the owner can emit an event and count it.
struct circuit_transition {
  circuit_state from;
  circuit_state to;
  std::string reason; // e.g. "3 consecutive failures", "break elapsed", "probe succeeded"
};

/// Answer of circuit_breaker::try_acquire.
struct admission {
  bool allowed = false;
  /// When rejected: how long until a call may be tried again.
  millis retry_after{0};
  /// Set when asking moved the breaker (open -> half_open).
  std::optional<circuit_transition> transition;
};

/// A circuit breaker as a plain value: no threads, no clock of its own.
/// Copying it is how its state survives an actor restart.
class circuit_breaker {
public:
  explicit circuit_breaker(breaker_settings settings = {});

  /// Asks to make one call now. Closed: allowed. Open: rejected until the break
  /// has elapsed, then half-open. Half-open: allowed while fewer than
  /// half_open_max_calls probes are outstanding. Isolated: always rejected.
  /// A rejected probe gets retry_after = time until the outstanding probes are
  /// presumed lost (at most break_duration), never 0, so callers cannot spin.
  admission try_acquire(time_point now);

  /// Records a call that succeeded (or was a non-retryable 4xx: the service is up).
  std::optional<circuit_transition> on_success(time_point now);

  /// Records a failed call; `retry_after` from the upstream stretches the break.
  std::optional<circuit_transition> on_failure(time_point now,
                                               std::optional<millis> retry_after = {});

  /// Forgets half-open probes still counted as in flight: a restarted owner
  /// calls this on its predecessor's snapshot, whose probes died with it.
  void forget_probes() { probes_in_flight_ = 0; }

  /// Holds the breaker open until reset().
  std::optional<circuit_transition> isolate(time_point now);

  /// Closes the breaker now and forgets past failures.
  std::optional<circuit_transition> reset(time_point now);

  // -- observers --------------------------------------------------------------

  /// State as of `now` (an open breaker whose break elapsed reads half_open).
  circuit_state state(time_point now) const;
  bool isolated() const { return isolated_; }
  int consecutive_failures() const { return consecutive_failures_; }
  /// Time left in the open period (0 when not open); while isolated, the break
  /// duration (the same Retry-After a rejected call gets).
  millis remaining_open(time_point now) const;
  /// When the breaker last opened, if it is open.
  std::optional<time_point> opened_at() const;
  const breaker_settings& settings() const { return settings_; }

private:
  struct sample {
    time_point at;
    bool failed;
  };

  std::optional<circuit_transition> open(time_point now, std::optional<millis> retry_after,
                                         std::string reason);
  void prune(time_point now);

  breaker_settings settings_;
  circuit_state state_ = circuit_state::closed;
  bool isolated_ = false;
  int consecutive_failures_ = 0;
  int probes_in_flight_ = 0;
  /// When the latest half-open probe was admitted: probes that never report
  /// (an owner restarted mid-call) are presumed lost one break_duration later.
  time_point last_probe_at_{};
  time_point opened_at_{};
  time_point open_until_{};
  std::deque<sample> window_;
};

} // namespace coffeeshop
