#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <array>
#include <cstdint>

namespace coffeeshop {

/// What the budget holds over its window, for events and tests.
struct budget_usage {
  int64_t first_attempts = 0;
  int64_t retries = 0;
  /// Retries the window allows: ratio x first_attempts + min_per_second x window seconds.
  double allowance = 0;
};

/// A retry budget (CONTRACT §2 `retry.budget`, after Finagle's and Envoy's): over a sliding
/// window, retries may add at most `ratio` x the first attempts made plus a floor of
/// `min_per_second` x the window in seconds, so a failing upstream sees its load grow by
/// `ratio` at most instead of by `max_retries + 1`.
///
/// The window is ten slices of window_ms / 10: an attempt counts from its slice's start
/// until ten slices later, so it leaves the window between 0.9 and 1 window after it was
/// made. Fixed size, so copying the budget (how it survives an actor restart) is cheap.
/// A plain value with no clock of its own.
class retry_budget {
public:
  static constexpr int slices = 10;

  explicit retry_budget(retry_budget_settings settings = {});

  /// False with `ratio: null`: every retry is allowed and nothing is counted.
  bool enabled() const { return settings_.ratio.has_value(); }

  /// Counts a first attempt sent at `now`.
  void on_first_attempt(time_point now);

  /// Asks to make a retry at `now`; when allowed it is counted. Allowed while the retries
  /// in the window, this one included, stay within the allowance.
  bool try_retry(time_point now);

  /// The window as of `now`.
  budget_usage usage(time_point now) const;

  const retry_budget_settings& settings() const { return settings_; }

private:
  struct slice {
    int64_t index = -1; // which slice of the clock this is; -1: never used
    int64_t first_attempts = 0;
    int64_t retries = 0;
  };

  int64_t index_at(time_point now) const;
  /// The slice for `now`, emptied if it held an older one.
  slice& current(time_point now);

  retry_budget_settings settings_;
  std::chrono::nanoseconds slice_width_;
  std::array<slice, slices> ring_{};
};

} // namespace coffeeshop
