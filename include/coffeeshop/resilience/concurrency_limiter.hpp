#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <cstdint>

namespace coffeeshop {

/// An adaptive concurrency limit (CONTRACT §2 `adaptive_concurrency`), a gradient limiter
/// after Netflix concurrency-limits' Gradient and Envoy's adaptive concurrency filter.
///
/// Each attempt that got an answer is a sample: its latency against the no-load latency
/// (the lowest seen over the current and the previous 250 samples, so a lasting slow-down
/// is accepted after at most two such periods) gives the gradient
/// `clamp(tolerance x no_load / latency, 0.5, 1)`, and the limit moves a fifth of the way
/// towards `limit x gradient + sqrt(limit)`: latency within twice the no-load one lets it
/// grow, higher latency shrinks it. A failed attempt (one the breaker counts) cuts it by a
/// tenth at once. It grows only while at least half of it is in use, so an idle upstream
/// does not earn a limit it never proved. Always within [min_limit, max_limit].
/// A plain value with no clock; copying it is how it survives an actor restart.
class concurrency_limiter {
public:
  static constexpr double tolerance = 2.0;
  static constexpr double smoothing = 0.2;
  static constexpr double failure_backoff = 0.9;
  static constexpr int samples_per_period = 250;

  /// `max_limit` is the service's max_connections; `settings` must fit below it.
  concurrency_limiter(adaptive_concurrency_settings settings, int max_limit);

  bool enabled() const { return settings_.enabled; }

  /// The attempts that may be in flight at once: the learned limit when enabled, else
  /// max_limit (the static bulkhead).
  int limit() const;

  /// The limit before rounding down, for tests and the board.
  double exact_limit() const { return limit_; }

  /// Feeds one attempt that ended after `latency` with `in_flight` attempts (itself
  /// included) out when it started; `failed` when the breaker counts it as a failure.
  /// Ignored when disabled.
  void on_sample(millis latency, int in_flight, bool failed);

  const adaptive_concurrency_settings& settings() const { return settings_; }
  int max_limit() const { return max_limit_; }

private:
  void clamp();

  adaptive_concurrency_settings settings_;
  int max_limit_;
  double limit_;
  /// Lowest latencies (ms) of the current and the previous period; < 0: none yet.
  double period_min_ms_ = -1;
  double previous_min_ms_ = -1;
  int period_samples_ = 0;
};

} // namespace coffeeshop
