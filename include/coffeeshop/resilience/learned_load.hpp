#pragma once

#include "coffeeshop/resilience/concurrency_limiter.hpp"
#include "coffeeshop/resilience/retry_budget.hpp"

#include <optional>

namespace coffeeshop {

/// What an integration learned of its upstream's load, handed on to a restarted successor
/// the way its breaker is; absent parts start afresh from the settings.
struct learned_load {
  std::optional<retry_budget> budget;
  std::optional<concurrency_limiter> limiter;
};

} // namespace coffeeshop
