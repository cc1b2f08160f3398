#include "coffeeshop/resilience/retry_policy.hpp"

#include <algorithm>
#include <cstddef>
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
    case 504:
      return true;
    default:
      return false;
  }
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

/// Parses exactly `width` decimal digits at `pos`.
bool parse_fixed(std::string_view s, size_t pos, size_t width, int& out) {
  if (pos + width > s.size())
    return false;
  int v = 0;
  for (size_t i = pos; i < pos + width; ++i) {
    if (!is_digit(s[i]))
      return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil); done by hand because timegm/strptime are not standard C++
/// and strptime's %a/%b follow the locale.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int days_in_month(int y, int m) {
  static constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/// Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", RFC 7231 §7.1.1.1)
/// to epoch milliseconds. The obsolete RFC 850 and asctime forms are not
/// accepted: every upstream we talk to sends IMF-fixdate. The weekday name is
/// checked for spelling only, not against the date.
std::optional<int64_t> parse_imf_fixdate(std::string_view s) {
  static constexpr std::string_view week_days[] = {"Mon", "Tue", "Wed", "Thu",
                                                   "Fri", "Sat", "Sun"};
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // "Sun, 06 Nov 1994 08:49:37 GMT"
  //  0123456789012345678901234567890
  if (s.size() != 29)
    return std::nullopt;
  if (std::find(std::begin(week_days), std::end(week_days), s.substr(0, 3)) ==
      std::end(week_days))
    return std::nullopt;
  if (s.substr(3, 2) != ", " || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[19] != ':' ||
      s[22] != ':' || s.substr(25) != " GMT")
    return std::nullopt;
  auto month_it = std::find(std::begin(months), std::end(months), s.substr(8, 3));
  if (month_it == std::end(months))
    return std::nullopt;
  int month = static_cast<int>(month_it - std::begin(months)) + 1;
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!parse_fixed(s, 5, 2, day) || !parse_fixed(s, 12, 4, year) ||
      !parse_fixed(s, 17, 2, hour) || !parse_fixed(s, 20, 2, minute) ||
      !parse_fixed(s, 23, 2, second))
    return std::nullopt;
  // 60 admits a leap second, as RFC 7231's time-of-day grammar does.
  if (day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second;
  return secs * 1000;
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
    case attempt_class::success:
      return false;
    case attempt_class::retryable:
      return true;
    case attempt_class::final_failure:
      break;
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
  auto at = parse_imf_fixdate(header);
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
    case jitter_mode::none:
      break;
    case jitter_mode::full:
      d = std::uniform_int_distribution<int64_t>{0, d}(rng_);
      break;
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
