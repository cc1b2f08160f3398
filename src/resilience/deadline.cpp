#include "coffeeshop/resilience/retry_policy.hpp"

#include <algorithm>

namespace coffeeshop {

millis deadline::remaining(time_point now) const {
  if (now >= end_)
    return millis{0};
  // Rounded up so that remaining() > 0 exactly when allows_attempt_at(now):
  // a sub-millisecond rest must not read as "no time left" while an attempt
  // is still allowed.
  return std::chrono::ceil<millis>(end_ - now);
}

millis deadline::attempt_timeout(time_point now, millis per_call) const {
  return std::clamp(per_call, millis{0}, std::max(millis{0}, remaining(now)));
}

} // namespace coffeeshop
