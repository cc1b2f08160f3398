#include "coffeeshop/resilience/concurrency_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace coffeeshop {

concurrency_limiter::concurrency_limiter(adaptive_concurrency_settings settings, int max_limit)
  : settings_(settings), max_limit_(std::max(1, max_limit)), limit_(settings.initial_limit) {
  clamp();
}

int concurrency_limiter::limit() const {
  return enabled() ? static_cast<int>(std::floor(limit_)) : max_limit_;
}

void concurrency_limiter::on_sample(millis latency, int in_flight, bool failed) {
  if (!enabled())
    return;
  if (failed) {
    limit_ *= failure_backoff;
    clamp();
    return;
  }
  // A reply faster than the clock resolves still counts as the fastest possible.
  double ms = std::max(0.5, static_cast<double>(latency.count()));
  if (period_min_ms_ < 0 || ms < period_min_ms_)
    period_min_ms_ = ms;
  double no_load = previous_min_ms_ < 0 ? period_min_ms_
                                        : std::min(previous_min_ms_, period_min_ms_);
  if (++period_samples_ >= samples_per_period) {
    previous_min_ms_ = period_min_ms_;
    period_min_ms_ = -1;
    period_samples_ = 0;
  }
  double gradient = std::clamp(tolerance * no_load / ms, 0.5, 1.0);
  double target = limit_ * gradient + std::sqrt(limit_);
  if (target > limit_ && in_flight * 2 < limit_)
    return; // not using what it has: no proof that more would be fine
  limit_ += smoothing * (target - limit_);
  clamp();
}

void concurrency_limiter::clamp() {
  limit_ = std::clamp(limit_, static_cast<double>(std::min(settings_.min_limit, max_limit_)),
                      static_cast<double>(max_limit_));
}

} // namespace coffeeshop
