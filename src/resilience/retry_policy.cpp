#include "coffeeshop/resilience/retry_policy.hpp"

#include "coffeeshop/util/clock.hpp"

#include <algorithm>
#include <limits>

namespace coffeeshop {

namespace {

bool is_retryable_status(int status) {
  switch (status) {
    case 408:
    case 429:
    case 500:
    case 502:
    case 503:
    case 504: return true;
    default: return false;
  }
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

attempt_class classify(const attempt_result& r) {
  if (r.error != transport_error::none)
    return attempt_class::retryable;
  if (r.http_status >= 200 && r.http_status < 300)
    return r.reported_failure ? attempt_class::retryable : attempt_class::success;
  return is_retryable_status(r.http_status) ? attempt_class::retryable
                                            : attempt_class::final_failure;
}

bool is_breaker_failure(const attempt_result& r) {
  switch (classify(r)) {
    case attempt_class::success: return false;
    case attempt_class::retryable: return true;
    case attempt_class::final_failure: break;
  }
  // A final 5xx (501, 505, ...) means the service itself is broken; a final 4xx
  // means it answered and judged the request, so it is up. Anything else
  // (1xx, 3xx, garbage) is not something the service did on purpose.
  return !(r.http_status >= 400 && r.http_status < 500);
}

std::optional<millis> parse_retry_after(std::string_view header, int64_t now_epoch_ms) {
  header = trim(header);
  if (header.empty())
    return std::nullopt;
  if (std::all_of(header.begin(), header.end(), is_digit)) {
    // Saturate instead of overflowing: an absurd value still means "wait long",
    // and the caller caps it by max_delay_ms anyway.
    constexpr int64_t max_secs = std::numeric_limits<int64_t>::max() / 1000;
    int64_t secs = 0;
    for (char c : header) {
      secs = secs * 10 + (c - '0');
      if (secs >= max_secs) {
        secs = max_secs;
        break;
      }
    }
    return millis{secs * 1000};
  }
  auto at = parse_http_date(header);
  if (!at)
    return std::nullopt;
  // A date already past means "retry now", not "unparsable".
  return millis{std::max<int64_t>(0, *at - now_epoch_ms)};
}

retry_policy::retry_policy(retry_settings settings, uint64_t seed)
  : settings_(std::move(settings)), rng_(seed) {}

millis retry_policy::next_delay(int n, std::optional<millis> retry_after) {
  const int64_t max_delay = std::max<int64_t>(0, settings_.max_delay_ms);
  const int64_t base = std::max<int64_t>(0, settings_.base_delay_ms);
  if (n < 1)
    n = 1;
  // Doubling stops as soon as the cap is reached, so large n cannot overflow.
  int64_t d = std::min(base, max_delay);
  for (int i = 1; i < n && d > 0 && d < max_delay; ++i)
    d = d > max_delay / 2 ? max_delay : d * 2;

  switch (settings_.jitter) {
    case jitter_mode::none: break;
    case jitter_mode::full: d = std::uniform_int_distribution<int64_t>{0, d}(rng_); break;
    case jitter_mode::equal: {
      // d - d/2 rather than d/2 so an odd d can still reach d itself.
      int64_t half = d / 2;
      d = half + std::uniform_int_distribution<int64_t>{0, d - half}(rng_);
      break;
    }
  }

  if (settings_.honor_retry_after && retry_after) {
    int64_t wanted = std::clamp<int64_t>(retry_after->count(), 0, max_delay);
    d = std::max(d, wanted);
  }
  return millis{d};
}

} // namespace coffeeshop
