#include "integration_actor.hpp"

#include "coffeeshop/util/clock.hpp"

#include <algorithm>
#include <tuple>

namespace coffeeshop::integration_shell {

void init(integration_state& st, std::unique_ptr<call_hooks> hooks, integration_spec spec,
          time_point now) {
  if (spec.deps.live) {
    st.settings_version = spec.deps.live->version(); // before reading, as follow_reload
    spec.settings = spec.deps.live->service(spec.kind);
  }
  auto last = spec.deps.board->snapshot(spec.kind);
  st.hooks = std::move(hooks);
  st.engine.emplace(spec.kind, spec.settings, spec.url, *st.hooks, last.breaker, last.opened_at_ms,
                    spec.jitter_seed, clock_of(now), last.load);
  st.spec = std::move(spec);
  // Shown from the start, not only once the first call moved it.
  report_load_now(st, st.engine->limiter().limit());
}

call_clock clock_of(time_point now) {
  auto ns = unix_now_ns();
  return call_clock{now, ns / 1'000'000, ns};
}

void report_load_now(integration_state& st, int limit) {
  auto& deps = st.spec.deps;
  deps.board->report_load(st.spec.kind, st.engine->budget(), st.engine->limiter());
  deps.stats->integration(st.spec.kind).concurrency_limit(limit);
}

void record(integration_state& st, const call_command& cmd, time_point now) {
  auto& deps = st.spec.deps;
  auto kind = st.spec.kind;
  auto& series = deps.stats->integration(kind);
  if (auto* ev = std::get_if<emit_event>(&cmd)) {
    deps.events->emit(ev->event);
  } else if (auto* t = std::get_if<tally_call>(&cmd)) {
    switch (t->what) {
      case tally_call::kind::succeeded:
      case tally_call::kind::failed:
        series.attempt_finished(t->outcome_label, t->seconds);
        deps.board->count(kind, t->what == tally_call::kind::succeeded
                                  ? integration_board::counter::succeeded
                                  : integration_board::counter::failed);
        break;
      case tally_call::kind::retried:
        series.retried();
        deps.board->count(kind, integration_board::counter::retries);
        break;
      case tally_call::kind::rejected: count_rejected_call(deps, kind); break;
      case tally_call::kind::retry_suppressed:
        series.retry_suppressed();
        deps.board->count(kind, integration_board::counter::retries_suppressed);
        break;
    }
  } else if (auto* l = std::get_if<report_load>(&cmd)) {
    report_load_now(st, l->limit);
  } else if (auto* b = std::get_if<report_breaker>(&cmd)) {
    if (b->transition) {
      series.transition(b->transition->to);
      auto level = b->transition->to == circuit_state::open ? log_level::warn : log_level::info;
      deps.log->log(level, transition_event(b->transition->to),
                    {{"service", to_string(kind)}, {"reason", b->transition->reason}});
    }
    deps.board->report_breaker(kind, st.engine->breaker(), st.engine->opened_at_ms());
    if (deps.writer) {
      // Fire and forget: a snapshot lost to a failing store costs a closed
      // breaker after a restart, never an order.
      store_write w;
      w.breakers.emplace_back(kind, st.engine->breaker().snapshot(now, now_ms()));
      deps.writer->submit(std::move(w), [](const commit_result&) {});
    }
    series.state(b->state);
  }
}

std::optional<transport_actor> take_busy_worker(integration_state& st, uint64_t id, int attempt) {
  auto i = st.busy_workers.find(id);
  if (i == st.busy_workers.end() || i->second.attempt != attempt)
    return std::nullopt;
  auto worker = std::move(i->second.worker);
  st.busy_workers.erase(i);
  return worker;
}

std::vector<std::pair<uint64_t, int>> expired_attempts(const integration_state& st, time_point now) {
  std::vector<std::tuple<time_point, uint64_t, int>> due;
  for (const auto& [id, busy] : st.busy_workers)
    if (busy.expires_at <= now)
      due.emplace_back(busy.expires_at, id, busy.attempt);
  std::sort(due.begin(), due.end()); // in the order they expired, as one timer each would
  std::vector<std::pair<uint64_t, int>> out;
  for (const auto& [at, id, attempt] : due)
    out.emplace_back(id, attempt);
  return out;
}

std::optional<time_point> next_expiry_timer(const integration_state& st) {
  std::optional<time_point> earliest;
  for (const auto& entry : st.busy_workers)
    if (!earliest || entry.second.expires_at < *earliest)
      earliest = entry.second.expires_at;
  if (!earliest || (st.expiry_timer_at && *st.expiry_timer_at <= *earliest))
    return std::nullopt;
  return earliest;
}

integration_view view(const integration_state& st, time_point now) {
  return integration_view{st.spec.deps.board->to_json(st.spec.kind, now)};
}

} // namespace coffeeshop::integration_shell
