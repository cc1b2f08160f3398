#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <array>
#include <cstdint>

namespace coffeeshop {

/// How an attempt ended, as far as the concurrency limiter is concerned.
enum class limiter_sample {
  /// An answer that is the upstream's own work: a 2xx or a 4xx judgement. Its latency is a
  /// sample of how busy the upstream is.
  latency,
  /// An error answer (500, 502, 504, 501, a 2xx with success:false, ...). Neither a latency
  /// sample (a failure may be answered at once or after the full work, so its latency says
  /// nothing of the load) nor a cut: a service failing a fraction of its calls whatever the
  /// load is degraded, not overloaded, and the breaker is what judges its errors.
  error,
  /// The upstream could not take the attempt: a timeout, a connection error, or a 429/503
  /// it answered to shed load. The only outcome that cuts the limit (AIMD on drop).
  drop,
};

/// An adaptive concurrency limit (CONTRACT §2 `adaptive_concurrency`), a gradient limiter
/// after Netflix concurrency-limits' Gradient and Envoy's adaptive concurrency filter, with
/// Netflix AIMD's cut on drops.
///
/// Latency: the recent latency is the lowest of the last 20 latency samples, the no-load
/// latency the lowest sample over the current and the previous 250 (so a lasting slow-down
/// is accepted after at most two such periods). Comparing a floor with a floor is what tells
/// load from noise: an upstream whose latency spreads whatever the load (50-300 ms) still
/// answers some calls near its fastest among any 20, so its recent floor stays near the
/// no-load one, while queueing behind more concurrent calls lifts every reply, the fastest
/// included. The gradient `clamp(tolerance x no_load / recent, 0.5, 1)` moves the limit a
/// tenth of the way towards `limit x gradient + sqrt(limit)`, the square root being the
/// queue the upstream may build before it counts as overload: a recent floor within twice
/// the no-load latency lets it grow, a higher one shrinks it.
///
/// Drops cut the limit by a tenth, at most once per limit's worth of completed attempts
/// (about once per round trip, as TCP cuts its window once per loss event): the attempts
/// in flight when the upstream choked end together, and that is one signal, not one per
/// attempt. Error answers neither cut it nor count as latency (see `limiter_sample::error`).
///
/// It grows only while at least half of it is in use or an attempt was refused over it
/// since the last sample (demand it could not take), so an idle upstream does not earn a
/// limit it never proved, while demand beyond the limit always counts as use.
/// Always within [min_limit, max_limit]. A plain value with no clock and a fixed size;
/// copying it is how it survives an actor restart.
class concurrency_limiter {
public:
  static constexpr double tolerance = 2.0;
  static constexpr double smoothing = 0.1;
  /// The recent latency is the lowest of the last this many latency samples.
  static constexpr int recent_samples = 20;
  static constexpr double drop_backoff = 0.9;
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
  /// included) out when it ended, and how it ended. Ignored when disabled.
  void on_sample(millis latency, int in_flight, limiter_sample kind);

  /// An attempt was refused because `limit()` were in flight: demand beyond the limit,
  /// which lets the next fast sample grow it even if fewer are in flight by then.
  void on_refused();

  /// The recent latency (ms) and the no-load latency it is compared with; < 0 before the
  /// first latency sample.
  double recent_latency_ms() const { return recent_ms_; }
  double no_load_latency_ms() const;

  const adaptive_concurrency_settings& settings() const { return settings_; }
  int max_limit() const { return max_limit_; }

private:
  void clamp();
  void on_latency(double ms, int in_flight);
  void on_drop();

  adaptive_concurrency_settings settings_;
  int max_limit_;
  double limit_;
  /// The last recent_samples latency samples (ms), a ring; `recent_count_` of them are set.
  std::array<double, recent_samples> recent_{};
  int recent_next_ = 0;
  int recent_count_ = 0;
  /// The lowest of them (ms); < 0: none yet.
  double recent_ms_ = -1;
  /// Lowest latency samples (ms) of the current and the previous period; < 0: none yet.
  double period_min_ms_ = -1;
  double previous_min_ms_ = -1;
  int period_samples_ = 0;
  /// Attempts completed since the last drop cut, saturating at max_limit.
  int since_cut_;
  /// An attempt was refused over the limit since the last latency sample.
  bool refused_ = false;
};

} // namespace coffeeshop
