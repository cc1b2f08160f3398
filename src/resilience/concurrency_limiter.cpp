#include "coffeeshop/resilience/concurrency_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace coffeeshop {

concurrency_limiter::concurrency_limiter(adaptive_concurrency_settings settings, int max_limit)
  : settings_(settings),
    max_limit_(std::max(1, max_limit)),
    limit_(settings.initial_limit),
    since_cut_(max_limit_) {
  clamp();
}

int concurrency_limiter::limit() const {
  return enabled() ? static_cast<int>(std::floor(limit_)) : max_limit_;
}

double concurrency_limiter::no_load_latency_ms() const {
  if (previous_min_ms_ < 0)
    return period_min_ms_;
  if (period_min_ms_ < 0)
    return previous_min_ms_;
  return std::min(previous_min_ms_, period_min_ms_);
}

void concurrency_limiter::on_sample(millis latency, int in_flight, limiter_sample kind) {
  if (!enabled())
    return;
  since_cut_ = std::min(since_cut_ + 1, max_limit_);
  switch (kind) {
    case limiter_sample::latency:
      // A reply faster than the clock resolves still counts as the fastest possible.
      on_latency(std::max(0.5, static_cast<double>(latency.count())), in_flight);
      break;
    case limiter_sample::error: break;
    case limiter_sample::drop: on_drop(); break;
  }
}

void concurrency_limiter::on_refused() {
  if (enabled())
    refused_ = true;
}

void concurrency_limiter::on_latency(double ms, int in_flight) {
  recent_[recent_next_] = ms;
  recent_next_ = (recent_next_ + 1) % recent_samples;
  recent_count_ = std::min(recent_count_ + 1, recent_samples);
  recent_ms_ = *std::min_element(recent_.begin(), recent_.begin() + recent_count_);
  if (period_min_ms_ < 0 || ms < period_min_ms_)
    period_min_ms_ = ms;
  double no_load = no_load_latency_ms();
  if (++period_samples_ >= samples_per_period) {
    previous_min_ms_ = period_min_ms_;
    period_min_ms_ = -1;
    period_samples_ = 0;
  }
  double gradient = std::clamp(tolerance * no_load / recent_ms_, 0.5, 1.0);
  double target = limit_ * gradient + std::sqrt(limit_);
  bool demanded = refused_ || in_flight * 2 >= limit_;
  refused_ = false;
  if (target > limit_ && !demanded)
    return; // not using what it has: no proof that more would be fine
  limit_ += smoothing * (target - limit_);
  clamp();
}

void concurrency_limiter::on_drop() {
  // The attempts out together when the upstream choked end together: one cut for them.
  if (since_cut_ < limit())
    return;
  since_cut_ = 0;
  limit_ *= drop_backoff;
  clamp();
}

void concurrency_limiter::clamp() {
  limit_ = std::clamp(limit_, static_cast<double>(std::min(settings_.min_limit, max_limit_)),
                      static_cast<double>(max_limit_));
}

} // namespace coffeeshop
