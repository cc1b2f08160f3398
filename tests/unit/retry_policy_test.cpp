#include "coffeeshop/resilience/retry_policy.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <vector>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

retry_settings with_jitter(jitter_mode j, int64_t base = 2000, int64_t max = 30000) {
  retry_settings s;
  s.base_delay_ms = base;
  s.max_delay_ms = max;
  s.jitter = j;
  return s;
}

attempt_result status(int code, bool reported_failure = false) {
  attempt_result r;
  r.http_status = code;
  r.reported_failure = reported_failure;
  return r;
}

attempt_result transport(transport_error e) {
  attempt_result r;
  r.error = e;
  return r;
}

/// 2026-11-24T10:15:30Z, i.e. "Tue, 24 Nov 2026 10:15:30 GMT".
constexpr int64_t nov_24_2026_ms = 1795515330000;

} // namespace

// -- retry_policy::next_delay --------------------------------------------------

TEST_CASE("retry_policy: defaults give 2 s, 4 s, 8 s", "[retry_policy]") {
  retry_policy p{retry_settings{}, 1};
  CHECK(p.max_retries() == 3);
  CHECK(p.next_delay(1) == 2000ms);
  CHECK(p.next_delay(2) == 4000ms);
  CHECK(p.next_delay(3) == 8000ms);
}

TEST_CASE("retry_policy: delays are capped at max_delay_ms", "[retry_policy]") {
  retry_policy p{with_jitter(jitter_mode::none, 2000, 30000), 1};
  CHECK(p.next_delay(4) == 16000ms);
  CHECK(p.next_delay(5) == 30000ms); // 32000 capped
  CHECK(p.next_delay(6) == 30000ms);
  // Large n must saturate rather than overflow into a negative or tiny delay.
  CHECK(p.next_delay(64) == 30000ms);
  CHECK(p.next_delay(1000) == 30000ms);
  CHECK(p.next_delay(std::numeric_limits<int>::max()) == 30000ms);
}

TEST_CASE("retry_policy: saturation near the int64 limit", "[retry_policy]") {
  const int64_t huge = std::numeric_limits<int64_t>::max();
  retry_policy p{with_jitter(jitter_mode::none, huge / 4 + 1, huge), 1};
  CHECK(p.next_delay(2).count() == 2 * (huge / 4 + 1));
  CHECK(p.next_delay(3).count() == huge);
  CHECK(p.next_delay(200).count() == huge);
}

TEST_CASE("retry_policy: n below 1 counts as the first retry", "[retry_policy]") {
  retry_policy p{retry_settings{}, 1};
  CHECK(p.next_delay(0) == 2000ms);
  CHECK(p.next_delay(-5) == 2000ms);
}

TEST_CASE("retry_policy: a max below base caps the first delay", "[retry_policy]") {
  retry_policy p{with_jitter(jitter_mode::none, 5000, 3000), 1};
  CHECK(p.next_delay(1) == 3000ms);
}

TEST_CASE("retry_policy: zero retries and zero base", "[retry_policy]") {
  retry_settings s;
  s.max_retries = 0;
  s.base_delay_ms = 0;
  retry_policy p{s, 1};
  CHECK(p.max_retries() == 0);
  CHECK(p.next_delay(1) == 0ms);
  CHECK(p.next_delay(50) == 0ms);
}

TEST_CASE("retry_policy: full jitter stays within [0, d]", "[retry_policy]") {
  bool below_half = false, above_half = false;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    retry_policy p{with_jitter(jitter_mode::full), seed};
    for (int n = 1; n <= 6; ++n) {
      const int64_t d = std::min<int64_t>(2000LL << (n - 1), 30000);
      auto v = p.next_delay(n).count();
      REQUIRE(v >= 0);
      REQUIRE(v <= d);
      if (n == 3) {
        below_half |= v < d / 2;
        above_half |= v > d / 2;
      }
    }
  }
  // It is actually random: both halves of the range are hit.
  CHECK(below_half);
  CHECK(above_half);
}

TEST_CASE("retry_policy: equal jitter stays within [d/2, d]", "[retry_policy]") {
  bool varied = false;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    retry_policy p{with_jitter(jitter_mode::equal), seed};
    for (int n = 1; n <= 6; ++n) {
      const int64_t d = std::min<int64_t>(2000LL << (n - 1), 30000);
      auto v = p.next_delay(n).count();
      REQUIRE(v >= d / 2);
      REQUIRE(v <= d);
      varied |= v != d / 2 && v != d;
    }
  }
  CHECK(varied);
}

TEST_CASE("retry_policy: a fixed seed gives a fixed sequence", "[retry_policy]") {
  const auto mode = GENERATE(jitter_mode::full, jitter_mode::equal);
  auto run = [mode](uint64_t seed) {
    retry_policy p{with_jitter(mode), seed};
    std::vector<int64_t> out;
    for (int n = 1; n <= 8; ++n)
      out.push_back(p.next_delay(n).count());
    return out;
  };
  CHECK(run(42) == run(42));
  CHECK(run(42) != run(43));
}

TEST_CASE("retry_policy: Retry-After raises the delay, capped by max", "[retry_policy]") {
  retry_policy p{retry_settings{}, 1};
  CHECK(p.next_delay(1, 5000ms) == 5000ms);    // raised from 2000
  CHECK(p.next_delay(3, 5000ms) == 8000ms);    // never lowered
  CHECK(p.next_delay(1, 120000ms) == 30000ms); // capped by max_delay_ms
  CHECK(p.next_delay(1, 0ms) == 2000ms);
  CHECK(p.next_delay(1, -5000ms) == 2000ms);
}

TEST_CASE("retry_policy: Retry-After raises a jittered delay too", "[retry_policy]") {
  retry_policy p{with_jitter(jitter_mode::full), 7};
  for (int i = 0; i < 50; ++i)
    CHECK(p.next_delay(1, 1500ms) >= 1500ms);
}

TEST_CASE("retry_policy: Retry-After is ignored unless honoured", "[retry_policy]") {
  retry_settings s;
  s.honor_retry_after = false;
  retry_policy p{s, 1};
  CHECK(p.next_delay(1, 5000ms) == 2000ms);
}

// -- classify / is_breaker_failure ---------------------------------------------

TEST_CASE("retry_policy: classify transport errors as retryable", "[retry_policy]") {
  const auto e = GENERATE(transport_error::connect_failed, transport_error::timeout,
                          transport_error::connection_reset, transport_error::other);
  CHECK(classify(transport(e)) == attempt_class::retryable);
  CHECK(is_breaker_failure(transport(e)));
}

TEST_CASE("retry_policy: classify 2xx", "[retry_policy]") {
  const int code = GENERATE(200, 201, 202, 204);
  CHECK(classify(status(code)) == attempt_class::success);
  CHECK_FALSE(is_breaker_failure(status(code)));
  // "success": false in the body is a failure of the same kind as a 500.
  CHECK(classify(status(code, true)) == attempt_class::retryable);
  CHECK(is_breaker_failure(status(code, true)));
}

TEST_CASE("retry_policy: classify retryable statuses", "[retry_policy]") {
  const int code = GENERATE(408, 429, 500, 502, 503, 504);
  CAPTURE(code);
  CHECK(classify(status(code)) == attempt_class::retryable);
  CHECK(is_breaker_failure(status(code)));
}

TEST_CASE("retry_policy: classify final 4xx, not breaker failures", "[retry_policy]") {
  const int code = GENERATE(400, 401, 402, 403, 404, 405, 409, 410, 413, 415, 422, 451);
  CAPTURE(code);
  CHECK(classify(status(code)) == attempt_class::final_failure);
  CHECK_FALSE(is_breaker_failure(status(code)));
}

TEST_CASE("retry_policy: classify final 5xx, still breaker failures", "[retry_policy]") {
  const int code = GENERATE(501, 505, 507, 511, 599);
  CAPTURE(code);
  CHECK(classify(status(code)) == attempt_class::final_failure);
  CHECK(is_breaker_failure(status(code)));
}

TEST_CASE("retry_policy: is_breaker_failure named cases", "[retry_policy]") {
  CHECK_FALSE(is_breaker_failure(status(402)));
  CHECK_FALSE(is_breaker_failure(status(404)));
  CHECK(is_breaker_failure(status(500)));
  CHECK(is_breaker_failure(transport(transport_error::timeout)));
}

TEST_CASE("retry_policy: classify other statuses as final", "[retry_policy]") {
  const int code = GENERATE(100, 301, 302, 304);
  CAPTURE(code);
  CHECK(classify(status(code)) == attempt_class::final_failure);
}

// -- parse_retry_after ----------------------------------------------------------

TEST_CASE("retry_policy: parse_retry_after delta-seconds", "[retry_policy]") {
  CHECK(parse_retry_after("5", 0) == 5000ms);
  CHECK(parse_retry_after("0", 0) == 0ms);
  CHECK(parse_retry_after("120", nov_24_2026_ms) == 120000ms);
  CHECK(parse_retry_after(" 7 ", 0) == 7000ms); // surrounding whitespace
  // An absurd value saturates instead of wrapping negative.
  auto huge = parse_retry_after("99999999999999999999999999", 0);
  REQUIRE(huge);
  CHECK(huge->count() > 0);
}

TEST_CASE("retry_policy: parse_retry_after HTTP-date", "[retry_policy]") {
  const std::string date = "Tue, 24 Nov 2026 10:15:30 GMT";
  CHECK(parse_retry_after(date, nov_24_2026_ms) == 0ms);
  CHECK(parse_retry_after(date, nov_24_2026_ms - 30000) == 30000ms);
  CHECK(parse_retry_after(date, nov_24_2026_ms - 1) == 1ms);
  // A date already past clamps to 0: retry now.
  CHECK(parse_retry_after(date, nov_24_2026_ms + 60000) == 0ms);
  // The RFC's own example, checked against the epoch.
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", 0) == 784111777000ms);
  // Leap day and year end.
  CHECK(parse_retry_after("Thu, 29 Feb 2024 00:00:00 GMT", 0) == 1709164800000ms);
  CHECK(parse_retry_after("Thu, 31 Dec 2026 23:59:59 GMT", 0) == 1798761599000ms);
}

TEST_CASE("retry_policy: parse_retry_after rejects garbage", "[retry_policy]") {
  const std::string bad = GENERATE(
    std::string{""}, std::string{"   "}, std::string{"-5"}, std::string{"+5"}, std::string{"1.5"},
    std::string{"5s"}, std::string{"soon"}, std::string{"0x10"},
    std::string{"Tue, 24 Nov 2026 10:15:30 UTC"}, std::string{"Tue, 24 Foo 2026 10:15:30 GMT"},
    std::string{"Xyz, 24 Nov 2026 10:15:30 GMT"}, std::string{"Tue, 31 Nov 2026 10:15:30 GMT"},
    std::string{"Fri, 29 Feb 2026 10:15:30 GMT"}, std::string{"Tue, 24 Nov 2026 24:00:00 GMT"},
    std::string{"Tue, 24 Nov 2026 10:60:00 GMT"}, std::string{"Tue, 24 Nov 2026 10:15:3 GMT"},
    std::string{"Tue, 24 Nov 26 10:15:30 GMT"}, std::string{"Tuesday, 24-Nov-26 10:15:30 GMT"});
  CAPTURE(bad);
  CHECK_FALSE(parse_retry_after(bad, nov_24_2026_ms));
}

// -- deadline --------------------------------------------------------------------

TEST_CASE("retry_policy: deadline allows attempts strictly before its end",
          "[retry_policy][deadline]") {
  const time_point start = time_point{} + 1000h;
  deadline d{start, 30000ms};
  CHECK(d.end() == start + 30000ms);
  CHECK(d.allows_attempt_at(start));
  CHECK(d.allows_attempt_at(start + 29999ms));
  CHECK(d.allows_attempt_at(d.end() - std::chrono::nanoseconds{1}));
  CHECK_FALSE(d.allows_attempt_at(d.end()));
  CHECK_FALSE(d.allows_attempt_at(d.end() + 1ms));
}

TEST_CASE("retry_policy: deadline remaining time", "[retry_policy][deadline]") {
  const time_point start = time_point{} + 1000h;
  deadline d{start, 30000ms};
  CHECK(d.remaining(start) == 30000ms);
  CHECK(d.remaining(start + 12s) == 18000ms);
  CHECK(d.remaining(d.end()) == 0ms);
  CHECK(d.remaining(d.end() + 5s) == 0ms); // never negative
  // Rounded up: while an attempt is allowed, some time is left.
  CHECK(d.remaining(d.end() - std::chrono::microseconds{1}) == 1ms);
}

TEST_CASE("retry_policy: deadline clips the per-call timeout", "[retry_policy][deadline]") {
  const time_point start = time_point{} + 1000h;
  deadline d{start, 30000ms};
  CHECK(d.attempt_timeout(start, 10000ms) == 10000ms);       // plenty left
  CHECK(d.attempt_timeout(start + 20s, 10000ms) == 10000ms); // exactly fits
  CHECK(d.attempt_timeout(start + 25s, 10000ms) == 5000ms);  // clipped
  CHECK(d.attempt_timeout(start + 29999ms, 10000ms) == 1ms);
  CHECK(d.attempt_timeout(d.end(), 10000ms) == 0ms);
  CHECK(d.attempt_timeout(d.end() + 1s, 10000ms) == 0ms);
  CHECK(d.attempt_timeout(start, -5ms) == 0ms);
}
