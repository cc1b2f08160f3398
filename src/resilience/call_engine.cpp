#include "coffeeshop/resilience/call_engine.hpp"

#include "coffeeshop/util/ids.hpp"

#include <chrono>

namespace coffeeshop {

namespace {

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

std::string total_timeout_text(const service_settings& s) {
  return "total timeout of " + std::to_string(s.total_timeout_ms) + " ms";
}

int64_t wall_ns(const call_clock& clock) {
  return clock.epoch_ns != 0 ? clock.epoch_ns : clock.epoch_ms * 1'000'000;
}

/// OpenTelemetry's error.type of a failed attempt: the transport error, else the status.
std::string error_type(const http_reply& reply, const attempt_result& ar) {
  if (reply.error != transport_error::none)
    return to_string(reply.error);
  if (ar.reported_failure)
    return "success_false"; // a 2xx whose body says the payment failed
  return std::to_string(reply.status);
}

/// What an attempt tells the concurrency limiter: an answer the upstream worked out is a
/// latency sample; a timeout, a connection error or a 429/503 (the upstream shedding load) is
/// a drop; any other error answer is neither (a degraded service, which is the breaker's
/// business: cutting the limit for it turns a 30 % failure rate into an outage).
limiter_sample limiter_kind(const attempt_result& r) {
  if (r.error != transport_error::none)
    return limiter_sample::drop;
  if (r.http_status == 429 || r.http_status == 503)
    return limiter_sample::drop;
  return is_breaker_failure(r) ? limiter_sample::error : limiter_sample::latency;
}

} // namespace

const char* to_string(call_result r) {
  switch (r) {
    case call_result::succeeded: return "succeeded";
    case call_result::declined: return "declined";
    case call_result::exhausted: return "exhausted";
    case call_result::timed_out: return "timed_out";
    case call_result::circuit_open: return "circuit_open";
    case call_result::overloaded: return "overloaded";
  }
  return "?";
}

// -- default hooks ----------------------------------------------------------------

bool call_hooks::reply_reports_failure(const http_reply&) const { return false; }

std::optional<std::string> call_hooks::reference(const http_reply&) const { return std::nullopt; }

void call_hooks::on_finished(const outbound_call&, const call_outcome&,
                             std::vector<integration_event>&) const {}

// -- call_engine ------------------------------------------------------------------

call_engine::call_engine(service_kind kind, service_settings settings, std::string url,
                         const call_hooks& hooks, circuit_breaker breaker,
                         std::optional<int64_t> opened_at_ms, uint64_t jitter_seed,
                         const call_clock& clock, learned_load learned)
  : kind_(kind),
    settings_(std::move(settings)),
    url_(std::move(url)),
    hooks_(hooks),
    breaker_(std::move(breaker)),
    retry_(settings_.retry, jitter_seed),
    budget_(learned.budget.value_or(retry_budget{settings_.retry.budget})),
    limiter_(learned.limiter.value_or(
      concurrency_limiter{settings_.adaptive_concurrency, settings_.max_connections})),
    opened_at_ms_(opened_at_ms) {
  // Probes the predecessor had in flight died with it; their callers re-issue them.
  breaker_.forget_probes();
  // The predecessor's breaker, budget and limit were made under the settings of its time,
  // which a reload may have replaced since.
  adopt_settings();
  load_changed_ = false;
  reported_state_ = breaker_.state(clock.now);
  reported_failures_ = breaker_.consecutive_failures();
  reported_isolated_ = breaker_.isolated();
}

void call_engine::start(uint64_t id, outbound_call call, const call_clock& clock,
                        call_commands& out) {
  auto [i, inserted] = calls_.try_emplace(
    id, active_call{std::move(call), deadline{clock.now, millis{settings_.total_timeout_ms}}, 0,
                    false, time_point{}, span{}, span{}});
  if (!inserted)
    return; // an id already running: the shell's bug, and the running call keeps it
  auto& c = i->second;
  auto& sp = c.call_span;
  sp.trace_id = c.call.trace_id;
  sp.span_id = make_span_id();
  sp.parent_span_id = c.call.parent_span_id;
  sp.name = std::string{to_string(kind_)} + " call";
  sp.kind = span_kind::internal;
  sp.start_ns = wall_ns(clock);
  sp.attributes = {{"coffeeshop.service", to_string(kind_)},
                   {"coffeeshop.order_id", c.call.order_id}};
  attempt(id, c, clock, out);
  note_load(out);
}

void call_engine::on_retry_timer(uint64_t id, const call_clock& clock, call_commands& out) {
  auto i = calls_.find(id);
  if (i == calls_.end() || i->second.in_flight)
    return;
  attempt(id, i->second, clock, out);
  note_load(out);
}

void call_engine::reconfigure(const service_settings& settings, call_commands& out) {
  settings_ = settings;
  adopt_settings();
  note_load(out);
}

void call_engine::adopt_settings() {
  breaker_.set_settings(settings_.circuit_breaker);
  retry_.set_settings(settings_.retry);
  // A budget or a limiter under other settings starts over: what it counted or learned was
  // measured against bounds that no longer hold.
  if (!(budget_.settings() == settings_.retry.budget)) {
    budget_ = retry_budget{settings_.retry.budget};
    load_changed_ = true;
  }
  if (!(limiter_.settings() == settings_.adaptive_concurrency) ||
      limiter_.max_limit() != settings_.max_connections) {
    limiter_ = concurrency_limiter{settings_.adaptive_concurrency, settings_.max_connections};
    load_changed_ = true;
  }
}

void call_engine::apply(circuit_action action, const call_clock& clock, call_commands& out) {
  auto tr = action == circuit_action::isolate ? breaker_.isolate(clock.now)
                                              : breaker_.reset(clock.now);
  note_breaker(tr, nullptr, clock, out);
}

void call_engine::attempt(uint64_t id, active_call& c, const call_clock& clock,
                          call_commands& out) {
  auto now = clock.now;
  if (!c.budget.allows_attempt_at(now)) {
    call_outcome o;
    o.result = call_result::timed_out;
    o.detail = total_timeout_text(settings_) + " spent after " + std::to_string(c.attempt) +
               " attempt(s)";
    finish(id, std::move(o), clock, out);
    return;
  }
  if (attempts_in_flight_ >= limiter_.limit()) {
    // Over the limit a call is answered at once: queueing would only add latency to a
    // service that is already slow.
    if (limiter_.enabled()) {
      limiter_.on_refused();
      reject(id, c, call_result::overloaded, millis{1000},
             "adaptive concurrency limit (" + std::to_string(limiter_.limit()) +
               ") of calls already in flight",
             {{"reason", "concurrency limit"},
              {"limit", limiter_.limit()},
              {"maxConnections", settings_.max_connections}},
             clock, out);
    } else {
      reject(id, c, call_result::overloaded, millis{1000},
             "max_connections (" + std::to_string(settings_.max_connections) +
               ") calls already in flight",
             {{"reason", "bulkhead full"}, {"maxConnections", settings_.max_connections}}, clock,
             out);
    }
    return;
  }
  auto adm = breaker_.try_acquire(now);
  note_breaker(adm.transition, &c, clock, out);
  if (!adm.allowed) {
    reject(id, c, call_result::circuit_open, adm.retry_after,
           std::string{"the "} + to_string(kind_) + " circuit is open",
           {{"reason", "circuit open"}, {"retryAfterMs", adm.retry_after.count()}}, clock, out);
    return;
  }
  ++c.attempt;
  c.in_flight = true;
  c.attempt_started = now;
  ++attempts_in_flight_;
  if (c.attempt == 1 && budget_.enabled()) {
    budget_.on_first_attempt(now);
    load_changed_ = true;
  }
  send_attempt send;
  send.call = id;
  send.attempt = c.attempt;
  auto& req = send.request;
  req.url = url_;
  req.body = c.call.body;
  req.timeout = c.budget.attempt_timeout(now, millis{settings_.timeout_ms});
  req.deadline = now + req.timeout;
  req.headers.emplace_back("Content-Type", "application/json");
  // The attempt's client span is the one its traceparent names, so the upstream's own
  // spans join the trace under it.
  auto& sp = c.attempt_span;
  sp = span{};
  sp.trace_id = c.call.trace_id;
  sp.span_id = make_span_id();
  sp.parent_span_id = c.call_span.span_id;
  sp.name = "POST";
  sp.kind = span_kind::client;
  sp.start_ns = wall_ns(clock);
  sp.attributes = {{"http.request.method", "POST"},
                   {"url.full", url_},
                   {"coffeeshop.attempt", c.attempt},
                   {"coffeeshop.circuit.state", to_string(breaker_.state(now))}};
  req.headers.emplace_back("traceparent",
                           trace_context{c.call.trace_id, sp.span_id,
                                         c.call.trace_flags.empty() ? "01" : c.call.trace_flags}
                             .to_header());
  if (c.call.idempotency_key)
    req.headers.emplace_back("Idempotency-Key", *c.call.idempotency_key);
  emit(&c.call, "request_started", c.attempt, {{"url", url_}, {"timeoutMs", req.timeout.count()}},
       out);
  out.emplace_back(std::move(send));
}

void call_engine::on_reply(uint64_t id, const http_reply& reply, const call_clock& clock,
                           call_commands& out) {
  auto i = calls_.find(id);
  if (i == calls_.end() || !i->second.in_flight)
    return;
  auto& c = i->second;
  c.in_flight = false;
  auto ar = observe(reply, clock);
  auto cls = classify(ar);
  auto elapsed = clock.now - c.attempt_started;
  auto elapsed_ms = std::chrono::duration_cast<millis>(elapsed).count();
  if (limiter_.enabled()) {
    limiter_.on_sample(std::chrono::duration_cast<millis>(elapsed), attempts_in_flight_,
                       limiter_kind(ar));
    load_changed_ = true;
  }
  --attempts_in_flight_;
  bool ok = cls == attempt_class::success;
  out.emplace_back(tally_call{ok ? tally_call::kind::succeeded : tally_call::kind::failed,
                              outcome_label(ar, cls),
                              std::chrono::duration<double>(elapsed).count()});
  auto tr = is_breaker_failure(ar) ? breaker_.on_failure(clock.now, ar.retry_after)
                                   : breaker_.on_success(clock.now);
  auto& sp = c.attempt_span;
  sp.end_ns = wall_ns(clock);
  if (reply.error == transport_error::none)
    sp.attributes.emplace_back("http.response.status_code", reply.status);
  if (!ok) {
    sp.attributes.emplace_back("error.type", error_type(reply, ar));
    sp.status = span_status::error;
    sp.status_message = reply.error_message;
  }
  out.emplace_back(export_span{std::move(sp)});
  note_breaker(tr, &c, clock, out);
  if (ok) {
    emit(&c.call, "request_succeeded", c.attempt,
         {{"status", reply.status}, {"durationMs", elapsed_ms}}, out);
    call_outcome o;
    o.result = call_result::succeeded;
    o.last_status = reply.status;
    o.reference = hooks_.reference(reply);
    finish(id, std::move(o), clock, out);
    note_load(out);
    return;
  }
  boost::json::object failed;
  failed["status"] = reply.status;
  failed["error"] = to_string(reply.error);
  if (!reply.error_message.empty())
    failed["message"] = reply.error_message;
  failed["durationMs"] = elapsed_ms;
  failed["retryable"] = cls == attempt_class::retryable;
  emit(&c.call, "request_failed", c.attempt, std::move(failed), out);
  after_failure(id, c, reply, ar, cls, clock, out);
  note_load(out);
}

attempt_result call_engine::observe(const http_reply& reply, const call_clock& clock) const {
  attempt_result ar;
  ar.error = reply.error;
  ar.http_status = reply.status;
  if (reply.error == transport_error::none && reply.status >= 200 && reply.status < 300)
    ar.reported_failure = hooks_.reply_reports_failure(reply);
  if (reply.retry_after)
    ar.retry_after = parse_retry_after(*reply.retry_after, clock.epoch_ms);
  return ar;
}

void call_engine::after_failure(uint64_t id, active_call& c, const http_reply& reply,
                                const attempt_result& ar, attempt_class cls,
                                const call_clock& clock, call_commands& out) {
  std::string why = reply.error != transport_error::none
                      ? std::string{to_string(reply.error)}
                      : "HTTP " + std::to_string(reply.status) +
                          (ar.reported_failure ? " with success:false" : "");
  call_outcome o;
  o.last_status = reply.status;
  // Only a 4xx is the service judging the request; a final 3xx or 5xx (a redirect, which is
  // not followed, or 501, 505, ...) is the service failing, reported as an upstream error.
  const bool judged = reply.status >= 400 && reply.status < 500;
  if (cls == attempt_class::final_failure && !judged) {
    o.result = call_result::exhausted;
    o.detail = std::string{to_string(kind_)} + " service answered " + why + " (not retried)";
    finish(id, std::move(o), clock, out);
    return;
  }
  if (cls == attempt_class::final_failure) {
    o.result = call_result::declined;
    o.detail = std::string{to_string(kind_)} + " service answered " + why;
    finish(id, std::move(o), clock, out);
    return;
  }
  int retries_done = c.attempt - 1;
  if (retries_done >= retry_.max_retries()) {
    o.result = call_result::exhausted;
    o.detail = std::to_string(c.attempt) + " attempt(s) failed, last: " + why;
    finish(id, std::move(o), clock, out);
    return;
  }
  auto delay = retry_.next_delay(retries_done + 1, ar.retry_after);
  if (!c.budget.allows_attempt_at(clock.now + delay)) {
    o.result = call_result::timed_out;
    o.detail = total_timeout_text(settings_) + " would be exceeded by the next retry; last: " + why;
    finish(id, std::move(o), clock, out);
    return;
  }
  if (budget_.enabled()) {
    load_changed_ = true;
    if (!budget_.try_retry(clock.now)) {
      auto u = budget_.usage(clock.now);
      out.emplace_back(tally_call{tally_call::kind::retry_suppressed});
      emit(&c.call, "retry_suppressed", c.attempt + 1,
           {{"reason", why},
            {"retriesInWindow", u.retries},
            {"firstAttemptsInWindow", u.first_attempts},
            {"allowance", u.allowance},
            {"windowMs", budget_.settings().window_ms}},
           out);
      o.result = call_result::exhausted;
      o.detail = std::to_string(c.attempt) + " attempt(s) failed and the retry budget (" +
                 std::to_string(u.retries) + " retries in " +
                 std::to_string(budget_.settings().window_ms) + " ms) allows no more; last: " + why;
      c.call_span.events.push_back(
        {"retry_suppressed", wall_ns(clock), {{"coffeeshop.attempt", c.attempt + 1}}});
      finish(id, std::move(o), clock, out);
      return;
    }
  }
  out.emplace_back(tally_call{tally_call::kind::retried});
  emit(&c.call, "retry_scheduled", c.attempt + 1, {{"delayMs", delay.count()}, {"reason", why}},
       out);
  c.call_span.events.push_back({"retry_scheduled",
                                wall_ns(clock),
                                {{"coffeeshop.attempt", c.attempt + 1},
                                 {"coffeeshop.retry.delay_ms", static_cast<int64_t>(delay.count())},
                                 {"coffeeshop.retry.reason", why}}});
  out.emplace_back(schedule_retry{id, delay});
}

void call_engine::reject(uint64_t id, active_call& c, call_result result, millis retry_after,
                         std::string detail, boost::json::object event_payload,
                         const call_clock& clock, call_commands& out) {
  out.emplace_back(tally_call{tally_call::kind::rejected});
  attribute_list attrs{{"coffeeshop.attempt", c.attempt + 1}};
  if (auto* why = event_payload.if_contains("reason"); why && why->is_string())
    attrs.emplace_back("coffeeshop.reject.reason", std::string{why->get_string()});
  c.call_span.events.push_back({"call_rejected", wall_ns(clock), std::move(attrs)});
  emit(&c.call, "call_rejected", c.attempt + 1, std::move(event_payload), out);
  call_outcome o;
  o.result = result;
  o.retry_after = retry_after;
  o.detail = std::move(detail);
  finish(id, std::move(o), clock, out);
}

void call_engine::finish(uint64_t id, call_outcome outcome, const call_clock& clock,
                         call_commands& out) {
  auto i = calls_.find(id);
  if (i == calls_.end())
    return;
  outcome.attempts = i->second.attempt;
  auto& sp = i->second.call_span;
  sp.end_ns = wall_ns(clock);
  sp.attributes.emplace_back("coffeeshop.attempts", outcome.attempts);
  sp.attributes.emplace_back("coffeeshop.outcome", to_string(outcome.result));
  if (outcome.result != call_result::succeeded) {
    sp.status = span_status::error;
    sp.status_message = outcome.detail;
  }
  out.emplace_back(export_span{std::move(sp)});
  std::vector<integration_event> extra;
  hooks_.on_finished(i->second.call, outcome, extra);
  for (auto& ev : extra)
    out.emplace_back(emit_event{std::move(ev)});
  out.emplace_back(finish_call{id, std::move(outcome)});
  calls_.erase(i);
}

void call_engine::emit(const outbound_call* about, const char* type, int attempt,
                       boost::json::object payload, call_commands& out) const {
  if (about)
    for (const auto& kv : about->context)
      payload.emplace(kv.key(), kv.value());
  out.emplace_back(
    emit_event{make_event(kind_, type, about ? about->trace_id : "", about ? about->order_id : "",
                          attempt, std::move(payload))});
}

void call_engine::note_load(call_commands& out) {
  if (!load_changed_)
    return;
  load_changed_ = false;
  out.emplace_back(report_load{limiter_.limit()});
}

void call_engine::note_breaker(const std::optional<circuit_transition>& tr, active_call* about,
                               const call_clock& clock, call_commands& out) {
  auto now = clock.now;
  if (tr) {
    if (tr->to == circuit_state::open)
      opened_at_ms_ = clock.epoch_ms;
    else if (tr->to == circuit_state::closed)
      opened_at_ms_.reset();
    boost::json::object payload;
    payload["from"] = to_string(tr->from);
    payload["to"] = to_string(tr->to);
    payload["reason"] = tr->reason;
    payload["consecutiveFailures"] = breaker_.consecutive_failures();
    if (tr->to == circuit_state::open)
      payload["breakDurationMs"] = breaker_.remaining_open(now).count();
    // Breaker events carry the call that moved it, not that call's context.
    out.emplace_back(
      emit_event{make_event(kind_, transition_event(tr->to), about ? about->call.trace_id : "",
                            about ? about->call.order_id : "", 0, std::move(payload))});
    if (about)
      about->call_span.events.push_back({transition_event(tr->to),
                                         wall_ns(clock),
                                         {{"coffeeshop.circuit.from", to_string(tr->from)},
                                          {"coffeeshop.circuit.to", to_string(tr->to)},
                                          {"coffeeshop.circuit.reason", tr->reason}}});
  }
  auto state = breaker_.state(now);
  // In ratio mode every outcome moves the sampling window, which a successor
  // must resume from; otherwise only visible changes are worth the copy.
  bool ratio_mode = breaker_.settings().failure_ratio.has_value();
  if (tr || ratio_mode || state != reported_state_ ||
      breaker_.consecutive_failures() != reported_failures_ ||
      breaker_.isolated() != reported_isolated_) {
    reported_state_ = state;
    reported_failures_ = breaker_.consecutive_failures();
    reported_isolated_ = breaker_.isolated();
    out.emplace_back(report_breaker{tr, state});
  }
}

} // namespace coffeeshop
