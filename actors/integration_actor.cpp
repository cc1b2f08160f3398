#include "integration_actor.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

#include <boost/json/parse.hpp>

#include <chrono>

namespace coffeeshop {

namespace {

/// Extra time the actor waits beyond the transport's own timeout, so the
/// transport's answer (with its precise error) normally arrives first.
constexpr millis transport_grace{2000};

const char* outcome_label(const attempt_result& r, attempt_class c) {
  if (c == attempt_class::success)
    return "success";
  if (r.error == transport_error::timeout)
    return "timeout";
  if (r.error != transport_error::none)
    return "connection_error";
  return c == attempt_class::retryable ? "retryable_failure" : "final_failure";
}

const char* to_string(transport_error e) {
  switch (e) {
    case transport_error::none: return "none";
    case transport_error::connect_failed: return "connect_failed";
    case transport_error::timeout: return "timeout";
    case transport_error::connection_reset: return "connection_reset";
    case transport_error::other: return "other";
  }
  return "other";
}

/// A 2xx payment reply whose JSON body says `"success": false` failed.
bool body_reports_failure(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object())
    return false;
  auto* s = v.get_object().if_contains("success");
  return s && s->is_bool() && !s->get_bool();
}

std::optional<std::string> body_reference(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  for (const char* key : {"reference", "transactionId", "paymentId", "id"})
    if (auto* r = v.get_object().if_contains(key); r && r->is_string())
      return std::string{r->get_string()};
  return std::nullopt;
}

void emit(integration_actor* self, const integration_state::pending& p, const char* type,
          int attempt, boost::json::object payload) {
  auto& st = self->state;
  for (const auto& kv : p.call.context)
    payload.emplace(kv.key(), kv.value());
  st.spec.deps.events->emit(
    make_event(st.spec.kind, type, p.call.trace_id, p.call.order_id, attempt, std::move(payload)));
}

/// Reports breaker changes: an event per transition, metrics, and the board
/// (which is what a restarted successor starts from).
void note_breaker(integration_actor* self, const std::optional<circuit_transition>& tr,
                  const outbound_call* about) {
  auto& st = self->state;
  auto svc = to_string(st.spec.kind);
  auto now = self->clock().now();
  if (tr) {
    if (tr->to == circuit_state::open)
      st.opened_at_ms = now_ms();
    else if (tr->to == circuit_state::closed)
      st.opened_at_ms.reset();
    const char* type = tr->to == circuit_state::open        ? "circuit_opened"
                       : tr->to == circuit_state::half_open ? "circuit_half_opened"
                                                            : "circuit_closed";
    boost::json::object payload;
    payload["from"] = to_string(tr->from);
    payload["to"] = to_string(tr->to);
    payload["reason"] = tr->reason;
    payload["consecutiveFailures"] = st.breaker.consecutive_failures();
    if (tr->to == circuit_state::open)
      payload["breakDurationMs"] = st.breaker.remaining_open(now).count();
    st.spec.deps.events->emit(make_event(st.spec.kind, type, about ? about->trace_id : "",
                                         about ? about->order_id : "", 0, std::move(payload)));
    st.spec.deps.stats->add("coffeeshop_circuit_transitions_total",
                            {{"service", svc}, {"to", to_string(tr->to)}});
    auto level = tr->to == circuit_state::open ? log_level::warn : log_level::info;
    st.spec.deps.log->log(level, type, {{"service", svc}, {"reason", tr->reason}});
  }
  auto state = st.breaker.state(now);
  // In ratio mode every outcome moves the sampling window, which a successor
  // must resume from; otherwise only visible changes are worth the copy.
  bool ratio_mode = st.breaker.settings().failure_ratio.has_value();
  if (tr || ratio_mode || state != st.reported_state
      || st.breaker.consecutive_failures() != st.reported_failures
      || st.breaker.isolated() != st.reported_isolated) {
    st.reported_state = state;
    st.reported_failures = st.breaker.consecutive_failures();
    st.reported_isolated = st.breaker.isolated();
    st.spec.deps.board->report_breaker(st.spec.kind, st.breaker, st.opened_at_ms);
    st.spec.deps.stats->set("coffeeshop_circuit_state", {{"service", svc}}, gauge_value(state));
  }
}

void finish(integration_actor* self, uint64_t id, call_outcome outcome) {
  auto& st = self->state;
  auto i = st.calls.find(id);
  if (i == st.calls.end())
    return;
  auto& p = i->second;
  outcome.attempts = p.attempt;
  if (st.spec.kind == service_kind::notification) {
    boost::json::object payload;
    payload["attempts"] = p.attempt;
    if (outcome.result != call_result::succeeded)
      payload["reason"] = outcome.detail;
    emit(self, p, outcome.result == call_result::succeeded ? "notification_sent"
                                                           : "notification_failed",
         p.attempt, std::move(payload));
  }
  p.promise.deliver(std::move(outcome));
  st.calls.erase(i);
}

void on_reply(integration_actor* self, uint64_t id, http_reply reply);

void attempt(integration_actor* self, uint64_t id) {
  auto& st = self->state;
  auto i = st.calls.find(id);
  if (i == st.calls.end())
    return;
  auto& p = i->second;
  auto now = self->clock().now();
  if (!p.budget.allows_attempt_at(now)) {
    call_outcome out;
    out.result = call_result::timed_out;
    out.detail = "total timeout of " + std::to_string(st.spec.settings.total_timeout_ms)
                 + " ms spent after " + std::to_string(p.attempt) + " attempt(s)";
    finish(self, id, std::move(out));
    return;
  }
  if (st.attempts_in_flight >= st.spec.settings.max_connections) {
    count_rejected_call(st.spec.deps, st.spec.kind);
    emit(self, p, "call_rejected", p.attempt + 1,
         {{"reason", "bulkhead full"}, {"maxConnections", st.spec.settings.max_connections}});
    call_outcome out;
    out.result = call_result::overloaded;
    out.retry_after = millis{1000};
    out.detail = "max_connections (" + std::to_string(st.spec.settings.max_connections)
                 + ") calls already in flight";
    finish(self, id, std::move(out));
    return;
  }
  auto adm = st.breaker.try_acquire(now);
  note_breaker(self, adm.transition, &p.call);
  if (!adm.allowed) {
    count_rejected_call(st.spec.deps, st.spec.kind);
    emit(self, p, "call_rejected", p.attempt + 1,
         {{"reason", "circuit open"}, {"retryAfterMs", adm.retry_after.count()}});
    call_outcome out;
    out.result = call_result::circuit_open;
    out.retry_after = adm.retry_after;
    out.detail = std::string{"the "} + to_string(st.spec.kind) + " circuit is open";
    finish(self, id, std::move(out));
    return;
  }
  ++p.attempt;
  p.in_flight = true;
  p.attempt_started = now;
  ++st.attempts_in_flight;
  http_call call;
  call.url = st.spec.url;
  call.body = p.call.body;
  call.timeout = p.budget.attempt_timeout(now, millis{st.spec.settings.timeout_ms});
  call.headers.emplace_back("Content-Type", "application/json");
  trace_context parent{p.call.trace_id, "", "01"};
  call.headers.emplace_back("traceparent", parent.child().to_header());
  if (p.call.idempotent)
    call.headers.emplace_back("Idempotency-Key", p.call.order_id);
  emit(self, p, "request_started", p.attempt,
       {{"url", st.spec.url}, {"timeoutMs", call.timeout.count()}});
  auto wait = call.timeout + transport_grace;
  self->request(st.spec.transport, wait, call_atom::value, std::move(call))
    .then([self, id](http_reply& reply) { on_reply(self, id, std::move(reply)); },
          [self, id](caf::error& err) {
            http_reply reply;
            reply.error = transport_error::timeout;
            reply.error_message = self->system().render(err);
            on_reply(self, id, std::move(reply));
          });
}

void on_reply(integration_actor* self, uint64_t id, http_reply reply) {
  auto& st = self->state;
  auto i = st.calls.find(id);
  if (i == st.calls.end() || !i->second.in_flight)
    return;
  auto& p = i->second;
  p.in_flight = false;
  --st.attempts_in_flight;
  auto now = self->clock().now();
  auto svc = to_string(st.spec.kind);
  attempt_result ar;
  ar.error = reply.error;
  ar.http_status = reply.status;
  if (reply.error == transport_error::none && reply.status >= 200 && reply.status < 300
      && st.spec.kind == service_kind::payment)
    ar.reported_failure = body_reports_failure(reply.body);
  if (reply.retry_after)
    ar.retry_after = parse_retry_after(*reply.retry_after, now_ms());
  auto cls = classify(ar);
  auto elapsed = std::chrono::duration<double>(now - p.attempt_started).count();
  st.spec.deps.stats->observe("coffeeshop_integration_call_duration_seconds", {{"service", svc}},
                              elapsed);
  st.spec.deps.stats->add("coffeeshop_integration_calls_total",
                          {{"service", svc}, {"outcome", outcome_label(ar, cls)}});
  auto tr = is_breaker_failure(ar) ? st.breaker.on_failure(now, ar.retry_after)
                                   : st.breaker.on_success(now);
  note_breaker(self, tr, &p.call);
  auto elapsed_ms = std::chrono::duration_cast<millis>(now - p.attempt_started).count();
  if (cls == attempt_class::success) {
    st.spec.deps.board->count(st.spec.kind, integration_board::counter::succeeded);
    emit(self, p, "request_succeeded", p.attempt,
         {{"status", reply.status}, {"durationMs", elapsed_ms}});
    call_outcome out;
    out.result = call_result::succeeded;
    out.last_status = reply.status;
    if (st.spec.kind == service_kind::payment)
      out.reference = body_reference(reply.body);
    finish(self, id, std::move(out));
    return;
  }
  st.spec.deps.board->count(st.spec.kind, integration_board::counter::failed);
  boost::json::object failed;
  failed["status"] = reply.status;
  failed["error"] = to_string(reply.error);
  if (!reply.error_message.empty())
    failed["message"] = reply.error_message;
  failed["durationMs"] = elapsed_ms;
  failed["retryable"] = cls == attempt_class::retryable;
  emit(self, p, "request_failed", p.attempt, std::move(failed));
  std::string why = reply.error != transport_error::none
                      ? std::string{to_string(reply.error)}
                      : "HTTP " + std::to_string(reply.status)
                          + (ar.reported_failure ? " with success:false" : "");
  if (cls == attempt_class::final_failure) {
    call_outcome out;
    out.result = call_result::declined;
    out.last_status = reply.status;
    out.detail = std::string{svc} + " service answered " + why;
    finish(self, id, std::move(out));
    return;
  }
  int retries_done = p.attempt - 1;
  if (retries_done >= st.retry.max_retries()) {
    call_outcome out;
    out.result = call_result::exhausted;
    out.last_status = reply.status;
    out.detail = std::to_string(p.attempt) + " attempt(s) failed, last: " + why;
    finish(self, id, std::move(out));
    return;
  }
  auto delay = st.retry.next_delay(retries_done + 1, ar.retry_after);
  if (!p.budget.allows_attempt_at(now + delay)) {
    call_outcome out;
    out.result = call_result::timed_out;
    out.last_status = reply.status;
    out.detail = "total timeout of " + std::to_string(st.spec.settings.total_timeout_ms)
                 + " ms would be exceeded by the next retry; last: " + why;
    finish(self, id, std::move(out));
    return;
  }
  st.spec.deps.board->count(st.spec.kind, integration_board::counter::retries);
  st.spec.deps.stats->add("coffeeshop_integration_retries_total", {{"service", svc}});
  emit(self, p, "retry_scheduled", p.attempt + 1,
       {{"delayMs", delay.count()}, {"reason", why}});
  self->delayed_send(self, delay, retry_atom::value, id);
}

} // namespace

void init_integration(integration_actor* self, integration_spec spec) {
  auto& st = self->state;
  report_uncaught_exceptions(self, spec.deps.log, to_string(spec.kind));
  st.retry = retry_policy{spec.settings.retry, spec.jitter_seed};
  auto last = spec.deps.board->snapshot(spec.kind);
  st.breaker = last.breaker;
  // Probes the predecessor had in flight died with it; the coordinator re-issues them.
  st.breaker.forget_probes();
  st.opened_at_ms = last.opened_at_ms;
  st.reported_state = st.breaker.state(self->clock().now());
  st.reported_failures = st.breaker.consecutive_failures();
  st.reported_isolated = st.breaker.isolated();
  st.spec = std::move(spec);
}

caf::result<call_outcome> start_call(integration_actor* self, outbound_call call) {
  auto& st = self->state;
  auto id = st.next_call_id++;
  auto rp = self->make_response_promise<call_outcome>();
  auto now = self->clock().now();
  integration_state::pending p{std::move(call), rp,
                               deadline{now, millis{st.spec.settings.total_timeout_ms}}};
  st.calls.emplace(id, std::move(p));
  attempt(self, id);
  return rp;
}

void on_retry_timer(integration_actor* self, uint64_t id) {
  attempt(self, id);
}

void apply_circuit_action(integration_actor* self, circuit_action action) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto tr = action == circuit_action::isolate ? st.breaker.isolate(now) : st.breaker.reset(now);
  note_breaker(self, tr, nullptr);
}

} // namespace coffeeshop
