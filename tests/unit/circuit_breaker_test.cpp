#include "coffeeshop/resilience/circuit_breaker.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

/// A fixed origin far from the clock's epoch, so "now - window" never underflows.
const time_point t0 = time_point{} + 1000h;

breaker_settings consecutive(int threshold, int64_t break_ms = 30000, int probes = 1) {
  breaker_settings s;
  s.failure_threshold = threshold;
  s.break_duration_ms = break_ms;
  s.half_open_max_calls = probes;
  return s;
}

/// Ratio mode with the consecutive rule effectively off, so only the ratio can trip.
breaker_settings ratio(double r, int min_throughput, int64_t window_ms = 10000) {
  breaker_settings s;
  s.failure_threshold = 1000;
  s.failure_ratio = r;
  s.min_throughput = min_throughput;
  s.sampling_window_ms = window_ms;
  return s;
}

/// Drives a closed breaker into open with `threshold` failures at `at`.
void trip(circuit_breaker& cb, time_point at) {
  std::optional<circuit_transition> t;
  for (int i = 0; i < cb.settings().failure_threshold; ++i) {
    REQUIRE(cb.try_acquire(at).allowed);
    t = cb.on_failure(at);
  }
  REQUIRE(t);
  REQUIRE(t->to == circuit_state::open);
}

} // namespace

TEST_CASE("circuit_breaker: names and gauge values", "[circuit_breaker]") {
  CHECK(to_string(circuit_state::closed) == "closed");
  CHECK(to_string(circuit_state::half_open) == "half_open");
  CHECK(to_string(circuit_state::open) == "open");
  CHECK(gauge_value(circuit_state::closed) == 0);
  CHECK(gauge_value(circuit_state::half_open) == 1);
  CHECK(gauge_value(circuit_state::open) == 2);
}

TEST_CASE("circuit_breaker: a new breaker is closed and admits calls", "[circuit_breaker]") {
  circuit_breaker cb;
  CHECK(cb.state(t0) == circuit_state::closed);
  auto a = cb.try_acquire(t0);
  CHECK(a.allowed);
  CHECK_FALSE(a.transition);
  CHECK_FALSE(cb.opened_at());
  CHECK(cb.remaining_open(t0) == 0ms);
}

TEST_CASE("circuit_breaker: threshold 1 opens on the first failure", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1)};
  REQUIRE(cb.try_acquire(t0).allowed);
  auto t = cb.on_failure(t0);
  REQUIRE(t);
  CHECK(t->from == circuit_state::closed);
  CHECK(t->to == circuit_state::open);
  CHECK(t->reason == "1 consecutive failure");
  CHECK(cb.state(t0) == circuit_state::open);
  CHECK_FALSE(cb.try_acquire(t0).allowed);
}

TEST_CASE("circuit_breaker: threshold 3 opens on the 3rd consecutive failure, not the 2nd",
          "[circuit_breaker]") {
  circuit_breaker cb{consecutive(3)};
  CHECK_FALSE(cb.on_failure(t0));
  CHECK(cb.consecutive_failures() == 1);
  CHECK_FALSE(cb.on_failure(t0 + 1ms));
  CHECK(cb.consecutive_failures() == 2);
  CHECK(cb.state(t0 + 1ms) == circuit_state::closed);
  CHECK(cb.try_acquire(t0 + 1ms).allowed);
  auto t = cb.on_failure(t0 + 2ms);
  REQUIRE(t);
  CHECK(t->to == circuit_state::open);
  CHECK(t->reason == "3 consecutive failures");
  CHECK(cb.state(t0 + 2ms) == circuit_state::open);
  REQUIRE(cb.opened_at());
  CHECK(*cb.opened_at() == t0 + 2ms);
}

TEST_CASE("circuit_breaker: a success in between resets the count", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(3)};
  cb.on_failure(t0);
  cb.on_failure(t0);
  CHECK_FALSE(cb.on_success(t0));
  CHECK(cb.consecutive_failures() == 0);
  CHECK_FALSE(cb.on_failure(t0));
  CHECK_FALSE(cb.on_failure(t0));
  CHECK(cb.state(t0) == circuit_state::closed);
  CHECK(cb.on_failure(t0));
}

TEST_CASE("circuit_breaker: open rejects with the remaining time, decreasing",
          "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 30000)};
  trip(cb, t0);
  auto a = cb.try_acquire(t0);
  CHECK_FALSE(a.allowed);
  CHECK(a.retry_after == 30000ms);
  CHECK_FALSE(a.transition);
  auto b = cb.try_acquire(t0 + 10s);
  CHECK_FALSE(b.allowed);
  CHECK(b.retry_after == 20000ms);
  auto c = cb.try_acquire(t0 + 29999ms);
  CHECK_FALSE(c.allowed);
  CHECK(c.retry_after == 1ms);
  CHECK(cb.remaining_open(t0 + 25s) == 5000ms);
  // Asking while open must not move the breaker.
  CHECK(cb.state(t0 + 29999ms) == circuit_state::open);
}

TEST_CASE("circuit_breaker: the break ends exactly at open_until", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 30000)};
  trip(cb, t0);
  const time_point until = t0 + 30000ms;

  SECTION("one millisecond before: still open") {
    CHECK(cb.state(until - 1ms) == circuit_state::open);
    auto a = cb.try_acquire(until - 1ms);
    CHECK_FALSE(a.allowed);
    CHECK_FALSE(a.transition);
  }
  SECTION("at the boundary: half-open, reported once") {
    // state() is const: it reads half-open before anyone asks.
    CHECK(cb.state(until) == circuit_state::half_open);
    auto a = cb.try_acquire(until);
    CHECK(a.allowed);
    REQUIRE(a.transition);
    CHECK(a.transition->from == circuit_state::open);
    CHECK(a.transition->to == circuit_state::half_open);
    CHECK(a.transition->reason == "break elapsed");
    CHECK(cb.state(until) == circuit_state::half_open);
    CHECK_FALSE(cb.opened_at());
  }
}

TEST_CASE("circuit_breaker: half-open admits exactly half_open_max_calls probes",
          "[circuit_breaker]") {
  const int probes = GENERATE(1, 3);
  circuit_breaker cb{consecutive(1, 1000, probes)};
  trip(cb, t0);
  const time_point later = t0 + 1s;
  for (int i = 0; i < probes; ++i) {
    auto a = cb.try_acquire(later);
    CHECK(a.allowed);
    CHECK(a.transition.has_value() == (i == 0));
  }
  auto extra = cb.try_acquire(later);
  CHECK_FALSE(extra.allowed);
  CHECK_FALSE(extra.transition);
  // Documented: a rejected probe waits until the outstanding ones count as lost.
  CHECK(extra.retry_after == 1000ms);
  CHECK(cb.state(later) == circuit_state::half_open);

  SECTION("probes that never report are presumed lost after a break") {
    CHECK_FALSE(cb.try_acquire(later + 999ms).allowed);
    CHECK(cb.try_acquire(later + 1000ms).allowed);
  }
}

TEST_CASE("circuit_breaker: a successful probe closes", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(2, 5000)};
  trip(cb, t0);
  REQUIRE(cb.try_acquire(t0 + 5s).allowed);
  auto t = cb.on_success(t0 + 5s + 100ms);
  REQUIRE(t);
  CHECK(t->from == circuit_state::half_open);
  CHECK(t->to == circuit_state::closed);
  CHECK(t->reason == "probe succeeded");
  CHECK(cb.state(t0 + 6s) == circuit_state::closed);
  CHECK(cb.consecutive_failures() == 0);
  // Closed again with a fresh count: one failure is not enough.
  CHECK_FALSE(cb.on_failure(t0 + 6s));
  CHECK(cb.try_acquire(t0 + 6s).allowed);
}

TEST_CASE("circuit_breaker: a failed probe re-opens for a full new break", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 5000)};
  trip(cb, t0);
  const time_point probe_at = t0 + 5s;
  REQUIRE(cb.try_acquire(probe_at).allowed);
  const time_point failed_at = probe_at + 200ms;
  auto t = cb.on_failure(failed_at);
  REQUIRE(t);
  CHECK(t->from == circuit_state::half_open);
  CHECK(t->to == circuit_state::open);
  CHECK(t->reason == "probe failed");
  REQUIRE(cb.opened_at());
  CHECK(*cb.opened_at() == failed_at);
  auto a = cb.try_acquire(failed_at);
  CHECK_FALSE(a.allowed);
  CHECK(a.retry_after == 5000ms);
  CHECK(cb.state(failed_at + 4999ms) == circuit_state::open);
  CHECK(cb.state(failed_at + 5000ms) == circuit_state::half_open);
}

TEST_CASE("circuit_breaker: Retry-After stretches the break", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 5000)};

  SECTION("longer than the break: honoured") {
    REQUIRE(cb.on_failure(t0, 20000ms));
    CHECK(cb.remaining_open(t0) == 20000ms);
    CHECK(cb.try_acquire(t0 + 19s).retry_after == 1000ms);
    CHECK(cb.state(t0 + 19999ms) == circuit_state::open);
    CHECK(cb.state(t0 + 20s) == circuit_state::half_open);
  }
  SECTION("shorter than the break: the break wins") {
    REQUIRE(cb.on_failure(t0, 1000ms));
    CHECK(cb.remaining_open(t0) == 5000ms);
  }
  SECTION("a failed probe with Retry-After") {
    trip(cb, t0);
    REQUIRE(cb.try_acquire(t0 + 5s).allowed);
    REQUIRE(cb.on_failure(t0 + 5s, 20000ms));
    CHECK(cb.remaining_open(t0 + 5s) == 20000ms);
  }
  SECTION("a late failure while open extends but does not re-open") {
    trip(cb, t0);
    CHECK_FALSE(cb.on_failure(t0 + 1s, 20000ms));
    REQUIRE(cb.opened_at());
    CHECK(*cb.opened_at() == t0);
    CHECK(cb.remaining_open(t0 + 1s) == 20000ms);
  }
}

TEST_CASE("circuit_breaker: Retry-After stretches at most to max_break_ms, 5 breaks by default",
          "[circuit_breaker]") {
  // 10^9 s held the breaker open for ~31.7 years; INT64_MAX ms overflowed the clock and sent
  // it straight to half-open.
  const millis absurd[] = {millis{1'000'000'000'000}, millis{99'999'999'999'000},
                           millis{std::numeric_limits<int64_t>::max()}};
  for (auto stretch : absurd) {
    INFO(stretch.count());
    SECTION("default cap, opening") {
      circuit_breaker cb{consecutive(1, 5000)};
      REQUIRE(cb.on_failure(t0, stretch));
      CHECK(cb.remaining_open(t0) == 25000ms);
      CHECK(cb.state(t0 + 24999ms) == circuit_state::open);
      CHECK(cb.state(t0 + 25s) == circuit_state::half_open);
      CHECK(cb.try_acquire(t0).retry_after == 25000ms);
    }
    SECTION("set cap, while open") {
      auto s = consecutive(1, 5000);
      s.max_break_ms = 8000;
      circuit_breaker cb{s};
      trip(cb, t0);
      CHECK_FALSE(cb.on_failure(t0 + 1s, stretch));
      CHECK(cb.remaining_open(t0 + 1s) == 8000ms);
      CHECK(cb.state(t0 + 1s) == circuit_state::open);
    }
  }
}

TEST_CASE("circuit_breaker: a cap below the break does not shorten it", "[circuit_breaker]") {
  auto s = consecutive(1, 5000);
  s.max_break_ms = 1000;
  circuit_breaker cb{s};
  REQUIRE(cb.on_failure(t0, 60000ms));
  CHECK(cb.remaining_open(t0) == 5000ms);
}

TEST_CASE("circuit_breaker: late replies while open do not transition", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 5000)};
  trip(cb, t0);
  CHECK_FALSE(cb.on_success(t0 + 1s));
  CHECK(cb.state(t0 + 1s) == circuit_state::open);
  CHECK_FALSE(cb.on_failure(t0 + 2s));
  REQUIRE(cb.opened_at());
  CHECK(*cb.opened_at() == t0); // the break was not restarted
  CHECK(cb.remaining_open(t0 + 2s) == 3000ms);
  // Even after the break elapsed, only an admitted probe's reply may close it.
  CHECK_FALSE(cb.on_success(t0 + 6s));
  CHECK(cb.state(t0 + 6s) == circuit_state::half_open);
  CHECK(cb.try_acquire(t0 + 6s).transition);
}

TEST_CASE("circuit_breaker: isolate holds it open until reset", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(3, 5000)};
  auto t = cb.isolate(t0);
  REQUIRE(t);
  CHECK(t->from == circuit_state::closed);
  CHECK(t->to == circuit_state::open);
  CHECK(cb.isolated());
  CHECK_FALSE(cb.isolate(t0)); // idempotent

  for (auto later : {t0, t0 + 5s, t0 + 1h}) {
    auto a = cb.try_acquire(later);
    CHECK_FALSE(a.allowed);
    CHECK_FALSE(a.transition);
    CHECK(a.retry_after == 5000ms);
    CHECK(cb.remaining_open(later) == a.retry_after);
    CHECK(cb.state(later) == circuit_state::open);
  }
  CHECK_FALSE(cb.on_success(t0 + 1h));
  CHECK_FALSE(cb.on_failure(t0 + 1h));
  CHECK(cb.state(t0 + 1h) == circuit_state::open);

  auto r = cb.reset(t0 + 2h);
  REQUIRE(r);
  CHECK(r->from == circuit_state::open);
  CHECK(r->to == circuit_state::closed);
  CHECK_FALSE(cb.isolated());
  CHECK(cb.try_acquire(t0 + 2h).allowed);
  CHECK_FALSE(cb.reset(t0 + 2h)); // already closed
}

TEST_CASE("circuit_breaker: isolating an open breaker reports no transition", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 5000)};
  trip(cb, t0);
  CHECK_FALSE(cb.isolate(t0 + 1s));
  CHECK(cb.isolated());
  CHECK_FALSE(cb.try_acquire(t0 + 10s).allowed);
}

TEST_CASE("circuit_breaker: reset clears counts and the window", "[circuit_breaker]") {
  SECTION("consecutive count") {
    circuit_breaker cb{consecutive(3)};
    cb.on_failure(t0);
    cb.on_failure(t0);
    CHECK_FALSE(cb.reset(t0));
    CHECK(cb.consecutive_failures() == 0);
    CHECK_FALSE(cb.on_failure(t0));
    CHECK_FALSE(cb.on_failure(t0));
  }
  SECTION("from open") {
    circuit_breaker cb{consecutive(1)};
    trip(cb, t0);
    auto r = cb.reset(t0 + 1s);
    REQUIRE(r);
    CHECK(r->reason == "reset");
    CHECK(cb.state(t0 + 1s) == circuit_state::closed);
    CHECK(cb.try_acquire(t0 + 1s).allowed);
  }
  SECTION("ratio window") {
    circuit_breaker cb{ratio(0.5, 4)};
    for (int i = 0; i < 3; ++i)
      CHECK_FALSE(cb.on_failure(t0));
    cb.reset(t0);
    // Without the reset, 4 failures of 4 would open here.
    CHECK_FALSE(cb.on_failure(t0));
  }
}

TEST_CASE("circuit_breaker: ratio mode below min_throughput never opens", "[circuit_breaker]") {
  circuit_breaker cb{ratio(0.5, 10)};
  for (int i = 0; i < 9; ++i)
    CHECK_FALSE(cb.on_failure(t0 + std::chrono::milliseconds{i}));
  CHECK(cb.state(t0 + 9ms) == circuit_state::closed);
  // The 10th call reaches min_throughput.
  auto t = cb.on_failure(t0 + 9ms);
  REQUIRE(t);
  CHECK(t->reason == "failure ratio 1.00 over 10 calls");
}

TEST_CASE("circuit_breaker: ratio mode opens at the ratio, not below", "[circuit_breaker]") {
  circuit_breaker cb{ratio(0.6, 10)};
  // 4 successes then failures: 5/9 < 0.6 below throughput; 5/10 = 0.5 < 0.6.
  for (int i = 0; i < 4; ++i)
    cb.on_success(t0);
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(cb.on_failure(t0));
  cb.on_success(t0);
  CHECK_FALSE(cb.on_failure(t0)); // 6/11 = 0.545
  auto t = cb.on_failure(t0);     // 7/12 = 0.583
  CHECK_FALSE(t);
  t = cb.on_failure(t0); // 8/13 = 0.615
  REQUIRE(t);
  CHECK(t->from == circuit_state::closed);
  CHECK(t->to == circuit_state::open);
  CHECK(t->reason == "failure ratio 0.62 over 13 calls");
}

TEST_CASE("circuit_breaker: ratio exactly equal opens", "[circuit_breaker]") {
  circuit_breaker cb{ratio(0.6, 10)};
  for (int i = 0; i < 4; ++i)
    cb.on_success(t0);
  for (int i = 0; i < 5; ++i)
    CHECK_FALSE(cb.on_failure(t0));
  auto t = cb.on_failure(t0); // 6/10
  REQUIRE(t);
  CHECK(t->reason == "failure ratio 0.60 over 10 calls");
}

TEST_CASE("circuit_breaker: a sliding window forgets old failures", "[circuit_breaker]") {
  circuit_breaker cb{ratio(0.5, 4, 10000)};
  // Three failures early in the window...
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(cb.on_failure(t0));
  // ...slide out once 10 s have passed; the samples at t0 are then outside.
  for (int i = 0; i < 3; ++i)
    cb.on_success(t0 + 10s);
  // In the window: 3 successes + this failure = 1/4 < 0.5. Without pruning it
  // would be 4/7 and open.
  CHECK_FALSE(cb.on_failure(t0 + 10s));
  CHECK(cb.state(t0 + 10s) == circuit_state::closed);

  SECTION("samples one millisecond younger than the window still count") {
    circuit_breaker young{ratio(0.5, 4, 10000)};
    for (int i = 0; i < 3; ++i)
      young.on_failure(t0 + 1ms);
    for (int i = 0; i < 3; ++i)
      young.on_success(t0 + 10s);
    CHECK(young.on_failure(t0 + 10s)); // 4/7
  }
}

TEST_CASE("circuit_breaker: consecutive rule still applies in ratio mode", "[circuit_breaker]") {
  auto s = ratio(0.9, 100);
  s.failure_threshold = 3;
  circuit_breaker cb{s};
  cb.on_failure(t0);
  cb.on_failure(t0);
  auto t = cb.on_failure(t0);
  REQUIRE(t);
  CHECK(t->reason == "3 consecutive failures");
}

TEST_CASE("circuit_breaker: copies keep state", "[circuit_breaker]") {
  circuit_breaker cb{consecutive(1, 5000)};
  trip(cb, t0);
  circuit_breaker copy = cb;
  CHECK(copy.state(t0 + 1s) == circuit_state::open);
  CHECK(copy.remaining_open(t0 + 1s) == 4000ms);
}

TEST_CASE("circuit_breaker: closing after a probe starts a fresh ratio window",
          "[circuit_breaker]") {
  auto s = ratio(0.5, 4, 60000);
  s.break_duration_ms = 1000;
  circuit_breaker cb{s};
  for (int i = 0; i < 3; ++i)
    CHECK_FALSE(cb.on_failure(t0));
  REQUIRE(cb.on_failure(t0)); // 4/4
  REQUIRE(cb.try_acquire(t0 + 1s).allowed);
  REQUIRE(cb.on_success(t0 + 1s));
  // The old failures are still inside the 60 s window; had they been kept,
  // 3 successes + 1 failure would read 5/8 and re-open at once.
  for (int i = 0; i < 3; ++i)
    cb.on_success(t0 + 2s);
  CHECK_FALSE(cb.on_failure(t0 + 2s));
  CHECK(cb.state(t0 + 2s) == circuit_state::closed);
}

// -- snapshot and restore across processes ------------------------------------

namespace {

/// The old process's clocks and the new one's: the steady clocks share
/// nothing, only the epoch readings relate the two.
const int64_t epoch_old = 1795514130000;
const time_point t_new = time_point{} + 5h;

} // namespace

TEST_CASE("breaker snapshot: closed keeps its failure count", "[circuit_breaker][store]") {
  circuit_breaker cb(consecutive(3));
  cb.on_failure(t0);
  cb.on_failure(t0);
  auto snap = cb.snapshot(t0, epoch_old);
  CHECK(snap.state == circuit_state::closed);
  CHECK_FALSE(snap.isolated);
  CHECK(snap.consecutive_failures == 2);
  CHECK_FALSE(snap.opened_at_ms);
  CHECK_FALSE(snap.open_until_ms);

  auto back = circuit_breaker::restore(consecutive(3), snap, t_new, epoch_old + 60000);
  CHECK(back.state(t_new) == circuit_state::closed);
  CHECK(back.consecutive_failures() == 2);
  // One more failure is the third: it opens.
  auto t = back.on_failure(t_new);
  REQUIRE(t);
  CHECK(t->to == circuit_state::open);
}

TEST_CASE("breaker snapshot: open keeps only the rest of its break", "[circuit_breaker][store]") {
  circuit_breaker cb(consecutive(1, 30000));
  trip(cb, t0);
  // Snapshot 10 s into the 30 s break.
  auto snap = cb.snapshot(t0 + 10s, epoch_old + 10000);
  CHECK(snap.state == circuit_state::open);
  CHECK(snap.opened_at_ms == epoch_old);
  CHECK(snap.open_until_ms == epoch_old + 30000);
  CHECK(snap.consecutive_failures == 1);

  SECTION("restarted 5 s later: 15 s of break left") {
    auto back = circuit_breaker::restore(consecutive(1, 30000), snap, t_new, epoch_old + 15000);
    CHECK(back.state(t_new) == circuit_state::open);
    CHECK(back.remaining_open(t_new) == 15s);
    CHECK(back.opened_at() == t_new - 15s);
    auto a = back.try_acquire(t_new + 14s);
    CHECK_FALSE(a.allowed);
    CHECK(a.retry_after == 1s);
    auto probe = back.try_acquire(t_new + 15s);
    CHECK(probe.allowed);
    REQUIRE(probe.transition);
    CHECK(probe.transition->to == circuit_state::half_open);
  }
  SECTION("restarted after the break: the next call is a probe") {
    auto back = circuit_breaker::restore(consecutive(1, 30000), snap, t_new, epoch_old + 90000);
    CHECK(back.state(t_new) == circuit_state::half_open);
    CHECK(back.remaining_open(t_new) == 0ms);
    CHECK(back.try_acquire(t_new).allowed);
    CHECK_FALSE(back.try_acquire(t_new).allowed); // one probe at a time
  }
  SECTION("a wall clock stepped back does not lengthen the break") {
    auto back = circuit_breaker::restore(consecutive(1, 30000), snap, t_new, epoch_old - 3600000);
    CHECK(back.remaining_open(t_new) <= 30s);
    CHECK(back.opened_at() <= t_new);
  }
}

TEST_CASE("breaker snapshot: half-open restores as open with the break elapsed",
          "[circuit_breaker][store]") {
  circuit_breaker cb(consecutive(1, 30000));
  trip(cb, t0);
  REQUIRE(cb.try_acquire(t0 + 30s).allowed); // the probe, in flight when the process dies
  auto snap = cb.snapshot(t0 + 31s, epoch_old + 31000);
  CHECK(snap.state == circuit_state::half_open);
  CHECK_FALSE(snap.open_until_ms);

  auto back = circuit_breaker::restore(consecutive(1, 30000), snap, t_new, epoch_old + 40000);
  CHECK(back.state(t_new) == circuit_state::half_open);
  // The dead process's probe is not counted: a new probe goes at once.
  auto probe = back.try_acquire(t_new);
  CHECK(probe.allowed);
  REQUIRE(probe.transition);
  CHECK(probe.transition->from == circuit_state::open);
  CHECK(back.on_success(t_new)->to == circuit_state::closed);
}

TEST_CASE("breaker snapshot: an open breaker whose break elapsed reads half-open",
          "[circuit_breaker][store]") {
  circuit_breaker cb(consecutive(1, 30000));
  trip(cb, t0);
  auto snap = cb.snapshot(t0 + 45s, epoch_old + 45000);
  CHECK(snap.state == circuit_state::half_open);
  auto back = circuit_breaker::restore(consecutive(1, 30000), snap, t_new, epoch_old + 46000);
  CHECK(back.try_acquire(t_new).allowed);
}

TEST_CASE("breaker snapshot: isolated stays isolated", "[circuit_breaker][store]") {
  circuit_breaker cb(consecutive(3, 30000));
  cb.isolate(t0);
  auto snap = cb.snapshot(t0 + 1h, epoch_old + 3600000);
  CHECK(snap.isolated);
  CHECK(snap.state == circuit_state::open);
  CHECK(snap.opened_at_ms == epoch_old);
  CHECK_FALSE(snap.open_until_ms);

  // Long after any break would have elapsed.
  auto back = circuit_breaker::restore(consecutive(3, 30000), snap, t_new, epoch_old + 86400000);
  CHECK(back.isolated());
  CHECK(back.state(t_new + 1h) == circuit_state::open);
  CHECK_FALSE(back.try_acquire(t_new + 1h).allowed);
  REQUIRE(back.reset(t_new));
  CHECK(back.try_acquire(t_new).allowed);
}
