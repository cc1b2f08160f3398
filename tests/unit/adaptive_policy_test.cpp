// The retry budget and the adaptive concurrency limiter, on injected time.

#include "coffeeshop/resilience/concurrency_limiter.hpp"
#include "coffeeshop/resilience/retry_budget.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

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
    l.on_sample(latency, l.limit(), limiter_sample::latency);
}

/// A deterministic pseudo-random sequence in [0, 1) (a 64-bit LCG's high bits), the same on
/// every platform, unlike the standard distributions.
struct lcg {
  uint64_t state;
  double next() {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / static_cast<double>(1ULL << 53);
  }
};

/// One upstream attempt as a simulated upstream answers it.
struct simulated_answer {
  millis latency;
  bool failed; // an error answer (a 500), not a drop
};

struct drive_result {
  int lowest_late = 1 << 30; // the lowest limit over the second half of the completions
  int final_limit = 0;
  int refused = 0;
};

/// `demand` callers each keep one attempt out whenever the limit lets them: the attempts
/// end in the order of their latencies on a virtual clock, each ended one is fed to the
/// limiter (with the attempts in flight, itself included, as call_engine does) and its
/// caller tries again at once; a caller over the limit is refused (on_refused) until the
/// next completion. `answer(in_flight)` gives the latency and the outcome of an attempt
/// that starts with `in_flight` out, itself included.
template <class Answer>
drive_result drive(concurrency_limiter& l, int demand, int completions, Answer answer) {
  struct out_attempt {
    double ends_ms;
    simulated_answer a;
  };
  std::vector<out_attempt> out;
  double now = 0;
  drive_result r;
  auto fill = [&] {
    while (static_cast<int>(out.size()) < demand) {
      if (static_cast<int>(out.size()) >= l.limit()) {
        l.on_refused();
        ++r.refused;
        return;
      }
      auto a = answer(static_cast<int>(out.size()) + 1);
      out.push_back({now + static_cast<double>(a.latency.count()), a});
    }
  };
  fill();
  for (int i = 0; i < completions; ++i) {
    auto first = std::min_element(out.begin(), out.end(), [](const auto& x, const auto& y) {
      return x.ends_ms < y.ends_ms;
    });
    auto done = *first;
    out.erase(first);
    now = done.ends_ms;
    l.on_sample(done.a.latency, static_cast<int>(out.size()) + 1,
                done.a.failed ? limiter_sample::error : limiter_sample::latency);
    if (i >= completions / 2)
      r.lowest_late = std::min(r.lowest_late, l.limit());
    fill();
  }
  r.final_limit = l.limit();
  return r;
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
    l.on_sample(5000ms, 32, limiter_sample::drop);
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
  // Until a whole window of answers is slow, the fast one among them says the upstream can
  // still answer at its no-load latency: slow answers beside it are spread, not load.
  feed(l, concurrency_limiter::recent_samples - 1, 80ms);
  CHECK(l.exact_limit() == Approx(32.0));
  double last = l.exact_limit();
  // Then even the fastest is four times the no-load latency: the gradient is at its floor.
  for (int i = 0; i < 30; ++i) {
    l.on_sample(80ms, l.limit(), limiter_sample::latency);
    INFO("sample " << i);
    REQUIRE(l.exact_limit() < last);
    last = l.exact_limit();
  }
  feed(l, 200, 80ms);
  // limit x 0.5 + sqrt(limit) settles where limit / 2 = sqrt(limit): 4.
  CHECK(l.exact_limit() == Approx(4.0).margin(0.05));
}

TEST_CASE("concurrency limit: a drop cuts it by a tenth, once per limit's worth of attempts",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 20), 32};
  l.on_sample(5000ms, 20, limiter_sample::drop);
  CHECK(l.exact_limit() == Approx(18.0));
  // The attempts that were out with it time out with it: one signal, one cut.
  for (int i = 0; i < 17; ++i)
    l.on_sample(5000ms, 20, limiter_sample::drop);
  CHECK(l.exact_limit() == Approx(18.0));
  l.on_sample(5000ms, 20, limiter_sample::drop); // the 18th attempt since the cut
  CHECK(l.exact_limit() == Approx(16.2));
  CHECK(l.limit() == 16);
}

TEST_CASE("concurrency limit: an error answer neither cuts it nor counts as latency",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 20), 32};
  feed(l, 1, 100ms);
  double before = l.exact_limit();
  for (int i = 0; i < 100; ++i)
    l.on_sample(i % 2 ? 1ms : 5000ms, 20, limiter_sample::error); // fast or slow, a 500
  CHECK(l.exact_limit() == Approx(before));
  CHECK(l.recent_latency_ms() == Approx(100.0));
  CHECK(l.no_load_latency_ms() == Approx(100.0));
}

TEST_CASE("concurrency limit: never below min_limit nor above max_connections", "[limiter]") {
  // A floor above 4, where the gradient's own floor of 0.5 would settle the limit.
  concurrency_limiter l{adaptive(6, 10), 12};
  for (int i = 0; i < 100; ++i)
    l.on_sample(100ms, 10, limiter_sample::drop);
  CHECK(l.limit() == 6);
  CHECK(l.exact_limit() == Approx(6.0));
  feed(l, 1, 1ms);
  for (int i = 0; i < 300; ++i)
    l.on_sample(60000ms, 6, limiter_sample::latency); // as slow as it gets
  CHECK(l.exact_limit() == Approx(6.0));
  feed(l, 500, 1ms); // the fastest a reply can be, every period
  CHECK(l.limit() == 12);
}

TEST_CASE("concurrency limit: an idle upstream does not earn a higher limit", "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  for (int i = 0; i < 200; ++i)
    l.on_sample(10ms, 3, limiter_sample::latency); // 3 of 16 in use
  CHECK(l.limit() == 16);
  l.on_sample(10ms, 8, limiter_sample::latency); // half of it in use: growth is earned
  CHECK(l.exact_limit() > 16.0);
  feed(l, 200, 10ms);
  CHECK(l.limit() == 32);
}

TEST_CASE("concurrency limit: attempts refused over it are demand that lets it grow",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  feed(l, 1, 10ms);
  double before = l.exact_limit();
  l.on_sample(10ms, 3, limiter_sample::latency); // 3 of 16 in use: no proof it needs more
  CHECK(l.exact_limit() == Approx(before));
  l.on_refused(); // but a caller wanted a 17th
  l.on_sample(10ms, 3, limiter_sample::latency);
  CHECK(l.exact_limit() > before);
  before = l.exact_limit();
  l.on_sample(10ms, 3, limiter_sample::latency); // a refusal counts once
  CHECK(l.exact_limit() == Approx(before));
}

// Issue 15, bench row (g): a payment service failing 30 % of its calls with 500 and taking
// 50-300 ms whatever the load, driven by 64 concurrent callers with max_connections 64. The
// limiter used to cut the limit by a tenth on every failure and to read every answer slower
// than twice the fastest one (most of them) as overload, so the limit fell to min_limit (2):
// a 30 % failing service became a 94 % outage (41 505 answers 503 overloaded, 14 paid
// orders/s against 221 with the limiter off). Nothing here depends on the load, so there is
// nothing for a limit to protect: it must stay at least half of max_connections (32)
// throughout the second half. Driven the same way, the old limiter's lowest limit over the
// second half was 2 (and 7 at the end), with every refill refused (20 001 refusals).
TEST_CASE("concurrency limit: a 30 % failing upstream with load-independent 50-300 ms "
          "latency keeps its concurrency",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 64};
  lcg rng{15};
  auto r = drive(l, 64, 20000, [&](int) {
    auto latency = millis{50 + static_cast<int64_t>(rng.next() * 251)};
    return simulated_answer{latency, rng.next() < 0.3};
  });
  INFO("lowest limit late " << r.lowest_late << ", final " << r.final_limit << ", "
                            << r.refused << " refused");
  CHECK(r.lowest_late >= 32);
  CHECK(r.final_limit >= 32);
  // Refusals only while it grows from initial_limit (the old one refused at every refill).
  CHECK(r.refused < 20000 / 20);
}

// The counterpart: the same spread, but each attempt also waits 10 ms for every other one
// in flight (the simulator's "slow" profile), so more concurrency only adds latency. Over
// the first two periods (while the no-load latency it saw first is remembered) the limit
// must come down well below max_connections.
TEST_CASE("concurrency limit: latency that climbs with the load keeps it well below "
          "max_connections",
          "[limiter]") {
  concurrency_limiter l{adaptive(2, 16), 32};
  lcg rng{7};
  auto r = drive(l, 48, 2 * concurrency_limiter::samples_per_period, [&](int in_flight) {
    auto spread = static_cast<int64_t>(rng.next() * 51);
    return simulated_answer{millis{50 + spread + 10 * (in_flight - 1)}, false};
  });
  INFO("final limit " << r.final_limit << ", lowest late " << r.lowest_late);
  CHECK(r.final_limit <= 16);
  CHECK(r.refused > 0);
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
