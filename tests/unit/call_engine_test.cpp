#include "coffeeshop/resilience/call_engine.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <regex>
#include <string>
#include <vector>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

/// A fixed origin far from the clock's epoch, so breaker arithmetic never underflows.
const time_point t0 = time_point{} + 1000h;
/// The wall clock at t0: 2026-11-24T10:15:30Z, i.e. "Tue, 24 Nov 2026 10:15:30 GMT".
constexpr int64_t epoch_at_t0 = 1795515330000;

const std::string trace_1 = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string trace_2 = "0af7651916cd43dd8448eb211c80319c";
const std::string upstream_url = "http://payments.test/pay";

const call_hooks plain_hooks{};

/// Mirrors actors/payment.cpp: a 2xx with `"success": false` failed, the
/// reference comes from the body.
class payment_like_hooks final : public call_hooks {
public:
  bool reply_reports_failure(const http_reply& reply) const override {
    auto body = boost::json::parse(reply.body).as_object();
    auto* s = body.if_contains("success");
    return s && s->is_bool() && !s->get_bool();
  }

  std::optional<std::string> reference(const http_reply& reply) const override {
    auto body = boost::json::parse(reply.body).as_object();
    if (auto* r = body.if_contains("reference"); r && r->is_string())
      return std::string{r->get_string()};
    return std::nullopt;
  }
};

/// Mirrors actors/notification.cpp: every call is announced when it ends.
class notification_like_hooks final : public call_hooks {
public:
  void on_finished(const outbound_call& call, const call_outcome& outcome,
                   std::vector<integration_event>& events) const override {
    boost::json::object payload;
    payload["attempts"] = outcome.attempts;
    if (outcome.result != call_result::succeeded)
      payload["reason"] = outcome.detail;
    for (const auto& kv : call.context)
      payload.emplace(kv.key(), kv.value());
    events.push_back(make_event(service_kind::notification,
                                outcome.result == call_result::succeeded ? "notification_sent"
                                                                         : "notification_failed",
                                call.trace_id, call.order_id, outcome.attempts,
                                std::move(payload)));
  }
};

/// Settings whose breaker stays out of the way of tests about retries.
service_settings patient_breaker() {
  service_settings s;
  s.circuit_breaker.failure_threshold = 100;
  return s;
}

/// Settings that finish a call after its first failed attempt.
service_settings no_retries() {
  service_settings s;
  s.retry.max_retries = 0;
  return s;
}

outbound_call order_call(std::string order_id = "ord_1", std::string trace = trace_1,
                         bool idempotent = true) {
  outbound_call c;
  c.order_id = order_id;
  c.trace_id = std::move(trace);
  c.body = R"({"orderId":")" + order_id + R"(","amount":450})";
  if (idempotent)
    c.idempotency_key = order_id;
  return c;
}

http_reply status_reply(int status, std::string body = "{}") {
  http_reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http_reply transport_failure(transport_error e, std::string message = "") {
  http_reply r;
  r.error = e;
  r.error_message = std::move(message);
  return r;
}

http_reply with_retry_after(http_reply r, std::string header) {
  r.retry_after = std::move(header);
  return r;
}

/// One engine and the clock it is driven with; each input returns the commands it produced.
struct rig {
  call_clock clock{t0, epoch_at_t0};
  call_engine engine;

  explicit rig(service_settings s = {}, const call_hooks& hooks = plain_hooks,
               service_kind kind = service_kind::payment)
    : rig(kind, s, hooks, circuit_breaker{s.circuit_breaker}, std::nullopt) {}

  rig(service_kind kind, service_settings s, const call_hooks& hooks, circuit_breaker snapshot,
      std::optional<int64_t> opened_at_ms)
    : engine(kind, std::move(s), upstream_url, hooks, std::move(snapshot), opened_at_ms, 7, clock) {
  }

  /// Moves both clocks together, as real time would.
  void advance(millis d) {
    clock.now += d;
    clock.epoch_ms += d.count();
  }

  call_commands start(uint64_t id, outbound_call call = order_call()) {
    call_commands out;
    engine.start(id, std::move(call), clock, out);
    return out;
  }

  call_commands reply(uint64_t id, const http_reply& r) {
    call_commands out;
    engine.on_reply(id, r, clock, out);
    return out;
  }

  call_commands retry_timer(uint64_t id) {
    call_commands out;
    engine.on_retry_timer(id, clock, out);
    return out;
  }

  call_commands apply(circuit_action action) {
    call_commands out;
    engine.apply(action, clock, out);
    return out;
  }
};

const char* name_of(tally_call::kind k) {
  switch (k) {
    case tally_call::kind::succeeded: return "succeeded";
    case tally_call::kind::failed: return "failed";
    case tally_call::kind::retried: return "retried";
    case tally_call::kind::rejected: return "rejected";
    case tally_call::kind::retry_suppressed: return "retry_suppressed";
  }
  return "?";
}

/// One line per command, so a whole step's order is one readable comparison.
struct command_namer {
  std::string operator()(const send_attempt& c) const {
    return "send " + std::to_string(c.attempt);
  }
  std::string operator()(const schedule_retry&) const { return "schedule_retry"; }
  std::string operator()(const finish_call& c) const {
    return std::string{"finish "} + to_string(c.outcome.result);
  }
  std::string operator()(const emit_event& c) const { return "event " + c.event.type; }
  std::string operator()(const report_breaker& c) const {
    return "report " + std::string{to_string(c.state)};
  }
  std::string operator()(const report_load& c) const { return "load " + std::to_string(c.limit); }
  std::string operator()(const tally_call& c) const {
    return std::string{"tally "} + name_of(c.what);
  }
  std::string operator()(const export_span& c) const { return "span " + c.finished.name; }
};

using lines = std::vector<std::string>;

/// The step's commands but its spans, which the span tests below look at on their own,
/// so the shapes stay about what the call does.
lines shape(const call_commands& out) {
  lines names;
  for (const auto& c : out)
    if (!std::holds_alternative<export_span>(c))
      names.push_back(std::visit(command_namer{}, c));
  return names;
}

template <class T>
std::vector<T> all_of(const call_commands& out) {
  std::vector<T> picked;
  for (const auto& c : out)
    if (auto* p = std::get_if<T>(&c))
      picked.push_back(*p);
  return picked;
}

template <class T>
T only(const call_commands& out) {
  auto picked = all_of<T>(out);
  REQUIRE(picked.size() == 1);
  return picked.front();
}

integration_event only_event(const call_commands& out, const std::string& type) {
  std::vector<integration_event> picked;
  for (const auto& e : all_of<emit_event>(out))
    if (e.event.type == type)
      picked.push_back(e.event);
  REQUIRE(picked.size() == 1);
  return picked.front();
}

/// The tally of an attempt's end (the first one: a retry adds a second, "retried").
tally_call attempt_tally(const call_commands& out) {
  auto tallies = all_of<tally_call>(out);
  REQUIRE_FALSE(tallies.empty());
  return tallies.front();
}

std::string header(const http_call& req, const std::string& name) {
  for (const auto& [k, v] : req.headers)
    if (k == name)
      return v;
  return {};
}

/// Starts call `id` and fails `n` attempts of it with `failure`, each answered at once.
void fail_call(rig& r, uint64_t id, const http_reply& failure, int n = 1) {
  REQUIRE(only<send_attempt>(r.start(id)).attempt == 1);
  for (int i = 1; i <= n; ++i) {
    auto out = r.reply(id, failure);
    if (i < n) {
      r.advance(only<schedule_retry>(out).delay);
      REQUIRE(only<send_attempt>(r.retry_timer(id)).attempt == i + 1);
    }
  }
}

} // namespace

// -- the first attempt ----------------------------------------------------------------

TEST_CASE("call_engine: the first attempt is announced and sent", "[call_engine]") {
  rig r;
  auto call = order_call();
  call.context["customerEmail"] = "a***@example.com";
  auto out = r.start(1, call);

  CHECK(shape(out) == lines{"event request_started", "send 1"});
  auto started = only_event(out, "request_started");
  CHECK(started.service == "payment");
  CHECK(started.trace_id == trace_1);
  CHECK(started.order_id == "ord_1");
  CHECK(started.attempt == 1);
  CHECK(started.payload == boost::json::object{{"url", upstream_url},
                                               {"timeoutMs", 10000},
                                               {"customerEmail", "a***@example.com"}});

  auto send = only<send_attempt>(out);
  CHECK(send.call == 1);
  CHECK(send.attempt == 1);
  CHECK(send.request.url == upstream_url);
  CHECK(send.request.body == call.body);
  CHECK(send.request.timeout == 10000ms);
  REQUIRE(send.request.headers.size() == 3);
  CHECK(send.request.headers[0] ==
        std::pair<std::string, std::string>{"Content-Type", "application/json"});
  CHECK(send.request.headers[1].first == "traceparent");
  CHECK(send.request.headers[2] == std::pair<std::string, std::string>{"Idempotency-Key", "ord_1"});

  CHECK(r.engine.active_calls() == 1);
  CHECK(r.engine.attempts_in_flight() == 1);
}

TEST_CASE("call_engine: traceparent is a child span of the call's trace", "[call_engine]") {
  rig r{patient_breaker()};
  const std::regex shape_of_header{"00-([0-9a-f]{32})-([0-9a-f]{16})-01"};
  std::smatch first, second;

  auto tp1 = header(only<send_attempt>(r.start(1)).request, "traceparent");
  REQUIRE(std::regex_match(tp1, first, shape_of_header));
  CHECK(first[1] == trace_1);
  CHECK(first[2] != std::string(16, '0'));

  r.reply(1, status_reply(500));
  r.advance(2000ms);
  auto tp2 = header(only<send_attempt>(r.retry_timer(1)).request, "traceparent");
  REQUIRE(std::regex_match(tp2, second, shape_of_header));
  CHECK(second[1] == trace_1);
  // Every attempt is its own span of the same trace.
  CHECK(second[2] != first[2]);
}

TEST_CASE("call_engine: Idempotency-Key only on idempotent calls", "[call_engine]") {
  rig r;
  auto idempotent = only<send_attempt>(r.start(1, order_call("ord_1", trace_1, true)));
  auto plain = only<send_attempt>(r.start(2, order_call("ord_2", trace_2, false)));

  CHECK(header(idempotent.request, "Idempotency-Key") == "ord_1");
  REQUIRE(plain.request.headers.size() == 2);
  CHECK(plain.request.headers[0].first == "Content-Type");
  CHECK(plain.request.headers[1].first == "traceparent");
}

TEST_CASE("call_engine: the attempt timeout is clipped to the budget left", "[call_engine]") {
  auto s = patient_breaker();
  s.timeout_ms = 10000;
  s.total_timeout_ms = 4000;
  rig r{s};
  auto out = r.start(1);
  CHECK(only<send_attempt>(out).request.timeout == 4000ms);
  CHECK(only_event(out, "request_started").payload.at("timeoutMs") == 4000);
}

// -- success ----------------------------------------------------------------------------

TEST_CASE("call_engine: a 2xx reply finishes the call as succeeded", "[call_engine]") {
  payment_like_hooks hooks;
  rig r{{}, hooks};
  r.start(1);
  r.advance(150ms);
  auto out = r.reply(1, status_reply(201, R"({"success":true,"reference":"pay_42"})"));

  // A closed breaker with no failures has nothing new to report.
  CHECK(shape(out) == lines{"tally succeeded", "event request_succeeded", "finish succeeded"});
  auto tally = only<tally_call>(out);
  CHECK(std::string{tally.outcome_label} == "success");
  CHECK(tally.seconds == Approx(0.150));

  auto ev = only_event(out, "request_succeeded");
  CHECK(ev.attempt == 1);
  CHECK(ev.order_id == "ord_1");
  CHECK(ev.payload == boost::json::object{{"status", 201}, {"durationMs", 150}});

  auto fin = only<finish_call>(out);
  CHECK(fin.call == 1);
  CHECK(fin.outcome.result == call_result::succeeded);
  CHECK(fin.outcome.attempts == 1);
  CHECK(fin.outcome.last_status == 201);
  CHECK(fin.outcome.reference == std::optional<std::string>{"pay_42"});
  CHECK(fin.outcome.detail.empty());

  CHECK(r.engine.active_calls() == 0);
  CHECK(r.engine.attempts_in_flight() == 0);
}

TEST_CASE("call_engine: the default hooks yield no reference", "[call_engine]") {
  rig r;
  r.start(1);
  auto fin = only<finish_call>(r.reply(1, status_reply(200, R"({"reference":"pay_42"})")));
  CHECK(fin.outcome.result == call_result::succeeded);
  CHECK_FALSE(fin.outcome.reference);
}

TEST_CASE("call_engine: a payment 2xx with success:false is a retryable failure", "[call_engine]") {
  payment_like_hooks hooks;
  rig r{{}, hooks};
  r.start(1);
  r.advance(80ms);
  auto out = r.reply(1, status_reply(200, R"({"success":false})"));

  CHECK(shape(out) == lines{"tally failed", "report closed", "event request_failed",
                            "tally retried", "event retry_scheduled", "schedule_retry"});
  CHECK(std::string{attempt_tally(out).outcome_label} == "retryable_failure");
  CHECK(only_event(out, "request_failed").payload == boost::json::object{{"status", 200},
                                                                         {"error", "none"},
                                                                         {"durationMs", 80},
                                                                         {"retryable", true}});
  auto scheduled = only_event(out, "retry_scheduled");
  CHECK(scheduled.attempt == 2);
  CHECK(scheduled.payload ==
        boost::json::object{{"delayMs", 2000}, {"reason", "HTTP 200 with success:false"}});
  CHECK(only<schedule_retry>(out).delay == 2000ms);
  CHECK(r.engine.breaker().consecutive_failures() == 1);
}

// -- retryable failures -----------------------------------------------------------------

TEST_CASE("call_engine: each retryable failure is labelled and retried", "[call_engine]") {
  struct row {
    http_reply reply;
    const char* label;
    boost::json::object failed_payload;
    const char* reason;
  };
  auto c = GENERATE(values<row>({
    {status_reply(500),
     "retryable_failure",
     {{"status", 500}, {"error", "none"}, {"durationMs", 0}, {"retryable", true}},
     "HTTP 500"},
    {status_reply(503),
     "retryable_failure",
     {{"status", 503}, {"error", "none"}, {"durationMs", 0}, {"retryable", true}},
     "HTTP 503"},
    {status_reply(429),
     "retryable_failure",
     {{"status", 429}, {"error", "none"}, {"durationMs", 0}, {"retryable", true}},
     "HTTP 429"},
    {transport_failure(transport_error::timeout),
     "timeout",
     {{"status", 0}, {"error", "timeout"}, {"durationMs", 0}, {"retryable", true}},
     "timeout"},
    {transport_failure(transport_error::connect_failed, "connection refused"),
     "connection_error",
     {{"status", 0},
      {"error", "connect_failed"},
      {"message", "connection refused"},
      {"durationMs", 0},
      {"retryable", true}},
     "connect_failed"},
    {transport_failure(transport_error::connection_reset),
     "connection_error",
     {{"status", 0}, {"error", "connection_reset"}, {"durationMs", 0}, {"retryable", true}},
     "connection_reset"},
  }));
  rig r;
  r.start(1);
  auto out = r.reply(1, c.reply);

  CHECK(shape(out) == lines{"tally failed", "report closed", "event request_failed",
                            "tally retried", "event retry_scheduled", "schedule_retry"});
  CHECK(std::string{attempt_tally(out).outcome_label} == c.label);
  CHECK(only_event(out, "request_failed").payload == c.failed_payload);
  CHECK(only_event(out, "retry_scheduled").payload.at("reason") == c.reason);
  CHECK(only<schedule_retry>(out).call == 1);
}

TEST_CASE("call_engine: retries back off 2000, 4000, 8000 ms, then the call is exhausted",
          "[call_engine]") {
  rig r{patient_breaker()};
  r.start(1);
  const std::vector<http_reply> failures{status_reply(500), status_reply(503),
                                         transport_failure(transport_error::timeout)};
  const std::vector<millis> delays{2000ms, 4000ms, 8000ms};

  for (size_t i = 0; i < failures.size(); ++i) {
    int attempt = static_cast<int>(i) + 1;
    r.advance(100ms);
    auto out = r.reply(1, failures[i]);
    CHECK(shape(out) == lines{"tally failed", "report closed", "event request_failed",
                              "tally retried", "event retry_scheduled", "schedule_retry"});
    CHECK(only_event(out, "request_failed").attempt == attempt);
    auto scheduled = only_event(out, "retry_scheduled");
    CHECK(scheduled.attempt == attempt + 1);
    CHECK(scheduled.payload.at("delayMs") == delays[i].count());
    CHECK(only<schedule_retry>(out).delay == delays[i]);
    CHECK(all_of<tally_call>(out).back().what == tally_call::kind::retried);
    CHECK(r.engine.attempts_in_flight() == 0);

    r.advance(delays[i]);
    auto next = r.retry_timer(1);
    CHECK(shape(next) ==
          lines{"event request_started", std::string{"send "} + std::to_string(attempt + 1)});
    CHECK(only_event(next, "request_started").attempt == attempt + 1);
    CHECK(only<send_attempt>(next).attempt == attempt + 1);
  }

  r.advance(100ms);
  auto out = r.reply(1, transport_failure(transport_error::connect_failed, "refused"));
  CHECK(shape(out) ==
        lines{"tally failed", "report closed", "event request_failed", "finish exhausted"});
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.result == call_result::exhausted);
  CHECK(fin.outcome.attempts == 4);
  CHECK(fin.outcome.last_status == 0);
  CHECK(fin.outcome.detail == "4 attempt(s) failed, last: connect_failed");
  CHECK(r.engine.active_calls() == 0);
}

TEST_CASE("call_engine: failure events carry the call's context, breaker events do not",
          "[call_engine]") {
  service_settings s;
  s.circuit_breaker.failure_threshold = 1;
  rig r{s};
  auto call = order_call();
  // A notification's context names the announced order status "status", like
  // the HTTP status of request_failed.
  call.context["status"] = "ready";
  call.context["customerEmail"] = "a***@example.com";
  r.start(1, call);
  r.advance(30ms);
  auto out = r.reply(1, status_reply(500));

  // On a clash the engine's own member wins: request_failed keeps the HTTP status.
  CHECK(only_event(out, "request_failed").payload ==
        boost::json::object{{"status", 500},
                            {"error", "none"},
                            {"durationMs", 30},
                            {"retryable", true},
                            {"customerEmail", "a***@example.com"}});
  CHECK(only_event(out, "retry_scheduled").payload ==
        boost::json::object{{"delayMs", 2000},
                            {"reason", "HTTP 500"},
                            {"status", "ready"},
                            {"customerEmail", "a***@example.com"}});
  auto opened = only_event(out, "circuit_opened");
  CHECK(opened.trace_id == trace_1);
  CHECK(opened.order_id == "ord_1");
  CHECK(opened.attempt == 0);
  CHECK(opened.payload == boost::json::object{{"from", "closed"},
                                              {"to", "open"},
                                              {"reason", "1 consecutive failure"},
                                              {"consecutiveFailures", 1},
                                              {"breakDurationMs", 30000}});
}

// -- Retry-After ------------------------------------------------------------------------

TEST_CASE("call_engine: Retry-After raises the retry delay, capped by max_delay_ms",
          "[call_engine]") {
  auto s = patient_breaker();
  s.total_timeout_ms = 120000;
  s.retry.max_delay_ms = 30000;

  SECTION("delta seconds") {
    rig r{s};
    r.start(1);
    auto out = r.reply(1, with_retry_after(status_reply(503), "5"));
    CHECK(only<schedule_retry>(out).delay == 5000ms);
    CHECK(only_event(out, "retry_scheduled").payload.at("delayMs") == 5000);
  }
  SECTION("an HTTP-date, relative to the wall clock of the reply") {
    rig r{s};
    r.start(1);
    r.advance(100ms);
    // 12 s after the wall clock at t0, read 100 ms after t0.
    auto out = r.reply(1, with_retry_after(status_reply(503), "Tue, 24 Nov 2026 10:15:42 GMT"));
    CHECK(only<schedule_retry>(out).delay == 11900ms);
  }
  SECTION("capped by max_delay_ms") {
    rig r{s};
    r.start(1);
    CHECK(only<schedule_retry>(r.reply(1, with_retry_after(status_reply(429), "120"))).delay ==
          30000ms);
  }
  SECTION("shorter than the backoff: the backoff stays") {
    rig r{s};
    r.start(1);
    CHECK(only<schedule_retry>(r.reply(1, with_retry_after(status_reply(503), "1"))).delay ==
          2000ms);
  }
  SECTION("ignored unless honor_retry_after") {
    s.retry.honor_retry_after = false;
    rig r{s};
    r.start(1);
    CHECK(only<schedule_retry>(r.reply(1, with_retry_after(status_reply(503), "5"))).delay ==
          2000ms);
  }
}

// -- final failures ---------------------------------------------------------------------

TEST_CASE("call_engine: a final 4xx declines the call without a retry", "[call_engine]") {
  rig r;
  r.start(1);
  r.advance(40ms);
  auto out = r.reply(1, status_reply(402));

  // A 4xx means the service is up: the breaker has nothing to report.
  CHECK(shape(out) == lines{"tally failed", "event request_failed", "finish declined"});
  CHECK(std::string{attempt_tally(out).outcome_label} == "final_failure");
  CHECK(only_event(out, "request_failed").payload == boost::json::object{{"status", 402},
                                                                         {"error", "none"},
                                                                         {"durationMs", 40},
                                                                         {"retryable", false}});
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.result == call_result::declined);
  CHECK(fin.outcome.attempts == 1);
  CHECK(fin.outcome.last_status == 402);
  CHECK(fin.outcome.detail == "payment service answered HTTP 402");
  CHECK(r.engine.active_calls() == 0);
}

TEST_CASE("call_engine: a final 4xx is no breaker failure, a final 5xx is", "[call_engine]") {
  auto s = no_retries();
  s.circuit_breaker.failure_threshold = 2;
  rig r{s};

  fail_call(r, 1, status_reply(500));
  REQUIRE(r.engine.breaker().consecutive_failures() == 1);

  r.start(2);
  auto declined = r.reply(2, status_reply(400));
  // The 400 resets the consecutive count, which the board must see.
  CHECK(shape(declined) ==
        lines{"tally failed", "report closed", "event request_failed", "finish declined"});
  CHECK_FALSE(only<report_breaker>(declined).transition);
  CHECK(r.engine.breaker().consecutive_failures() == 0);

  fail_call(r, 3, status_reply(501));
  r.start(4);
  auto out = r.reply(4, status_reply(501));
  CHECK(shape(out) == lines{"tally failed", "event circuit_opened", "report open",
                            "event request_failed", "finish exhausted"});
  CHECK(only<finish_call>(out).outcome.detail == "payment service answered HTTP 501 (not retried)");
  CHECK(r.engine.breaker().state(r.clock.now) == circuit_state::open);
}

TEST_CASE("call_engine: a final 3xx or unlisted 5xx is an upstream error, not a decline",
          "[call_engine]") {
  for (int status : {301, 302, 501, 505, 599}) {
    INFO(status);
    rig r;
    r.start(1);
    auto out = r.reply(1, status_reply(status));
    auto fin = only<finish_call>(out);
    // Exhausted is what the API answers 502 upstream_error; nothing is retried.
    CHECK(fin.outcome.result == call_result::exhausted);
    CHECK(fin.outcome.attempts == 1);
    CHECK(fin.outcome.last_status == status);
    CHECK(shape(out).back() == "finish exhausted");
  }
}

TEST_CASE("call_engine: an attempt carries its deadline", "[call_engine]") {
  rig r;
  auto out = r.start(1);
  auto send = only<send_attempt>(out);
  REQUIRE(send.request.deadline);
  CHECK(*send.request.deadline == r.clock.now + send.request.timeout);
}

// -- the total budget -------------------------------------------------------------------

TEST_CASE("call_engine: a retry that would pass the total timeout ends the call", "[call_engine]") {
  auto s = patient_breaker();
  s.timeout_ms = 10000;
  s.total_timeout_ms = 30000;
  rig r{s};
  const auto timeout = transport_failure(transport_error::timeout);

  CHECK(only<send_attempt>(r.start(1)).request.timeout == 10000ms);
  r.advance(10000ms);
  r.advance(only<schedule_retry>(r.reply(1, timeout)).delay); // 12 s spent
  CHECK(only<send_attempt>(r.retry_timer(1)).request.timeout == 10000ms);
  r.advance(10000ms);
  r.advance(only<schedule_retry>(r.reply(1, timeout)).delay); // 26 s spent
  auto third = r.retry_timer(1);
  CHECK(only<send_attempt>(third).request.timeout == 4000ms);
  CHECK(only_event(third, "request_started").payload.at("timeoutMs") == 4000);
  r.advance(4000ms);

  // 8000 ms more would end at 38 s, past the 30 s budget.
  auto out = r.reply(1, timeout);
  CHECK(shape(out) ==
        lines{"tally failed", "report closed", "event request_failed", "finish timed_out"});
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.result == call_result::timed_out);
  CHECK(fin.outcome.attempts == 3);
  CHECK(fin.outcome.detail ==
        "total timeout of 30000 ms would be exceeded by the next retry; last: timeout");
  CHECK(r.engine.active_calls() == 0);
}

TEST_CASE("call_engine: a retry timer firing after the budget ends the call", "[call_engine]") {
  rig r{patient_breaker()};
  r.start(1);
  r.advance(100ms);
  REQUIRE(only<schedule_retry>(r.reply(1, status_reply(500))).delay == 2000ms);

  // The timer is late (a busy actor): the budget ends at exactly t0 + 30 s.
  r.advance(29900ms);
  auto out = r.retry_timer(1);
  CHECK(shape(out) == lines{"finish timed_out"});
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.result == call_result::timed_out);
  CHECK(fin.outcome.attempts == 1);
  CHECK(fin.outcome.detail == "total timeout of 30000 ms spent after 1 attempt(s)");
  CHECK(r.engine.active_calls() == 0);
}

// -- the bulkhead -----------------------------------------------------------------------

TEST_CASE("call_engine: a full bulkhead rejects a call without sending it", "[call_engine]") {
  service_settings s;
  s.max_connections = 1;
  rig r{s};
  r.start(1);

  auto out = r.start(2, order_call("ord_2", trace_2));
  CHECK(shape(out) == lines{"tally rejected", "event call_rejected", "finish overloaded"});
  auto ev = only_event(out, "call_rejected");
  CHECK(ev.order_id == "ord_2");
  CHECK(ev.trace_id == trace_2);
  CHECK(ev.attempt == 1);
  CHECK(ev.payload == boost::json::object{{"reason", "bulkhead full"}, {"maxConnections", 1}});
  auto fin = only<finish_call>(out);
  CHECK(fin.call == 2);
  CHECK(fin.outcome.result == call_result::overloaded);
  CHECK(fin.outcome.retry_after == 1000ms);
  CHECK(fin.outcome.attempts == 0);
  CHECK(fin.outcome.detail == "max_connections (1) calls already in flight");
  CHECK(r.engine.active_calls() == 1);
  CHECK(r.engine.attempts_in_flight() == 1);

  SECTION("a call waiting for its retry holds no connection") {
    r.reply(1, status_reply(500));
    CHECK(shape(r.start(3)) == lines{"event request_started", "send 1"});
    // Now the retry of call 1 finds the bulkhead full and is rejected instead.
    r.advance(2000ms);
    auto retry = r.retry_timer(1);
    CHECK(shape(retry) == lines{"tally rejected", "event call_rejected", "finish overloaded"});
    CHECK(only_event(retry, "call_rejected").attempt == 2);
    CHECK(only<finish_call>(retry).outcome.attempts == 1);
  }
}

// -- the retry budget ---------------------------------------------------------------------

namespace {

/// Budget 0.5 x first attempts, no floor, over 10 s; the breaker out of the way.
service_settings half_budget() {
  auto s = patient_breaker();
  s.retry.budget.ratio = 0.5;
  s.retry.budget.min_per_second = 0;
  return s;
}

} // namespace

TEST_CASE("call_engine: a retry over the budget is not made and ends the call",
          "[call_engine][budget]") {
  rig r{half_budget()};
  CHECK(shape(r.start(1)) == lines{"event request_started", "send 1", "load 32"});
  // One first attempt allows half a retry: none.
  auto out = r.reply(1, status_reply(500));
  CHECK(shape(out) == lines{"tally failed", "report closed", "event request_failed",
                            "tally retry_suppressed", "event retry_suppressed", "finish exhausted",
                            "load 32"});
  auto ev = only_event(out, "retry_suppressed");
  CHECK(ev.attempt == 2);
  CHECK(ev.payload.at("reason") == "HTTP 500");
  CHECK(ev.payload.at("retriesInWindow") == 0);
  CHECK(ev.payload.at("firstAttemptsInWindow") == 1);
  CHECK(ev.payload.at("allowance").as_double() == Approx(0.5));
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.attempts == 1);
  CHECK(fin.outcome.last_status == 500);
  CHECK(fin.outcome.detail ==
        "1 attempt(s) failed and the retry budget (0 retries in 10000 ms) allows no more; "
        "last: HTTP 500");

  SECTION("a second first attempt makes room for one retry") {
    r.start(2);
    auto retried = r.reply(2, status_reply(503));
    CHECK(all_of<schedule_retry>(retried).size() == 1);
    CHECK(r.engine.budget().usage(r.clock.now).retries == 1);
    r.start(3);
    CHECK(only<finish_call>(r.reply(3, status_reply(500))).outcome.result ==
          call_result::exhausted);
  }
  SECTION("a decline never asks the budget") {
    r.start(2);
    r.reply(2, status_reply(402));
    CHECK(r.engine.budget().usage(r.clock.now).retries == 0);
    CHECK(r.engine.budget().usage(r.clock.now).first_attempts == 2);
  }
}

TEST_CASE("call_engine: without a budget ratio nothing is counted or reported",
          "[call_engine][budget]") {
  rig r{patient_breaker()};
  CHECK(shape(r.start(1)) == lines{"event request_started", "send 1"});
  CHECK(all_of<report_load>(r.reply(1, status_reply(500))).empty());
  CHECK(r.engine.budget().usage(r.clock.now).first_attempts == 0);
}

TEST_CASE("call_engine: a successor carries the budget on", "[call_engine][budget]") {
  rig first{half_budget()};
  first.start(1);
  first.start(2);
  first.reply(1, status_reply(500)); // the one retry two first attempts allow
  learned_load carried{first.engine.budget(), first.engine.limiter()};
  auto s = half_budget();
  call_engine next{
    service_kind::payment, s, upstream_url, plain_hooks, circuit_breaker{s.circuit_breaker},
    std::nullopt,          7, first.clock,  carried};
  call_commands out;
  next.start(3, order_call("ord_3"), first.clock, out);
  out.clear();
  next.on_reply(3, status_reply(500), first.clock, out);
  // Three first attempts allow 1.5 retries, and the predecessor made one.
  CHECK(all_of<tally_call>(out).back().what == tally_call::kind::retry_suppressed);
}

// -- the adaptive concurrency limit -----------------------------------------------------

TEST_CASE("call_engine: over the adaptive limit a call is refused at once",
          "[call_engine][limiter]") {
  auto s = patient_breaker();
  s.max_connections = 8;
  s.adaptive_concurrency.enabled = true;
  s.adaptive_concurrency.min_limit = 2;
  s.adaptive_concurrency.initial_limit = 2;
  rig r{s};
  r.start(1);
  r.start(2, order_call("ord_2"));
  auto out = r.start(3, order_call("ord_3"));
  CHECK(shape(out) == lines{"tally rejected", "event call_rejected", "finish overloaded"});
  CHECK(only_event(out, "call_rejected").payload ==
        boost::json::object{{"reason", "concurrency limit"}, {"limit", 2}, {"maxConnections", 8}});
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.result == call_result::overloaded);
  CHECK(fin.outcome.retry_after == 1000ms);
  CHECK(fin.outcome.detail == "adaptive concurrency limit (2) of calls already in flight");

  // Fast replies with the limit in use raise it; the report carries the new limit.
  r.advance(5ms);
  auto fast = r.reply(1, status_reply(200));
  CHECK(only<report_load>(fast).limit == r.engine.limiter().limit());
  CHECK(r.engine.limiter().exact_limit() > 2.0);

  SECTION("an upstream shedding load (503) lowers it") {
    double before = r.engine.limiter().exact_limit();
    r.reply(2, status_reply(503));
    CHECK(r.engine.limiter().exact_limit() == Approx(std::max(2.0, before * 0.9)));
  }
  SECTION("a timeout lowers it") {
    double before = r.engine.limiter().exact_limit();
    r.reply(2, transport_failure(transport_error::timeout));
    CHECK(r.engine.limiter().exact_limit() == Approx(std::max(2.0, before * 0.9)));
  }
  SECTION("a 500 leaves it: a degraded upstream is not an overloaded one") {
    double before = r.engine.limiter().exact_limit();
    r.reply(2, status_reply(500));
    CHECK(r.engine.limiter().exact_limit() == Approx(before));
  }
}

// -- the circuit breaker ----------------------------------------------------------------

TEST_CASE("call_engine: consecutive failures open the breaker, which then rejects calls",
          "[call_engine]") {
  rig r{no_retries()}; // threshold 3, break 30 s
  fail_call(r, 1, status_reply(500));
  fail_call(r, 2, status_reply(500));
  r.start(3, order_call("ord_3"));
  r.advance(500ms);
  auto out = r.reply(3, status_reply(500));

  CHECK(shape(out) == lines{"tally failed", "event circuit_opened", "report open",
                            "event request_failed", "finish exhausted"});
  auto opened = only_event(out, "circuit_opened");
  CHECK(opened.service == "payment");
  CHECK(opened.order_id == "ord_3");
  CHECK(opened.payload == boost::json::object{{"from", "closed"},
                                              {"to", "open"},
                                              {"reason", "3 consecutive failures"},
                                              {"consecutiveFailures", 3},
                                              {"breakDurationMs", 30000}});
  auto report = only<report_breaker>(out);
  REQUIRE(report.transition);
  CHECK(report.transition->from == circuit_state::closed);
  CHECK(report.transition->to == circuit_state::open);
  CHECK(report.state == circuit_state::open);
  CHECK(r.engine.opened_at_ms() == epoch_at_t0 + 500);

  r.advance(1000ms);
  auto rejected = r.start(4, order_call("ord_4"));
  CHECK(shape(rejected) == lines{"tally rejected", "event call_rejected", "finish circuit_open"});
  auto ev = only_event(rejected, "call_rejected");
  CHECK(ev.order_id == "ord_4");
  CHECK(ev.payload == boost::json::object{{"reason", "circuit open"}, {"retryAfterMs", 29000}});
  auto fin = only<finish_call>(rejected);
  CHECK(fin.outcome.result == call_result::circuit_open);
  CHECK(fin.outcome.retry_after == 29000ms);
  CHECK(fin.outcome.attempts == 0);
  CHECK(fin.outcome.detail == "the payment circuit is open");

  r.advance(29000ms);
  auto probe = r.start(5, order_call("ord_5"));
  CHECK(shape(probe) ==
        lines{"event circuit_half_opened", "report half_open", "event request_started", "send 1"});
  CHECK(only_event(probe, "circuit_half_opened").payload ==
        boost::json::object{{"from", "open"},
                            {"to", "half_open"},
                            {"reason", "break elapsed"},
                            {"consecutiveFailures", 3}});
  CHECK(only<report_breaker>(probe).transition->to == circuit_state::half_open);

  SECTION("a second call while the probe is out is rejected") {
    auto second = r.start(6, order_call("ord_6"));
    CHECK(shape(second) == lines{"tally rejected", "event call_rejected", "finish circuit_open"});
    CHECK(only<finish_call>(second).outcome.retry_after == 30000ms);
  }
  SECTION("the probe succeeds: the breaker closes") {
    auto closed = r.reply(5, status_reply(200));
    CHECK(shape(closed) == lines{"tally succeeded", "event circuit_closed", "report closed",
                                 "event request_succeeded", "finish succeeded"});
    CHECK(only_event(closed, "circuit_closed").payload ==
          boost::json::object{{"from", "half_open"},
                              {"to", "closed"},
                              {"reason", "probe succeeded"},
                              {"consecutiveFailures", 0}});
    CHECK(r.engine.opened_at_ms() == std::nullopt);
    CHECK(shape(r.start(7)) == lines{"event request_started", "send 1"});
  }
  SECTION("the probe fails: the breaker opens again") {
    r.advance(200ms);
    auto reopened = r.reply(5, status_reply(503));
    CHECK(shape(reopened) == lines{"tally failed", "event circuit_opened", "report open",
                                   "event request_failed", "finish exhausted"});
    CHECK(only_event(reopened, "circuit_opened").payload ==
          boost::json::object{{"from", "half_open"},
                              {"to", "open"},
                              {"reason", "probe failed"},
                              {"consecutiveFailures", 4},
                              {"breakDurationMs", 30000}});
    CHECK(r.engine.opened_at_ms() == r.clock.epoch_ms);
    CHECK(shape(r.start(7)) ==
          lines{"tally rejected", "event call_rejected", "finish circuit_open"});
  }
}

TEST_CASE("call_engine: a breaker that opens mid-call rejects that call's retry", "[call_engine]") {
  rig r; // threshold 3, 3 retries
  fail_call(r, 1, status_reply(500), 3);
  REQUIRE(r.engine.breaker().state(r.clock.now) == circuit_state::open);

  r.advance(8000ms);
  auto out = r.retry_timer(1);
  CHECK(shape(out) == lines{"tally rejected", "event call_rejected", "finish circuit_open"});
  CHECK(only_event(out, "call_rejected").attempt == 4);
  auto fin = only<finish_call>(out);
  CHECK(fin.outcome.attempts == 3);
  CHECK(fin.outcome.retry_after == 22000ms);
}

TEST_CASE("call_engine: isolate holds the breaker open until reset", "[call_engine]") {
  rig r;
  auto isolated = r.apply(circuit_action::isolate);
  CHECK(shape(isolated) == lines{"event circuit_opened", "report open"});
  auto ev = only_event(isolated, "circuit_opened");
  // An operator's action concerns no call.
  CHECK(ev.trace_id.empty());
  CHECK(ev.order_id.empty());
  CHECK(ev.attempt == 0);
  CHECK(ev.payload == boost::json::object{{"from", "closed"},
                                          {"to", "open"},
                                          {"reason", "isolated"},
                                          {"consecutiveFailures", 0},
                                          {"breakDurationMs", 30000}});
  auto report = only<report_breaker>(isolated);
  REQUIRE(report.transition);
  CHECK(report.transition->to == circuit_state::open);
  CHECK(r.engine.opened_at_ms() == epoch_at_t0);

  // Long after a break would have elapsed, the isolated breaker still rejects.
  r.advance(120s);
  auto rejected = r.start(1);
  CHECK(shape(rejected) == lines{"tally rejected", "event call_rejected", "finish circuit_open"});
  CHECK(only<finish_call>(rejected).outcome.retry_after == 30000ms);

  CHECK(r.apply(circuit_action::isolate).empty());

  auto reset = r.apply(circuit_action::reset);
  CHECK(shape(reset) == lines{"event circuit_closed", "report closed"});
  CHECK(only_event(reset, "circuit_closed").payload ==
        boost::json::object{
          {"from", "open"}, {"to", "closed"}, {"reason", "reset"}, {"consecutiveFailures", 0}});
  CHECK(only<report_breaker>(reset).transition->to == circuit_state::closed);
  CHECK(r.engine.opened_at_ms() == std::nullopt);
  CHECK(shape(r.start(2)) == lines{"event request_started", "send 1"});
}

TEST_CASE("call_engine: report_breaker only when something visible changed", "[call_engine]") {
  SECTION("outcomes on a closed breaker") {
    rig r{no_retries()};
    r.start(1);
    CHECK(all_of<report_breaker>(r.reply(1, status_reply(200))).empty());

    r.start(2);
    auto first = only<report_breaker>(r.reply(2, status_reply(500)));
    CHECK_FALSE(first.transition);
    CHECK(first.state == circuit_state::closed);

    r.start(3);
    CHECK(all_of<report_breaker>(r.reply(3, status_reply(502))).size() == 1);

    // Back to 0 consecutive failures is a change too; a second success is not.
    r.start(4);
    CHECK(all_of<report_breaker>(r.reply(4, status_reply(200))).size() == 1);
    r.start(5);
    CHECK(all_of<report_breaker>(r.reply(5, status_reply(200))).empty());
  }
  SECTION("operator actions that change nothing") {
    rig r;
    CHECK(r.apply(circuit_action::reset).empty());
  }
  SECTION("a reset of a closed breaker that counted failures") {
    rig r{no_retries()};
    fail_call(r, 1, status_reply(500));
    auto out = r.apply(circuit_action::reset);
    CHECK(shape(out) == lines{"report closed"});
    CHECK_FALSE(only<report_breaker>(out).transition);
  }
  SECTION("isolating a breaker already open is reported without a transition") {
    rig r{no_retries()};
    for (uint64_t id = 1; id <= 3; ++id)
      fail_call(r, id, status_reply(500));
    auto out = r.apply(circuit_action::isolate);
    CHECK(shape(out) == lines{"report open"});
    CHECK_FALSE(only<report_breaker>(out).transition);
  }
  SECTION("in ratio mode every outcome moves the window a successor resumes from") {
    auto s = no_retries();
    s.circuit_breaker.failure_ratio = 0.5;
    rig r{s};
    r.start(1);
    auto out = r.reply(1, status_reply(200));
    CHECK(shape(out) ==
          lines{"tally succeeded", "report closed", "event request_succeeded", "finish succeeded"});
  }
}

TEST_CASE("call_engine: an engine started from an open snapshot rejects at once", "[call_engine]") {
  service_settings s;
  circuit_breaker snapshot{s.circuit_breaker};
  for (int i = 0; i < 3; ++i) {
    REQUIRE(snapshot.try_acquire(t0 - 5s).allowed);
    snapshot.on_failure(t0 - 5s);
  }
  REQUIRE(snapshot.state(t0) == circuit_state::open);

  rig r{service_kind::payment, s, plain_hooks, snapshot, epoch_at_t0 - 5000};
  CHECK(r.engine.opened_at_ms() == epoch_at_t0 - 5000);
  // The restart itself reported nothing new: the state is the predecessor's.
  auto out = r.start(1);
  CHECK(shape(out) == lines{"tally rejected", "event call_rejected", "finish circuit_open"});
  CHECK(only_event(out, "call_rejected").payload ==
        boost::json::object{{"reason", "circuit open"}, {"retryAfterMs", 25000}});
}

TEST_CASE("call_engine: probes in flight in a half-open snapshot are forgotten", "[call_engine]") {
  service_settings s;
  circuit_breaker snapshot{s.circuit_breaker};
  for (int i = 0; i < 3; ++i) {
    REQUIRE(snapshot.try_acquire(t0 - 40s).allowed);
    snapshot.on_failure(t0 - 40s);
  }
  // The predecessor admitted its one probe, then died before its reply.
  REQUIRE(snapshot.try_acquire(t0 - 1s).allowed);
  REQUIRE_FALSE(circuit_breaker{snapshot}.try_acquire(t0).allowed);

  rig r{service_kind::payment, s, plain_hooks, snapshot, epoch_at_t0 - 40000};
  CHECK(shape(r.start(1)) == lines{"event request_started", "send 1"});
  CHECK(r.engine.breaker().state(r.clock.now) == circuit_state::half_open);
}

// -- service hooks ----------------------------------------------------------------------

TEST_CASE("call_engine: a service's on_finished events come before finish_call", "[call_engine]") {
  notification_like_hooks hooks;
  auto s = no_retries();
  s.max_connections = 1;
  rig r{s, hooks, service_kind::notification};
  auto call = order_call("ord_1", trace_1, false);
  call.context["status"] = "ready";

  SECTION("sent") {
    r.start(1, call);
    auto out = r.reply(1, status_reply(200));
    CHECK(shape(out) == lines{"tally succeeded", "event request_succeeded",
                              "event notification_sent", "finish succeeded"});
    auto sent = only_event(out, "notification_sent");
    CHECK(sent.service == "notification");
    CHECK(sent.attempt == 1);
    CHECK(sent.payload == boost::json::object{{"attempts", 1}, {"status", "ready"}});
  }
  SECTION("declined") {
    r.start(1, call);
    auto out = r.reply(1, status_reply(400));
    CHECK(shape(out) == lines{"tally failed", "event request_failed", "event notification_failed",
                              "finish declined"});
    CHECK(only_event(out, "notification_failed").payload ==
          boost::json::object{{"attempts", 1},
                              {"reason", "notification service answered HTTP 400"},
                              {"status", "ready"}});
  }
  SECTION("rejected before any attempt") {
    r.start(1, call);
    auto out = r.start(2, call);
    CHECK(shape(out) == lines{"tally rejected", "event call_rejected", "event notification_failed",
                              "finish overloaded"});
    CHECK(only_event(out, "notification_failed").payload.at("attempts") == 0);
  }
}

// -- inputs to ignore -------------------------------------------------------------------

TEST_CASE("call_engine: inputs for no live attempt are ignored", "[call_engine]") {
  rig r{patient_breaker()};

  CHECK(r.reply(99, status_reply(200)).empty());
  CHECK(r.retry_timer(99).empty());

  r.start(1);
  // A start for an id already running keeps the running call.
  CHECK(r.start(1, order_call("ord_other")).empty());
  CHECK(r.engine.attempts_in_flight() == 1);
  // A timer while the attempt is out (a stale duplicate) sends nothing.
  CHECK(r.retry_timer(1).empty());

  r.reply(1, status_reply(500));
  // Waiting for the retry, no attempt is in flight: a late reply changes nothing.
  CHECK(r.reply(1, status_reply(200)).empty());
  CHECK(r.engine.active_calls() == 1);

  r.advance(2000ms);
  auto send = only<send_attempt>(r.retry_timer(1));
  CHECK(send.attempt == 2);
  CHECK(header(send.request, "Idempotency-Key") == "ord_1");
  CHECK(only<finish_call>(r.reply(1, status_reply(200))).outcome.attempts == 2);

  CHECK(r.retry_timer(1).empty());
  CHECK(r.reply(1, status_reply(500)).empty());
  CHECK(r.engine.active_calls() == 0);
}

// -- concurrent calls -------------------------------------------------------------------

TEST_CASE("call_engine: concurrent calls do not mix their replies or retries", "[call_engine]") {
  rig r{patient_breaker()};
  auto first = only<send_attempt>(r.start(1, order_call("ord_1", trace_1)));
  auto second = only<send_attempt>(r.start(2, order_call("ord_2", trace_2)));
  CHECK(header(first.request, "traceparent").substr(3, 32) == trace_1);
  CHECK(header(second.request, "traceparent").substr(3, 32) == trace_2);
  CHECK(r.engine.attempts_in_flight() == 2);

  r.advance(100ms);
  auto failed = r.reply(2, status_reply(503));
  CHECK(only<schedule_retry>(failed).call == 2);
  for (const auto& e : all_of<emit_event>(failed))
    CHECK(e.event.order_id == "ord_2");

  r.advance(100ms);
  auto done = r.reply(1, status_reply(200));
  auto fin_1 = only<finish_call>(done);
  CHECK(fin_1.call == 1);
  CHECK(fin_1.outcome.attempts == 1);
  CHECK(only_event(done, "request_succeeded").payload.at("durationMs") == 200);

  r.advance(1900ms);
  auto retry = only<send_attempt>(r.retry_timer(2));
  CHECK(retry.call == 2);
  CHECK(retry.attempt == 2);
  CHECK(retry.request.body == second.request.body);
  CHECK(header(retry.request, "Idempotency-Key") == "ord_2");

  auto fin_2 = only<finish_call>(r.reply(2, status_reply(200)));
  CHECK(fin_2.call == 2);
  CHECK(fin_2.outcome.attempts == 2);
  CHECK(r.engine.active_calls() == 0);
}

// -- spans (CONTRACT §9) ------------------------------------------------------------

namespace {

const attribute_value* attr_of(const span& s, const std::string& key) {
  for (const auto& a : s.attributes)
    if (a.key == key)
      return &a.value;
  return nullptr;
}

std::vector<span> spans_of(const call_commands& out) {
  std::vector<span> picked;
  for (const auto& e : all_of<export_span>(out))
    picked.push_back(e.finished);
  return picked;
}

} // namespace

TEST_CASE("call_engine: each attempt's client span is the one its traceparent names",
          "[call_engine][spans]") {
  rig r{patient_breaker()};
  auto call = order_call();
  call.parent_span_id = "00f067aa0ba902b7";
  auto first = only<send_attempt>(r.start(1, call));
  r.advance(120ms);
  auto out = r.reply(1, status_reply(503));
  auto client_1 = spans_of(out);
  REQUIRE(client_1.size() == 1);
  const auto& c1 = client_1[0];
  CHECK(header(first.request, "traceparent") == "00-" + trace_1 + "-" + c1.span_id + "-01");
  CHECK(c1.trace_id == trace_1);
  CHECK(c1.kind == span_kind::client);
  CHECK(c1.name == "POST");
  CHECK(c1.start_ns == epoch_at_t0 * 1'000'000);
  CHECK(c1.end_ns == (epoch_at_t0 + 120) * 1'000'000);
  CHECK(std::get<std::string>(*attr_of(c1, "http.request.method")) == "POST");
  CHECK(std::get<std::string>(*attr_of(c1, "url.full")) == upstream_url);
  CHECK(std::get<int64_t>(*attr_of(c1, "http.response.status_code")) == 503);
  CHECK(std::get<std::string>(*attr_of(c1, "error.type")) == "503");
  CHECK(std::get<int64_t>(*attr_of(c1, "coffeeshop.attempt")) == 1);
  CHECK(std::get<std::string>(*attr_of(c1, "coffeeshop.circuit.state")) == "closed");
  CHECK(c1.status == span_status::error);

  r.advance(only<schedule_retry>(out).delay);
  auto second = only<send_attempt>(r.retry_timer(1));
  auto done = r.reply(1, status_reply(201));
  auto last = spans_of(done);
  REQUIRE(last.size() == 2); // the second attempt's, then the call's
  const auto& c2 = last[0];
  const auto& call_span = last[1];
  CHECK(header(second.request, "traceparent") == "00-" + trace_1 + "-" + c2.span_id + "-01");
  CHECK(c2.span_id != c1.span_id);
  CHECK(c2.status == span_status::unset);
  CHECK(attr_of(c2, "error.type") == nullptr);
  CHECK(std::get<int64_t>(*attr_of(c2, "coffeeshop.attempt")) == 2);

  // The tree: request span -> call span -> one client span per attempt.
  CHECK(call_span.kind == span_kind::internal);
  CHECK(call_span.name == "payment call");
  CHECK(call_span.parent_span_id == "00f067aa0ba902b7");
  CHECK(c1.parent_span_id == call_span.span_id);
  CHECK(c2.parent_span_id == call_span.span_id);
  CHECK(call_span.start_ns == c1.start_ns);
  CHECK(call_span.end_ns == c2.end_ns);
  CHECK(call_span.status == span_status::unset);
  CHECK(std::get<int64_t>(*attr_of(call_span, "coffeeshop.attempts")) == 2);
  CHECK(std::get<std::string>(*attr_of(call_span, "coffeeshop.outcome")) == "succeeded");
  CHECK(std::get<std::string>(*attr_of(call_span, "coffeeshop.order_id")) == "ord_1");
  // The retry is an event of the call span, at the time it was scheduled.
  REQUIRE(call_span.events.size() == 1);
  const auto& ev = call_span.events[0];
  CHECK(ev.name == "retry_scheduled");
  CHECK(ev.time_ns == c1.end_ns);
  CHECK(std::get<int64_t>(ev.attributes.at(0).value) == 2);
  CHECK(std::get<int64_t>(ev.attributes.at(1).value) == 2000);
}

TEST_CASE("call_engine: transport errors and success:false name their error.type",
          "[call_engine][spans]") {
  payment_like_hooks hooks;
  rig r{patient_breaker(), hooks};
  r.start(1);
  auto timeout = spans_of(
    r.reply(1, transport_failure(transport_error::timeout, "read timed out")));
  REQUIRE(timeout.size() == 1);
  CHECK(attr_of(timeout[0], "http.response.status_code") == nullptr);
  CHECK(std::get<std::string>(*attr_of(timeout[0], "error.type")) == "timeout");
  CHECK(timeout[0].status_message == "read timed out");
  r.advance(2000ms);
  r.retry_timer(1);
  auto declined = spans_of(r.reply(1, status_reply(200, R"({"success":false})")));
  CHECK(std::get<std::string>(*attr_of(declined.at(0), "error.type")) == "success_false");
}

TEST_CASE("call_engine: a failed call's span is an error and breaker moves are its events",
          "[call_engine][spans]") {
  service_settings s = no_retries();
  s.circuit_breaker.failure_threshold = 1;
  rig r{s};
  r.start(1);
  auto spans = spans_of(r.reply(1, status_reply(500)));
  REQUIRE(spans.size() == 2);
  const auto& call_span = spans[1];
  CHECK(call_span.status == span_status::error);
  CHECK(call_span.status_message == "1 attempt(s) failed, last: HTTP 500");
  CHECK(std::get<std::string>(*attr_of(call_span, "coffeeshop.outcome")) == "exhausted");
  REQUIRE(call_span.events.size() == 1);
  CHECK(call_span.events[0].name == "circuit_opened");
  CHECK(std::get<std::string>(call_span.events[0].attributes.at(1).value) == "open");

  // The next call is refused unsent: a call span with no client span under it.
  auto refused = spans_of(r.start(2, order_call("ord_2", trace_2)));
  REQUIRE(refused.size() == 1);
  CHECK(refused[0].trace_id == trace_2);
  CHECK(refused[0].parent_span_id.empty());
  CHECK(refused[0].status == span_status::error);
  CHECK(std::get<std::string>(*attr_of(refused[0], "coffeeshop.outcome")) == "circuit_open");
  REQUIRE(refused[0].events.size() == 1);
  CHECK(refused[0].events[0].name == "call_rejected");
}

TEST_CASE("call_engine: a client span records the circuit state its attempt was sent in",
          "[call_engine][spans]") {
  service_settings s = no_retries();
  s.circuit_breaker.failure_threshold = 1;
  s.circuit_breaker.break_duration_ms = 1000;
  rig r{s};
  r.start(1);
  r.reply(1, status_reply(500));
  r.advance(1000ms);
  r.start(2); // the half-open probe
  auto probe = spans_of(r.reply(2, status_reply(201)));
  REQUIRE(probe.size() == 2);
  CHECK(std::get<std::string>(*attr_of(probe[0], "coffeeshop.circuit.state")) == "half_open");
  // The probe's call span saw the breaker half-open and close.
  REQUIRE(probe[1].events.size() == 2);
  CHECK(probe[1].events[0].name == "circuit_half_opened");
  CHECK(probe[1].events[1].name == "circuit_closed");
}
