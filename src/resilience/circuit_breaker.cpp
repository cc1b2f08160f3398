#include "coffeeshop/resilience/circuit_breaker.hpp"

#include <algorithm>
#include <cstdio>

namespace coffeeshop {

namespace {

/// Settings are validated by the config loader; these floors only keep a
/// hand-built breaker from dividing by zero or never admitting a probe.
int threshold_of(const breaker_settings& s) { return std::max(1, s.failure_threshold); }

int max_probes_of(const breaker_settings& s) { return std::max(1, s.half_open_max_calls); }

millis break_of(const breaker_settings& s) {
  return millis{std::max<int64_t>(0, s.break_duration_ms)};
}

/// An upstream's Retry-After, clipped to max_break: it may stretch a break, never hold the
/// breaker for years, and the clip keeps `now + stretch` far from overflowing the clock.
std::optional<millis> stretch_of(const breaker_settings& s, std::optional<millis> retry_after) {
  if (!retry_after)
    return std::nullopt;
  const int64_t cap = std::max<int64_t>(max_break(s), s.break_duration_ms);
  return millis{std::clamp<int64_t>(retry_after->count(), 0, std::max<int64_t>(0, cap))};
}

std::string ratio_reason(double ratio, size_t calls) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "failure ratio %.2f over %zu calls", ratio, calls);
  return buf;
}

} // namespace

std::string_view to_string(circuit_state s) {
  switch (s) {
    case circuit_state::closed: return "closed";
    case circuit_state::half_open: return "half_open";
    case circuit_state::open: return "open";
  }
  return "closed";
}

std::optional<circuit_state> parse_circuit_state(std::string_view name) {
  for (auto s : {circuit_state::closed, circuit_state::half_open, circuit_state::open})
    if (name == to_string(s))
      return s;
  return std::nullopt;
}

const char* transition_event(circuit_state to) {
  switch (to) {
    case circuit_state::open: return "circuit_opened";
    case circuit_state::half_open: return "circuit_half_opened";
    case circuit_state::closed: return "circuit_closed";
  }
  return "circuit_closed";
}

int gauge_value(circuit_state s) {
  switch (s) {
    case circuit_state::closed: return 0;
    case circuit_state::half_open: return 1;
    case circuit_state::open: return 2;
  }
  return 0;
}

circuit_breaker::circuit_breaker(breaker_settings settings) : settings_(std::move(settings)) {}

admission circuit_breaker::try_acquire(time_point now) {
  admission result;
  if (isolated_) {
    result.retry_after = break_of(settings_);
    return result;
  }
  if (state_ == circuit_state::open) {
    if (now < open_until_) {
      result.retry_after = std::chrono::ceil<millis>(open_until_ - now);
      return result;
    }
    // The transition happens on the first ask after the break, not on a timer:
    // the breaker has no clock of its own.
    state_ = circuit_state::half_open;
    probes_in_flight_ = 0;
    result.transition = circuit_transition{circuit_state::open, circuit_state::half_open,
                                           "break elapsed"};
  }
  if (state_ == circuit_state::half_open) {
    // A probe whose reply never comes (owner restarted mid-call) would otherwise
    // wedge the breaker half-open forever.
    auto lost_at = last_probe_at_ + break_of(settings_);
    if (probes_in_flight_ >= max_probes_of(settings_) && now >= lost_at)
      probes_in_flight_ = 0;
    if (probes_in_flight_ >= max_probes_of(settings_)) {
      result.retry_after = std::max(millis{1}, std::chrono::ceil<millis>(lost_at - now));
      return result;
    }
    ++probes_in_flight_;
    last_probe_at_ = now;
    result.allowed = true;
    return result;
  }
  result.allowed = true;
  return result;
}

std::optional<circuit_transition> circuit_breaker::on_success(time_point now) {
  if (settings_.failure_ratio) {
    prune(now);
    window_.push_back(sample{now, false});
  }
  // Late replies of calls admitted before the breaker opened (or while it is
  // isolated) are recorded but move nothing: only a probe may close it.
  if (isolated_ || state_ == circuit_state::open)
    return std::nullopt;
  if (state_ == circuit_state::half_open) {
    state_ = circuit_state::closed;
    consecutive_failures_ = 0;
    probes_in_flight_ = 0;
    // A fresh start: failures from before the break must not re-trip it at once.
    window_.clear();
    return circuit_transition{circuit_state::half_open, circuit_state::closed, "probe succeeded"};
  }
  consecutive_failures_ = 0;
  return std::nullopt;
}

std::optional<circuit_transition> circuit_breaker::on_failure(time_point now,
                                                              std::optional<millis> retry_after) {
  if (settings_.failure_ratio) {
    prune(now);
    window_.push_back(sample{now, true});
  }
  if (isolated_)
    return std::nullopt;
  retry_after = stretch_of(settings_, retry_after);
  if (state_ == circuit_state::open) {
    // A late failure does not re-open (that would restart the break on every
    // straggler), but an upstream asking for a longer pause is honoured.
    if (retry_after && now + *retry_after > open_until_)
      open_until_ = now + *retry_after;
    return std::nullopt;
  }
  ++consecutive_failures_;
  if (state_ == circuit_state::half_open)
    return open(now, retry_after, "probe failed");

  int threshold = threshold_of(settings_);
  if (consecutive_failures_ >= threshold)
    return open(now, retry_after,
                std::to_string(consecutive_failures_) +
                  (consecutive_failures_ == 1 ? " consecutive failure" : " consecutive failures"));
  // The ratio is checked on failures only: opening right after a success would
  // surprise every caller, and the next failure re-checks anyway.
  if (settings_.failure_ratio) {
    size_t total = window_.size();
    size_t failed = static_cast<size_t>(
      std::count_if(window_.begin(), window_.end(), [](const sample& s) { return s.failed; }));
    if (total > 0 && total >= static_cast<size_t>(std::max(1, settings_.min_throughput))) {
      double ratio = static_cast<double>(failed) / static_cast<double>(total);
      if (ratio >= *settings_.failure_ratio)
        return open(now, retry_after, ratio_reason(ratio, total));
    }
  }
  return std::nullopt;
}

std::optional<circuit_transition> circuit_breaker::isolate(time_point now) {
  if (isolated_)
    return std::nullopt;
  isolated_ = true;
  auto from = state_;
  state_ = circuit_state::open;
  opened_at_ = now;
  probes_in_flight_ = 0;
  // Already open: the gauge does not change, so there is no transition to report;
  // isolated() tells the owner the breaker is now held.
  if (from == circuit_state::open)
    return std::nullopt;
  return circuit_transition{from, circuit_state::open, "isolated"};
}

std::optional<circuit_transition> circuit_breaker::reset(time_point) {
  auto from = state_;
  isolated_ = false;
  state_ = circuit_state::closed;
  consecutive_failures_ = 0;
  probes_in_flight_ = 0;
  window_.clear();
  if (from == circuit_state::closed)
    return std::nullopt;
  return circuit_transition{from, circuit_state::closed, "reset"};
}

circuit_state circuit_breaker::state(time_point now) const {
  if (isolated_)
    return circuit_state::open;
  if (state_ == circuit_state::open && now >= open_until_)
    return circuit_state::half_open;
  return state_;
}

millis circuit_breaker::remaining_open(time_point now) const {
  if (isolated_)
    return break_of(settings_);
  if (state_ != circuit_state::open || now >= open_until_)
    return millis{0};
  return std::chrono::ceil<millis>(open_until_ - now);
}

std::optional<time_point> circuit_breaker::opened_at() const {
  if (state_ != circuit_state::open)
    return std::nullopt;
  return opened_at_;
}

std::optional<circuit_transition>
circuit_breaker::open(time_point now, std::optional<millis> retry_after, std::string reason) {
  auto from = state_;
  millis hold = break_of(settings_);
  if (retry_after && *retry_after > hold)
    hold = *retry_after;
  state_ = circuit_state::open;
  opened_at_ = now;
  open_until_ = now + hold;
  probes_in_flight_ = 0;
  return circuit_transition{from, circuit_state::open, std::move(reason)};
}

breaker_snapshot circuit_breaker::snapshot(time_point now, int64_t epoch_now_ms) const {
  auto to_epoch = [&](time_point t) {
    return epoch_now_ms + std::chrono::duration_cast<millis>(t - now).count();
  };
  breaker_snapshot snap;
  snap.state = state(now);
  snap.isolated = isolated_;
  snap.consecutive_failures = consecutive_failures_;
  if (state_ == circuit_state::open) {
    snap.opened_at_ms = to_epoch(opened_at_);
    if (!isolated_)
      snap.open_until_ms = to_epoch(open_until_);
  }
  return snap;
}

circuit_breaker circuit_breaker::restore(const breaker_settings& settings,
                                         const breaker_snapshot& snap, time_point now,
                                         int64_t epoch_now_ms) {
  // Clamped below: a wall clock that stepped between the two processes must
  // not put an opening in the future, nor leave more of a break than its
  // whole length, nor less than nothing.
  auto from_epoch = [&](int64_t ms) { return now + millis{ms - epoch_now_ms}; };
  circuit_breaker b(settings);
  b.consecutive_failures_ = std::max(0, snap.consecutive_failures);
  const bool open = snap.isolated || snap.state != circuit_state::closed;
  if (!open)
    return b;
  b.state_ = circuit_state::open;
  b.isolated_ = snap.isolated;
  b.opened_at_ = snap.opened_at_ms ? std::min(now, from_epoch(*snap.opened_at_ms)) : now;
  // Half-open, or open without a recorded end: the break is over, so the
  // first try_acquire moves to half-open and admits a probe.
  b.open_until_ = now;
  if (snap.state == circuit_state::open && snap.open_until_ms) {
    int64_t rest_ms = *snap.open_until_ms - epoch_now_ms;
    if (snap.opened_at_ms)
      rest_ms = std::min(rest_ms, *snap.open_until_ms - *snap.opened_at_ms);
    b.open_until_ = now + millis{std::max<int64_t>(0, rest_ms)};
  }
  return b;
}

void circuit_breaker::prune(time_point now) {
  // A sample is inside the window while it is younger than sampling_window_ms.
  auto horizon = now - millis{std::max<int64_t>(0, settings_.sampling_window_ms)};
  while (!window_.empty() && window_.front().at <= horizon)
    window_.pop_front();
}

} // namespace coffeeshop
