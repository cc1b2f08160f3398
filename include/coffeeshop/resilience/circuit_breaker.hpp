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

/// Parses "closed", "half_open", "open"; nullopt when unknown.
std::optional<circuit_state> parse_circuit_state(std::string_view name);

/// The integration event (and log message) that announces a move to `to`:
/// "circuit_opened", "circuit_half_opened", "circuit_closed".
const char* transition_event(circuit_state to);

/// Gauge value of coffeeshop_circuit_state: 0 closed, 1 half-open, 2 open.
int gauge_value(circuit_state s);

/// A breaker as it must survive a restart: wall-clock times, since the
/// monotonic clock of one process means nothing to the next.
struct breaker_snapshot {
  circuit_state state = circuit_state::closed;
  bool isolated = false;
  int consecutive_failures = 0;
  std::optional<int64_t> opened_at_ms;  // Unix epoch ms, while open or isolated
  std::optional<int64_t> open_until_ms; // Unix epoch ms, while open and not isolated
};

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

  /// Takes new settings (a config reload); the state and its counts stay, and the new
  /// thresholds and durations apply from the next call on.
  void set_settings(const breaker_settings& settings) { settings_ = settings; }

  /// The breaker as of `now`, its times moved to the wall clock that reads
  /// `epoch_now_ms` (Unix epoch ms) at the same instant. Probes in flight and
  /// the failure-ratio window are not kept: they die with the process.
  breaker_snapshot snapshot(time_point now, int64_t epoch_now_ms) const;

  /// A breaker rebuilt from a snapshot taken by an earlier process, `now` and
  /// `epoch_now_ms` being the same instant on the two clocks. An open breaker
  /// keeps only the rest of its break; a half-open one comes back open with
  /// its break elapsed, so the next call is a probe; isolated stays isolated.
  static circuit_breaker restore(const breaker_settings& settings, const breaker_snapshot& snap,
                                 time_point now, int64_t epoch_now_ms);

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
