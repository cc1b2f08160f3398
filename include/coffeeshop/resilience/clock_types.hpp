#pragma once

#include <chrono>

namespace coffeeshop {

/// Monotonic time as the policy types see it. Actors pass readings of their
/// actor clock, so the deterministic test harness can move time.
using time_point = std::chrono::steady_clock::time_point;
using millis = std::chrono::milliseconds;

} // namespace coffeeshop
