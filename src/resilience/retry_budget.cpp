#include "coffeeshop/resilience/retry_budget.hpp"

namespace coffeeshop {

namespace {

/// Absorbs the rounding of ratio x count (0.1 x 30 is 3.0000000000000004), which must not
/// refuse a retry the formula allows; far below one retry.
constexpr double allowance_slack = 1e-9;

} // namespace

retry_budget::retry_budget(retry_budget_settings settings)
  : settings_(settings),
    slice_width_(std::chrono::nanoseconds{std::chrono::milliseconds{settings.window_ms}} / slices) {
  if (slice_width_.count() <= 0)
    slice_width_ = std::chrono::nanoseconds{1}; // unreachable with validated settings
}

int64_t retry_budget::index_at(time_point now) const {
  return now.time_since_epoch() / slice_width_;
}

retry_budget::slice& retry_budget::current(time_point now) {
  auto index = index_at(now);
  auto& s = ring_[static_cast<std::size_t>(index % slices)];
  if (s.index != index)
    s = slice{index, 0, 0};
  return s;
}

void retry_budget::on_first_attempt(time_point now) {
  if (enabled())
    ++current(now).first_attempts;
}

bool retry_budget::try_retry(time_point now) {
  if (!enabled())
    return true;
  auto u = usage(now);
  if (static_cast<double>(u.retries + 1) > u.allowance + allowance_slack)
    return false;
  ++current(now).retries;
  return true;
}

budget_usage retry_budget::usage(time_point now) const {
  budget_usage u;
  auto newest = index_at(now);
  for (const auto& s : ring_) {
    if (s.index > newest - slices && s.index <= newest) {
      u.first_attempts += s.first_attempts;
      u.retries += s.retries;
    }
  }
  u.allowance = settings_.ratio.value_or(0.0) * static_cast<double>(u.first_attempts) +
                settings_.min_per_second * (static_cast<double>(settings_.window_ms) / 1000.0);
  return u;
}

} // namespace coffeeshop
