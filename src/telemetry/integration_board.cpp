#include "coffeeshop/telemetry/integration_board.hpp"

#include "coffeeshop/util/clock.hpp"

namespace coffeeshop {

const char* to_string(service_kind kind) {
  return kind == service_kind::payment ? "payment" : "notification";
}

std::optional<service_kind> parse_service_kind(std::string_view name) {
  if (name == "payment")
    return service_kind::payment;
  if (name == "notification")
    return service_kind::notification;
  return std::nullopt;
}

integration_board::integration_board(const breaker_settings& payment,
                                     const breaker_settings& notification) {
  services_[0].breaker = circuit_breaker{payment};
  services_[1].breaker = circuit_breaker{notification};
}

void integration_board::report_breaker(service_kind s, const circuit_breaker& b,
                                       std::optional<int64_t> opened_at_ms) {
  std::lock_guard guard{mtx_};
  auto& st = services_[static_cast<size_t>(s)];
  st.breaker = b;
  st.opened_at_ms = opened_at_ms;
}

void integration_board::report_load(service_kind s, const retry_budget& budget,
                                    const concurrency_limiter& limiter) {
  std::lock_guard guard{mtx_};
  auto& st = services_[static_cast<size_t>(s)];
  st.load.budget = budget;
  st.load.limiter = limiter;
}

void integration_board::count(service_kind s, counter c) {
  std::lock_guard guard{mtx_};
  auto& st = services_[static_cast<size_t>(s)];
  switch (c) {
    case counter::succeeded: ++st.succeeded; break;
    case counter::failed: ++st.failed; break;
    case counter::rejected: ++st.rejected; break;
    case counter::retries: ++st.retries; break;
    case counter::retries_suppressed: ++st.retries_suppressed; break;
  }
}

void integration_board::record_restart(service_kind s, int64_t wall_ms) {
  std::lock_guard guard{mtx_};
  auto& st = services_[static_cast<size_t>(s)];
  ++st.restarts;
  st.last_restart_ms = wall_ms;
}

integration_status integration_board::snapshot(service_kind s) const {
  std::lock_guard guard{mtx_};
  return services_[static_cast<size_t>(s)];
}

std::optional<millis> integration_board::refusing_for(service_kind s, time_point now) const {
  std::lock_guard guard{mtx_};
  const auto& b = services_[static_cast<size_t>(s)].breaker;
  if (b.state(now) != circuit_state::open)
    return std::nullopt;
  return b.remaining_open(now);
}

boost::json::object integration_board::to_json(service_kind s, time_point now) const {
  auto st = snapshot(s);
  auto state = st.breaker.state(now);
  boost::json::object circuit;
  circuit["state"] = to_string(state);
  circuit["isolated"] = st.breaker.isolated();
  circuit["consecutiveFailures"] = st.breaker.consecutive_failures();
  if (state == circuit_state::open && st.opened_at_ms)
    circuit["openedAt"] = format_rfc3339(*st.opened_at_ms);
  else
    circuit["openedAt"] = nullptr;
  circuit["retryAfterMs"] = state == circuit_state::open ? st.breaker.remaining_open(now).count()
                                                         : 0;
  boost::json::object calls;
  calls["succeeded"] = st.succeeded;
  calls["failed"] = st.failed;
  calls["rejected"] = st.rejected;
  calls["retries"] = st.retries;
  calls["retriesSuppressed"] = st.retries_suppressed;
  boost::json::object actor;
  actor["restarts"] = st.restarts;
  if (st.last_restart_ms)
    actor["lastRestartAt"] = format_rfc3339(*st.last_restart_ms);
  else
    actor["lastRestartAt"] = nullptr;
  boost::json::object out;
  out["circuit"] = std::move(circuit);
  out["calls"] = std::move(calls);
  // Extensions of CONTRACT §3.5: null until the integration actor has started.
  if (const auto& l = st.load.limiter) {
    boost::json::object concurrency;
    concurrency["adaptive"] = l->enabled();
    concurrency["limit"] = l->limit();
    concurrency["maxConnections"] = l->max_limit();
    out["concurrency"] = std::move(concurrency);
  } else {
    out["concurrency"] = nullptr;
  }
  if (const auto& b = st.load.budget) {
    boost::json::object budget;
    budget["enabled"] = b->enabled();
    auto u = b->usage(now);
    budget["firstAttempts"] = u.first_attempts;
    budget["retries"] = u.retries;
    if (b->enabled())
      budget["allowance"] = u.allowance;
    else
      budget["allowance"] = nullptr;
    out["retryBudget"] = std::move(budget);
  } else {
    out["retryBudget"] = nullptr;
  }
  out["actor"] = std::move(actor);
  return out;
}

} // namespace coffeeshop
