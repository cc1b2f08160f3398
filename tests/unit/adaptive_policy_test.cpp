// The retry budget and the adaptive concurrency limiter, on injected time.

#include "coffeeshop/resilience/concurrency_limiter.hpp"
#include "coffeeshop/resilience/retry_budget.hpp"

#include <catch2/catch.hpp>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

/// A slice boundary: the budget's slices are counted from the clock's epoch.
const time_point t0 = time_point{} + 1000h;

retry_budget_settings budget(double ratio, int min_per_second, int64_t window_ms) {
  retry_budget_settings s;
  s.ratio = ratio;
  s.min_per_second = min_per_second;
  s.window_ms = window_ms;
  return s;
}

/// Retries granted in a row at `now` until the first refusal.
int grant_all(retry_budget& b, time_point now) {
  int n = 0;
  while (b.try_retry(now) && n < 100000)
    ++n;
  return n;
}

adaptive_concurrency_settings adaptive(int min_limit, int initial_limit) {
  adaptive_concurrency_settings s;
  s.enabled = true;
  s.min_limit = min_limit;
  s.initial_limit = initial_limit;
  return s;
}

/// Feeds `n` successful samples of `latency` with the limiter fully used.
void feed(concurrency_limiter& l, int n, millis latency) {
  for (int i = 0; i < n; ++i)
    l.on_sample(latency, l.limit(), false);
}

} // namespace

// -- retry budget -----------------------------------------------------------------------

TEST_CASE("retry budget: off (ratio null) allows every retry and counts nothing", "[budget]") {
  retry_budget b{retry_budget_settings{}};
  CHECK_FALSE(b.enabled());
  for (int i = 0; i < 1000; ++i)
    REQUIRE(b.try_retry(t0));
  b.on_first_attempt(t0);
  CHECK(b.usage(t0).retries == 0);
  CHECK(b.usage(t0).first_attempts == 0);
}

TEST_CASE("retry budget: allows exactly ratio x first attempts + floor x window", "[budget]") {
  SECTION("ratio only") {
    retry_budget b{budget(0.2, 0, 10000)};
    for (int i = 0; i < 100; ++i)
      b.on_first_attempt(t0);
    CHECK(grant_all(b, t0) == 20);
    auto u = b.usage(t0);
    CHECK(u.first_attempts == 100);
    CHECK(u.retries == 20);
    CHECK(u.allowance == Approx(20.0));
  }
  SECTION("floor only: min_per_second x window seconds, with no first attempt") {
    retry_budget b{budget(0.2, 3, 10000)};
    CHECK(grant_all(b, t0) == 30);
  }
  SECTION("both add up; a fraction of a retry is not a retry") {
    retry_budget b{budget(0.1, 1, 2000)};
    for (int i = 0; i < 37; ++i)
      b.on_first_attempt(t0);
    CHECK(grant_all(b, t0) == 5); // 3.7 + 2
  }
  SECTION("rounding never refuses what the formula allows") {
    retry_budget b{budget(0.1, 0, 10000)};
    for (int i = 0; i < 30; ++i)
      b.on_first_attempt(t0); // 0.1 x 30 is 3.0000000000000004 in doubles
    CHECK(grant_all(b, t0) == 3);
  }
  SECTION("new first attempts make room again") {
    retry_budget b{budget(0.5, 0, 10000)};
    b.on_first_attempt(t0);
    CHECK_FALSE(b.try_retry(t0)); // 0.5 allowed: not one whole retry
    b.on_first_attempt(t0 + 1ms);
    CHECK(b.try_retry(t0 + 2ms));
    CHECK_FALSE(b.try_retry(t0 + 2ms));
  }
}

TEST_CASE("retry budget: an attempt leaves the window ten slices after its slice began",
          "[budget]") {
  // window 10 s: slices of 1 s starting at t0 (a whole number of seconds from the epoch).
  retry_budget b{budget(1.0, 0, 10000)};
  b.on_first_attempt(t0 + 500ms);
  b.on_first_attempt(t0 + 999ms);  // the same slice
  b.on_first_attempt(t0 + 1000ms); // the next one
  CHECK(b.usage(t0 + 9999ms).first_attempts == 3);
  CHECK(b.usage(t0 + 10000ms).first_attempts == 1); // the first slice has left
  CHECK(b.usage(t0 + 10999ms).first_attempts == 1);
  CHECK(b.usage(t0 + 11000ms).first_attempts == 0);

  // Retries leave the same way, freeing their share of the allowance.
  b.on_first_attempt(t0 + 20000ms);
  b.on_first_attempt(t0 + 20000ms);
  CHECK(grant_all(b, t0 + 20000ms) == 2);
  b.on_first_attempt(t0 + 25000ms);
  CHECK(grant_all(b, t0 + 25000ms) == 1); // 3 first attempts, 2 retries in the window
  CHECK(grant_all(b, t0 + 29999ms) == 0);
  // At 30 s the slice of t0+20 s (2 first attempts, 2 retries) left: 1 first attempt, 1 retry.
  CHECK(b.usage(t0 + 30000ms).first_attempts == 1);
  CHECK(b.usage(t0 + 30000ms).retries == 1);
  CHECK(grant_all(b, t0 + 30000ms) == 0);
  // At 35 s everything has left: nothing is allowed without new traffic (floor 0).
  CHECK(b.usage(t0 + 35000ms).retries == 0);
  CHECK(grant_all(b, t0 + 35000ms) == 0);
}

TEST_CASE("retry budget: a slice reused after a long pause starts empty", "[budget]") {
  retry_budget b{budget(1.0, 0, 10000)};
  for (int i = 0; i < 5; ++i)
    b.on_first_attempt(t0);
  // 100 s later the same ring position holds a new slice: the old counts are gone.
  b.on_first_attempt(t0 + 100000ms);
  CHECK(b.usage(t0 + 100000ms).first_attempts == 1);
  CHECK(grant_all(b, t0 + 100000ms) == 1);
}

TEST_CASE("retry budget: a copy carries its window on", "[budget]") {
  retry_budget b{budget(0.2, 0, 10000)};
  for (int i = 0; i < 10; ++i)
    b.on_first_attempt(t0);
  CHECK(b.try_retry(t0));
  retry_budget successor = b;
  CHECK(successor.try_retry(t0 + 1ms));
  CHECK_FALSE(successor.try_retry(t0 + 2ms));
}

// -- concurrency limiter ----------------------------------------------------------------

TEST_CASE("concurrency limit: off, it is max_connections whatever the samples", "[limiter]") {
  concurrency_limiter l{adaptive_concurrency_settings{}, 32};
  CHECK_FALSE(l.enabled());
  CHECK(l.limit() == 32);
  for (int i = 0; i < 100; ++i)
    l.on_sample(5000ms, 32, true);
  CHECK(l.limit() == 32);
}

TEST_CASE("concurrency limit: starts at initial_limit and grows under steady low latency",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 8), 32};
  CHECK(l.limit() == 8);
  int before = l.limit();
  feed(l, 5, 20ms);
  CHECK(l.limit() > before);
  feed(l, 200, 20ms);
  CHECK(l.limit() == 32); // and no further
  CHECK(l.exact_limit() == Approx(32.0));
}

TEST_CASE("concurrency limit: latency within the tolerance still grows it", "[limiter]") {
  concurrency_limiter l{adaptive(2, 8), 32};
  feed(l, 1, 20ms);
  feed(l, 100, 39ms); // under twice the no-load latency
  CHECK(l.limit() == 32);
}

TEST_CASE("concurrency limit: it shrinks when latency rises", "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  feed(l, 100, 20ms);
  REQUIRE(l.limit() == 32);
  double last = l.exact_limit();
  // Four times the no-load latency: the gradient is at its floor of 0.5.
  for (int i = 0; i < 30; ++i) {
    l.on_sample(80ms, l.limit(), false);
    INFO("sample " << i);
    REQUIRE(l.exact_limit() < last);
    last = l.exact_limit();
  }
  feed(l, 200, 80ms);
  // limit x 0.5 + sqrt(limit) settles where limit / 2 = sqrt(limit): 4.
  CHECK(l.exact_limit() == Approx(4.0).margin(0.05));
}

TEST_CASE("concurrency limit: failures cut it by a tenth each", "[limiter]") {
  concurrency_limiter l{adaptive(2, 20), 32};
  l.on_sample(100ms, 20, true);
  CHECK(l.exact_limit() == Approx(18.0));
  l.on_sample(100ms, 20, true);
  CHECK(l.exact_limit() == Approx(16.2));
  CHECK(l.limit() == 16);
}

TEST_CASE("concurrency limit: never below min_limit nor above max_connections", "[limiter]") {
  // A floor above 4, where the gradient's own floor of 0.5 would settle the limit.
  concurrency_limiter l{adaptive(6, 10), 12};
  for (int i = 0; i < 100; ++i)
    l.on_sample(100ms, 10, true);
  CHECK(l.limit() == 6);
  CHECK(l.exact_limit() == Approx(6.0));
  feed(l, 1, 1ms);
  for (int i = 0; i < 300; ++i)
    l.on_sample(60000ms, 6, false); // as slow as it gets
  CHECK(l.exact_limit() == Approx(6.0));
  feed(l, 500, 1ms); // the fastest a reply can be, every period
  CHECK(l.limit() == 12);
}

TEST_CASE("concurrency limit: an idle upstream does not earn a higher limit", "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  for (int i = 0; i < 200; ++i)
    l.on_sample(10ms, 3, false); // 3 of 16 in use
  CHECK(l.limit() == 16);
  l.on_sample(10ms, 8, false); // half of it in use: growth is earned
  CHECK(l.exact_limit() > 16.0);
  feed(l, 200, 10ms);
  CHECK(l.limit() == 32);
}

TEST_CASE("concurrency limit: a lasting slow-down becomes the new no-load latency", "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  feed(l, 10, 10ms);
  feed(l, 100, 50ms); // five times slower: shrinks
  CHECK(l.limit() < 8);
  // After the periods that remembered 10 ms pass, 50 ms is no load and the limit regrows.
  feed(l, 2 * concurrency_limiter::samples_per_period, 50ms);
  feed(l, 100, 50ms);
  CHECK(l.limit() == 32);
}
