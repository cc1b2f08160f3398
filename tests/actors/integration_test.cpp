// Payment and notification actors on virtual time with a scripted transport.

#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <set>

using namespace cstest;

namespace {

/// Defaults with the consecutive-failure breaker effectively off, so retry
/// timing can be observed without the breaker cutting in.
service_settings no_breaker() {
  auto s = payment_settings();
  s.circuit_breaker.failure_threshold = 1000;
  return s;
}

/// max_retries 0: one attempt per call, so each call is one breaker sample.
service_settings single_attempt() {
  auto s = payment_settings();
  s.retry.max_retries = 0;
  return s;
}

/// Ratio mode (consecutive rule effectively off): opens at a 0.5 failure ratio over at
/// least 4 single-attempt calls within `window_ms`.
service_settings ratio_mode(int64_t window_ms) {
  auto s = single_attempt();
  s.circuit_breaker.failure_threshold = 100;
  s.circuit_breaker.failure_ratio = 0.5;
  s.circuit_breaker.min_throughput = 4;
  s.circuit_breaker.sampling_window_ms = window_ms;
  return s;
}

struct payment_fixture : service_fixture {
  caf::actor pay;

  void start(const service_settings& s) {
    start_transport(s);
    pay = spawn_payment(s, transport);
  }

  slot_ptr<call_outcome> charge_order(const std::string& id,
                                      const std::string& trace = std::string(32, 'a')) {
    auto slot = ask<call_outcome>(pay, call_atom::value, charge(id, trace));
    run();
    return slot;
  }

  /// charge_order(id), which must be answered with `expected`.
  slot_ptr<call_outcome> charge_expecting(const std::string& id, call_result expected) {
    auto slot = charge_order(id);
    INFO("order " << id);
    REQUIRE(slot->value);
    CHECK(slot->value->result == expected);
    return slot;
  }

  /// Charges "ord-<first>" .. "ord-<last>", one after the other; each must get a reply.
  void charge_orders(int first, int last) {
    for (int i = first; i <= last; ++i) {
      INFO("order ord-" << i);
      REQUIRE(charge_order("ord-" + std::to_string(i))->value);
    }
  }

  /// (circuit_atom, action) to the payment actor; the reply slot is filled on return.
  slot_ptr<integration_view> circuit_command(circuit_action action) {
    auto view = ask<integration_view>(pay, circuit_atom::value, action);
    run();
    return view;
  }
};

std::string trace_of(const std::string& traceparent) {
  // 00-<32 trace>-<16 span>-<2 flags>
  REQUIRE(traceparent.size() == 55);
  return traceparent.substr(3, 32);
}

std::string span_of(const std::string& traceparent) { return traceparent.substr(36, 16); }

} // namespace

// -- retries ------------------------------------------------------------------------

TEST_CASE_METHOD(payment_fixture, "payment: retries 2 s, 4 s, 8 s after failures, then exhausted",
                 "[payment][retry]") {
  start(no_breaker());
  script->fallback = respond(500, R"({"error":"boom"})");
  auto out = charge_order("ord-1");
  REQUIRE(calls() == 1);
  CHECK(script->calls[0].at == 0ms);

  advance(1999ms);
  CHECK(calls() == 1);
  advance(1ms);
  REQUIRE(calls() == 2);
  CHECK(script->calls[1].at == 2000ms);

  advance(3999ms);
  CHECK(calls() == 2);
  advance(1ms);
  REQUIRE(calls() == 3);
  CHECK(script->calls[2].at == 6000ms);

  advance(7999ms);
  CHECK(calls() == 3);
  CHECK_FALSE(out->done());
  advance(1ms);
  REQUIRE(calls() == 4);
  CHECK(script->calls[3].at == 14000ms);

  REQUIRE(out->value);
  CHECK(out->value->result == call_result::exhausted);
  CHECK(out->value->attempts == 4);
  CHECK(out->value->last_status == 500);

  advance(60000ms);
  CHECK(calls() == 4);
}

TEST_CASE_METHOD(
  payment_fixture,
  "payment: with the default breaker the 4th attempt is cut short by the open circuit",
  "[payment][retry][breaker]") {
  start(payment_settings());
  script->fallback = respond(503);
  auto out = charge_order("ord-1");
  advance(20000ms);
  CHECK(calls() == 3);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::circuit_open);
  CHECK(out->value->attempts == 3);
  CHECK(count_events("circuit_opened", "payment") == 1);
}

TEST_CASE_METHOD(payment_fixture, "payment: final 4xx are not retried", "[payment][retry]") {
  auto status = GENERATE(400, 402, 404, 409, 422);
  start(no_breaker());
  script->fallback = respond(status, R"({"error":"declined"})");
  auto out = charge_expecting("ord-1", call_result::declined);
  CHECK(out->value->attempts == 1);
  CHECK(out->value->last_status == status);
  advance(30000ms);
  CHECK(calls() == 1);
  CHECK(count_events("retry_scheduled") == 0);
}

TEST_CASE_METHOD(payment_fixture, "payment: retryable statuses and transport errors are retried",
                 "[payment][retry]") {
  auto first = GENERATE(respond(408), respond(429), respond(500), respond(502), respond(503),
                        respond(504), fail_transport(transport_error::connect_failed),
                        fail_transport(transport_error::connection_reset),
                        fail_transport(transport_error::timeout));
  start(no_breaker());
  script->queue = {first, respond_ok()};
  auto out = charge_order("ord-1");
  CHECK_FALSE(out->done());
  advance(2000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  CHECK(out->value->attempts == 2);
  CHECK(calls() == 2);
}

TEST_CASE_METHOD(payment_fixture, "payment: a 2xx with success:false is retried",
                 "[payment][retry]") {
  start(no_breaker());
  script->queue = {respond(200, R"({"success":false,"message":"insufficient funds"})"),
                   respond(201, R"({"success":true,"transactionId":"tx-9"})")};
  auto out = charge_order("ord-1");
  CHECK_FALSE(out->done());
  advance(1999ms);
  CHECK(calls() == 1);
  advance(1ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  CHECK(out->value->attempts == 2);
  CHECK(out->value->reference == std::optional<std::string>{"tx-9"});
  auto failed = events("request_failed", "payment");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("payload").at("retryable").as_bool());
}

TEST_CASE_METHOD(payment_fixture, "payment: Retry-After on a 503 stretches the next delay",
                 "[payment][retry]") {
  start(no_breaker());
  script->queue = {respond(503, "{}", std::string{"5"}), respond_ok()};
  auto out = charge_order("ord-1");
  advance(4999ms);
  CHECK(calls() == 1);
  advance(1ms);
  REQUIRE(calls() == 2);
  CHECK(script->calls[1].at == 5000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  auto sched_ev = events("retry_scheduled", "payment");
  REQUIRE(sched_ev.size() == 1);
  CHECK(sched_ev[0].at("payload").at("delayMs").as_int64() == 5000);
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: a Retry-After shorter than the backoff does not shorten it",
                 "[payment][retry]") {
  start(no_breaker());
  script->queue = {respond(429, "{}", std::string{"1"}), respond_ok()};
  auto out = charge_order("ord-1");
  advance(1999ms);
  CHECK(calls() == 1);
  advance(1ms);
  CHECK(calls() == 2);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: every attempt carries the same Idempotency-Key and trace id",
                 "[payment][headers]") {
  start(no_breaker());
  script->queue = {respond(500), respond(502), respond(503)};
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  auto out = charge_order("ord-42", trace);
  advance(14000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  REQUIRE(calls() == 4);
  std::set<std::string> spans;
  for (const auto& c : script->calls) {
    CHECK(c.call.url == "http://upstream.test/pay");
    CHECK(c.header("Idempotency-Key") == std::optional<std::string>{"ord-42"});
    CHECK(c.header("Content-Type") == std::optional<std::string>{"application/json"});
    auto tp = c.header("traceparent");
    REQUIRE(tp);
    CHECK(tp->substr(0, 3) == "00-");
    CHECK(trace_of(*tp) == trace);
    spans.insert(span_of(*tp));
    auto body = boost::json::parse(c.call.body).as_object();
    CHECK(body.at("orderId").as_string() == "ord-42");
    CHECK(body.at("amount").to_number<double>() == Approx(4.5));
    CHECK(body.at("currency").as_string() == "USD");
    CHECK(body.at("paymentMethod").as_string() == "credit_card");
  }
  CHECK(spans.size() == 4); // a fresh span per attempt
}

TEST_CASE_METHOD(payment_fixture, "payment: trio format sends only the value", "[payment]") {
  auto s = no_breaker();
  s.format = wire_format::trio;
  start(s);
  auto out = charge_order("ord-1");
  REQUIRE(out->value);
  REQUIRE(calls() == 1);
  CHECK(boost::json::parse(script->calls[0].call.body) == boost::json::parse(R"({"value":4.5})"));
}

// -- deadlines --------------------------------------------------------------------

TEST_CASE_METHOD(payment_fixture, "payment: the total budget stops further attempts",
                 "[payment][deadline]") {
  auto s = no_breaker();
  s.total_timeout_ms = 5000;
  start(s);
  script->fallback = respond(500);
  auto out = charge_order("ord-1");
  advance(2000ms);
  CHECK(calls() == 2);
  // The next retry would start at 6000 ms, after the 5000 ms budget.
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::timed_out);
  CHECK(out->value->attempts == 2);
  advance(30000ms);
  CHECK(calls() == 2);
}

TEST_CASE_METHOD(payment_fixture, "payment: an attempt's timeout is clipped to the budget left",
                 "[payment][deadline]") {
  auto s = no_breaker();
  s.total_timeout_ms = 5000;
  s.timeout_ms = 4000;
  start(s);
  script->fallback = respond(500);
  auto out = charge_order("ord-1");
  advance(2000ms);
  REQUIRE(calls() == 2);
  CHECK(script->calls[0].call.timeout == 4000ms);
  CHECK(script->calls[1].call.timeout == 3000ms);
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: a hanging transport times out (timeout + 2 s grace) and is retried",
                 "[payment][deadline]") {
  auto s = no_breaker();
  s.timeout_ms = 1000;
  start(s);
  script->queue = {hang(), respond_ok()};
  auto out = charge_order("ord-1");
  REQUIRE(calls() == 1);
  CHECK(script->calls[0].call.timeout == 1000ms);
  advance(2999ms);
  CHECK_FALSE(out->done());
  CHECK(count_events("request_failed") == 0);
  advance(1ms);
  auto failed = events("request_failed", "payment");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("payload").at("error").as_string() == "timeout");
  CHECK(calls() == 1);
  advance(1999ms);
  CHECK(calls() == 1);
  advance(1ms);
  REQUIRE(calls() == 2);
  CHECK(script->calls[1].at == 5000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  CHECK(out->value->attempts == 2);
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: hanging attempts started apart each expire at their own time",
                 "[payment][deadline]") {
  // One expiry timer serves all attempts in flight: after the first expires it must be set
  // again for the next one, not for the next attempt sent.
  auto s = no_breaker();
  s.timeout_ms = 1000;
  s.retry.max_retries = 0;
  start(s);
  script->fallback = hang();
  auto first = charge_order("ord-1");
  advance(500ms);
  auto second = charge_order("ord-2");
  REQUIRE(calls() == 2);
  advance(2499ms); // t = 2999
  CHECK_FALSE(first->done());
  advance(1ms);
  REQUIRE(first->value);
  CHECK(first->value->result == call_result::exhausted);
  CHECK_FALSE(second->done());
  advance(499ms); // t = 3499
  CHECK_FALSE(second->done());
  advance(1ms);
  REQUIRE(second->value);
  CHECK(second->value->result == call_result::exhausted);
  CHECK(count_events("request_failed") == 2);
}

TEST_CASE_METHOD(payment_fixture, "payment: a late reply to a timed-out attempt is ignored",
                 "[payment][deadline]") {
  auto s = no_breaker();
  s.timeout_ms = 1000;
  start(s);
  script->queue = {hang(), hang(), respond_ok()};
  auto out = charge_order("ord-1");
  advance(3000ms); // attempt 1 timed out
  // The upstream finally answers the first attempt, successfully: too late.
  anon_send(transport, release_atom::value, respond_ok().reply);
  run();
  CHECK_FALSE(out->done());
  advance(2000ms);
  CHECK(calls() == 2);
  CHECK_FALSE(out->done());
}

// -- circuit breaker ----------------------------------------------------------------

TEST_CASE_METHOD(payment_fixture, "payment: the breaker opens on the 3rd consecutive failure",
                 "[payment][breaker]") {
  start(single_attempt());
  script->fallback = respond(500);
  for (int i = 1; i <= 3; ++i) {
    auto out = charge_order("ord-" + std::to_string(i));
    REQUIRE(out->value);
    CHECK(out->value->result == call_result::exhausted);
    CHECK(out->value->attempts == 1);
    CHECK(count_events("circuit_opened") == (i == 3 ? 1u : 0u));
  }
  auto rejected = charge_expecting("ord-4", call_result::circuit_open);
  CHECK(rejected->value->attempts == 0);
  CHECK(rejected->value->retry_after == 30000ms);
  CHECK(calls() == 3);

  auto opened = events("circuit_opened", "payment");
  REQUIRE(opened.size() == 1);
  CHECK(opened[0].at("payload").at("to").as_string() == "open");
  CHECK(opened[0].at("payload").at("consecutiveFailures").as_int64() == 3);
  auto rej = events("call_rejected", "payment");
  REQUIRE(rej.size() == 1);
  CHECK(rej[0].at("payload").at("reason").as_string() == "circuit open");
  CHECK(event_attempt(rej[0]) == 1);
  CHECK(deps.board->snapshot(service_kind::payment).breaker.state(sched.clock().now()) ==
        circuit_state::open);
}

TEST_CASE_METHOD(payment_fixture, "payment: a success resets the consecutive count",
                 "[payment][breaker]") {
  start(single_attempt());
  script->queue = {respond(500), respond(500), respond_ok(), respond(500), respond(500)};
  charge_orders(1, 5);
  charge_expecting("ord-6", call_result::succeeded);
  CHECK(calls() == 6);
  CHECK(count_events("circuit_opened") == 0);
}

TEST_CASE_METHOD(payment_fixture, "payment: half-open after the break, a good probe closes it",
                 "[payment][breaker]") {
  start(single_attempt());
  script->queue = {respond(500), respond(500), respond(500)};
  charge_orders(1, 3);

  advance(29999ms);
  auto early = charge_expecting("ord-early", call_result::circuit_open);
  CHECK(early->value->retry_after == 1ms);
  CHECK(calls() == 3);

  advance(1ms);
  auto probe = charge_order("ord-probe");
  REQUIRE(calls() == 4); // the probe reached the transport
  REQUIRE(probe->value);
  CHECK(probe->value->result == call_result::succeeded);
  CHECK(count_events("circuit_half_opened", "payment") == 1);
  auto closed = events("circuit_closed", "payment");
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].at("payload").at("from").as_string() == "half_open");

  for (int i = 0; i < 3; ++i) {
    auto next = charge_order("ord-next-" + std::to_string(i));
    REQUIRE(next->value);
    CHECK(next->value->result == call_result::succeeded);
  }
  CHECK(calls() == 7);
}

TEST_CASE_METHOD(payment_fixture, "payment: a bad probe re-opens the breaker",
                 "[payment][breaker]") {
  start(single_attempt());
  script->fallback = respond(503);
  charge_orders(1, 3);
  advance(30000ms);
  charge_expecting("ord-probe", call_result::exhausted);
  CHECK(calls() == 4);
  CHECK(count_events("circuit_half_opened") == 1);
  auto opened = events("circuit_opened", "payment");
  REQUIRE(opened.size() == 2);
  CHECK(opened[1].at("payload").at("from").as_string() == "half_open");

  auto after_probe = charge_expecting("ord-after", call_result::circuit_open);
  CHECK(after_probe->value->retry_after == 30000ms);
  CHECK(calls() == 4);
}

TEST_CASE_METHOD(payment_fixture, "payment: only half_open_max_calls probes are admitted",
                 "[payment][breaker]") {
  start(single_attempt());
  script->queue = {respond(500), respond(500), respond(500), after(1000ms, respond_ok())};
  charge_orders(1, 3);
  advance(30000ms);
  auto probe = charge_order("ord-probe");
  auto second = charge_expecting("ord-second", call_result::circuit_open);
  CHECK(second->value->retry_after > 0ms);
  CHECK(calls() == 4);
  advance(1000ms);
  REQUIRE(probe->value);
  CHECK(probe->value->result == call_result::succeeded);
}

TEST_CASE_METHOD(payment_fixture, "payment: Retry-After on the opening failure stretches the break",
                 "[payment][breaker]") {
  start(single_attempt());
  script->queue = {respond(500), respond(500), respond(503, "{}", std::string{"60"})};
  charge_orders(1, 3);
  advance(30000ms);
  auto out = charge_expecting("ord-4", call_result::circuit_open);
  CHECK(out->value->retry_after == 30000ms);
  advance(30000ms);
  charge_expecting("ord-5", call_result::succeeded);
}

TEST_CASE_METHOD(payment_fixture, "payment: declines count as successes for the breaker",
                 "[payment][breaker]") {
  start(single_attempt());
  script->fallback = respond(402);
  for (int i = 1; i <= 5; ++i) {
    auto out = charge_order("ord-" + std::to_string(i));
    REQUIRE(out->value);
    CHECK(out->value->result == call_result::declined);
  }
  CHECK(calls() == 5);
  CHECK(count_events("circuit_opened") == 0);
}

TEST_CASE_METHOD(payment_fixture, "payment: ratio mode opens on the failure ratio",
                 "[payment][breaker]") {
  auto s = ratio_mode(30000);
  start(s);
  script->queue = {respond(500), respond_ok(), respond(500), respond(500)};
  charge_orders(1, 3);
  CHECK(count_events("circuit_opened") == 0); // 2 of 3: below min_throughput
  REQUIRE(charge_order("ord-4")->value);      // 3 of 4 failed
  auto opened = events("circuit_opened", "payment");
  REQUIRE(opened.size() == 1);
  CHECK(str_of(opened[0].at("payload").at("reason")).find("ratio") != std::string::npos);
  charge_expecting("ord-5", call_result::circuit_open);
  CHECK(calls() == 4);
}

TEST_CASE_METHOD(payment_fixture, "payment: ratio mode forgets samples older than the window",
                 "[payment][breaker]") {
  auto s = ratio_mode(10000);
  start(s);
  script->queue = {respond(500), respond(500), respond(500), respond_ok(),
                   respond_ok(), respond_ok(), respond(500)};
  charge_orders(1, 3);
  advance(10000ms);    // the three failures leave the window
  charge_orders(4, 7); // 1 of 4 failed
  CHECK(count_events("circuit_opened") == 0);
}

TEST_CASE_METHOD(payment_fixture, "payment: isolate and reset through (circuit_atom, action)",
                 "[payment][breaker]") {
  start(single_attempt());
  auto view = circuit_command(circuit_action::isolate);
  REQUIRE(view->value);
  auto& circuit = view->value->json.at("circuit").as_object();
  CHECK(circuit.at("state").as_string() == "open");
  CHECK(circuit.at("isolated").as_bool());

  charge_expecting("ord-1", call_result::circuit_open);
  advance(60000ms); // isolation does not time out
  charge_expecting("ord-2", call_result::circuit_open);
  CHECK(calls() == 0);

  view = circuit_command(circuit_action::reset);
  REQUIRE(view->value);
  CHECK(view->value->json.at("circuit").at("state").as_string() == "closed");
  CHECK_FALSE(view->value->json.at("circuit").at("isolated").as_bool());
  charge_expecting("ord-3", call_result::succeeded);
  CHECK(calls() == 1);
  CHECK(count_events("circuit_closed", "payment") == 1);
}

TEST_CASE_METHOD(payment_fixture, "payment: reset closes a breaker opened by failures",
                 "[payment][breaker]") {
  start(single_attempt());
  script->queue = {respond(500), respond(500), respond(500)};
  charge_orders(1, 3);
  auto view = circuit_command(circuit_action::reset);
  REQUIRE(view->value);
  CHECK(view->value->json.at("circuit").at("consecutiveFailures").as_int64() == 0);
  charge_expecting("ord-4", call_result::succeeded);
}

// -- bulkhead -------------------------------------------------------------------------

TEST_CASE_METHOD(payment_fixture, "payment: the bulkhead rejects a call beyond max_connections",
                 "[payment][bulkhead]") {
  auto s = no_breaker();
  s.max_connections = 2;
  start(s);
  script->fallback = hang();
  auto a = charge_order("ord-1");
  auto b = charge_order("ord-2");
  CHECK(calls() == 2);
  auto c = charge_expecting("ord-3", call_result::overloaded);
  CHECK(c->value->attempts == 0);
  CHECK(c->value->retry_after > 0ms);
  CHECK(calls() == 2);
  CHECK_FALSE(a->done());
  CHECK_FALSE(b->done());
  auto rej = events("call_rejected", "payment");
  REQUIRE(rej.size() == 1);
  CHECK(rej[0].at("payload").at("reason").as_string() == "bulkhead full");

  // Once the upstream answers, the slots are free again.
  anon_send(transport, release_atom::value, respond_ok().reply);
  run();
  REQUIRE(a->value);
  CHECK(a->value->result == call_result::succeeded);
  script->fallback = respond_ok();
  charge_expecting("ord-4", call_result::succeeded);
}

TEST_CASE_METHOD(payment_fixture, "payment: a timed-out attempt frees its bulkhead slot",
                 "[payment][bulkhead]") {
  auto s = no_breaker();
  s.max_connections = 1;
  s.timeout_ms = 1000;
  s.retry.max_retries = 0;
  start(s);
  script->queue = {hang()};
  auto a = charge_order("ord-1");
  advance(3000ms);
  REQUIRE(a->value);
  CHECK(a->value->result == call_result::exhausted);
  charge_expecting("ord-2", call_result::succeeded);
}

// -- events ---------------------------------------------------------------------------

TEST_CASE_METHOD(payment_fixture, "payment: attempt events carry attempt numbers",
                 "[payment][events]") {
  start(no_breaker());
  script->queue = {respond(500), respond(503)};
  auto out = charge_order("ord-7", "4bf92f3577b34da6a3ce929d0e0e4736");
  advance(6000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);

  auto attempts_of = [&](const std::string& type) {
    std::vector<int> out;
    for (auto& ev : events(type, "payment", "ord-7"))
      out.push_back(event_attempt(ev));
    return out;
  };
  CHECK(attempts_of("request_started") == std::vector<int>{1, 2, 3});
  CHECK(attempts_of("request_failed") == std::vector<int>{1, 2});
  CHECK(attempts_of("retry_scheduled") == std::vector<int>{2, 3});
  CHECK(attempts_of("request_succeeded") == std::vector<int>{3});

  auto retries = events("retry_scheduled", "payment");
  REQUIRE(retries.size() == 2);
  CHECK(retries[0].at("payload").at("delayMs").as_int64() == 2000);
  CHECK(retries[1].at("payload").at("delayMs").as_int64() == 4000);
  for (auto& ev : events("request_started", "payment")) {
    auto& meta = ev.at("metadata").as_object();
    CHECK(meta.at("traceId").as_string() == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(meta.at("orderId").as_string() == "ord-7");
    CHECK(ev.at("serviceName").as_string() == "payment");
  }
  auto snap = deps.board->snapshot(service_kind::payment);
  CHECK(snap.failed == 2);
  CHECK(snap.succeeded == 1);
  CHECK(snap.retries == 2);
}

// -- notification -------------------------------------------------------------------

namespace {

struct notification_fixture : service_fixture {
  caf::actor notif;

  void start(const service_settings& s) {
    start_transport(s);
    notif = spawn_notification(s, transport);
  }

  slot_ptr<call_outcome> notify(const std::string& id, const std::string& status) {
    auto slot = ask<call_outcome>(notif, call_atom::value,
                                  notify_request{id, "", status, "ana@example.com",
                                                 "4bf92f3577b34da6a3ce929d0e0e4736"});
    run();
    return slot;
  }
};

} // namespace

TEST_CASE_METHOD(notification_fixture, "notification: success emits notification_sent",
                 "[notification]") {
  start(payment_settings());
  auto out = notify("ord-1", "preparation");
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
  auto sent = events("notification_sent", "notification", "ord-1");
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].at("payload").at("status").as_string() == "preparation");
  CHECK(sent[0].at("payload").at("attempts").as_int64() == 1);
  CHECK(sent[0].at("payload").at("customerEmail").as_string() == "a***@example.com");
  CHECK(count_events("notification_failed") == 0);
  REQUIRE(script->calls.size() == 1);
  // CONTRACT §4: every attempt of one notification carries <orderId>:<status>.
  CHECK(script->calls[0].header("Idempotency-Key") ==
        std::optional<std::string>{"ord-1:preparation"});
  auto body = boost::json::parse(script->calls[0].call.body);
  CHECK(
    body ==
    boost::json::parse(
      R"({"type":"order_status","orderId":"ord-1","status":"preparation","customerEmail":"ana@example.com"})"));
}

TEST_CASE_METHOD(notification_fixture, "notification: failure emits notification_failed",
                 "[notification]") {
  auto s = payment_settings();
  s.retry.max_retries = 1;
  start(s);
  script->fallback = respond(500);
  auto out = notify("ord-1", "ready");
  advance(2000ms);
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::exhausted);
  CHECK(out->value->attempts == 2);
  auto failed = events("notification_failed", "notification", "ord-1");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].at("payload").at("attempts").as_int64() == 2);
  CHECK(failed[0].at("payload").as_object().contains("reason"));
  CHECK(count_events("notification_sent") == 0);
}

TEST_CASE_METHOD(notification_fixture, "notification: a 2xx with success:false is a success",
                 "[notification]") {
  start(payment_settings());
  script->fallback = respond(200, R"({"success":false})");
  auto out = notify("ord-1", "ready");
  REQUIRE(out->value);
  CHECK(out->value->result == call_result::succeeded);
}

TEST_CASE_METHOD(notification_fixture, "notification: trio format body is {\"status\":...}",
                 "[notification]") {
  auto s = payment_settings();
  s.format = wire_format::trio;
  start(s);
  auto out = notify("ord-1", "preparation");
  REQUIRE(out->value);
  REQUIRE(script->calls.size() == 1);
  CHECK(script->calls[0].call.body == R"({"status":"preparation"})");
  CHECK(script->calls[0].call.url == "http://upstream.test/notify");
}

// -- restart: the successor starts from the predecessor's breaker ----------------

TEST_CASE_METHOD(payment_fixture, "payment: a successor starts from the open breaker",
                 "[payment][breaker][restart]") {
  start(single_attempt());
  script->fallback = respond(500);
  charge_orders(1, 3);
  auto w = watch(pay);
  anon_send(pay, crash_atom::value);
  run();
  REQUIRE(w->down);
  CHECK(w->reason == caf::sec::runtime_error);

  advance(10000ms);
  pay = spawn_payment(single_attempt(), transport);
  auto out = charge_expecting("ord-4", call_result::circuit_open);
  CHECK(out->value->retry_after == 20000ms);
  CHECK(calls() == 3);
  advance(20000ms);
  script->fallback = respond_ok();
  charge_expecting("ord-5", call_result::succeeded);
  CHECK(count_events("circuit_half_opened") == 1);
  CHECK(count_events("circuit_closed") == 1);
}

// Known bug: note_breaker() reports the breaker to the board only when the state,
// the consecutive-failure count or isolation changed. In ratio mode a success
// while closed with 0 consecutive failures changes only the sampling window, so
// the board keeps a stale window and a restarted actor resumes from it.
TEST_CASE_METHOD(payment_fixture,
                 "payment: a successor resumes the ratio window its predecessor had",
                 "[payment][breaker][restart]") {
  auto s = ratio_mode(60000);
  start(s);
  // F F S S S S S: 2 of 7 failed. The board last heard [F F S].
  script->queue = {respond(500), respond(500)};
  charge_orders(1, 7);
  anon_send(pay, crash_atom::value);
  run();
  pay = spawn_payment(s, transport);
  script->queue = {respond(500)};
  REQUIRE(charge_order("ord-8")->value); // 3 of 8 failed: below 0.5
  CHECK(count_events("circuit_opened") == 0);
  charge_expecting("ord-9", call_result::succeeded);
}

// -- adaptive retries: the retry budget and the concurrency limit ---------------------

namespace {

/// 30 % of attempts fail (3 in every 10, retries included), below a breaker that would
/// need 1000 in a row: the degraded upstream a retry storm grows on.
fake_response thirty_percent_failing(const http_call&, std::size_t index) {
  auto k = index % 10;
  return k == 2 || k == 5 || k == 8 ? respond(500, R"({"success":false})") : respond_ok();
}

struct load_count {
  std::size_t first_attempts = 0;
  std::size_t retries = 0;
  millis first_at{0}, last_at{0};
};

load_count count_load(const fake_script& script) {
  load_count n;
  // Every order's first attempt carries a fresh Idempotency-Key; its retries repeat it.
  std::set<std::string> seen;
  for (const auto& c : script.calls) {
    auto key = c.header("Idempotency-Key").value_or("");
    if (seen.insert(key).second)
      ++n.first_attempts;
    else
      ++n.retries;
  }
  if (!script.calls.empty()) {
    n.first_at = script.calls.front().at;
    n.last_at = script.calls.back().at;
  }
  return n;
}

} // namespace

TEST_CASE_METHOD(
  payment_fixture,
  "payment: a retry budget of 0.2 keeps a 30 % failing service at 1.2x plus the floor",
  "[payment][budget]") {
  auto s = no_breaker();
  const bool budget = GENERATE(true, false);
  if (budget) {
    s.retry.budget.ratio = 0.2;
    s.retry.budget.min_per_second = 1;
    s.retry.budget.window_ms = 10000;
  }
  start(s);
  script->fn = thirty_percent_failing;
  std::vector<slot_ptr<call_outcome>> outs;
  for (int i = 0; i < 600; ++i) {
    outs.push_back(charge_order("ord-" + std::to_string(i)));
    advance(50ms); // 20 orders/s for 30 s
  }
  advance(20000ms); // the last retries (2 + 4 + 8 s) run out
  for (auto& o : outs)
    REQUIRE(o->value);
  auto n = count_load(*script);
  INFO("budget " << budget << ": " << n.first_attempts << " first attempts, " << n.retries
                 << " retries");
  REQUIRE(n.first_attempts == 600);
  if (budget) {
    // Over any window retries stay within 0.2 x its first attempts + 1/s x 10 s, so over
    // the run within 0.2 x all of them + 10 for each window the run touched.
    auto windows = (n.last_at - n.first_at) / 10000ms + 2;
    CHECK(static_cast<double>(n.retries) <= 0.2 * 600 + 10.0 * windows);
    CHECK(n.retries >= 100); // the budget is used, not merely off
    auto suppressed = count_events("retry_suppressed", "payment");
    CHECK(suppressed > 0);
    CHECK(deps.board->snapshot(service_kind::payment).retries_suppressed == suppressed);
  } else {
    // Unbudgeted, each 30 % failure is retried up to 3 times: ~1.43x the first attempts.
    CHECK(n.retries > 600 * 0.4);
    CHECK(count_events("retry_suppressed", "payment") == 0);
  }
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: an upstream whose latency climbs gets fewer concurrent attempts",
                 "[payment][limiter]") {
  auto s = no_breaker();
  s.retry.max_retries = 0;
  s.max_connections = 32;
  const bool adaptive = GENERATE(true, false);
  s.adaptive_concurrency.enabled = adaptive;
  start(s);
  // 20 ms for the first 500 calls, then 1 ms slower with every call.
  auto delays = std::make_shared<std::vector<millis>>();
  script->fn = [delays](const http_call&, std::size_t index) {
    millis d{20 + (index < 500 ? 0 : static_cast<int64_t>(index) - 500)};
    delays->push_back(d);
    return after(d, respond_ok());
  };
  int overloaded = 0;
  std::vector<slot_ptr<call_outcome>> outs;
  for (int i = 0; i < 3000; ++i) { // 500 orders/s for 6 s
    outs.push_back(charge_order("ord-" + std::to_string(i)));
    advance(2ms);
  }
  advance(5000ms);
  for (auto& o : outs) {
    REQUIRE(o->value);
    overloaded += o->value->result == call_result::overloaded;
  }
  // Attempts in flight at each arrival during the last second of load.
  int most_late = 0;
  for (std::size_t i = 0; i < script->calls.size(); ++i) {
    auto at = script->calls[i].at;
    if (at < 5000ms)
      continue;
    int in_flight = 0;
    for (std::size_t j = 0; j <= i; ++j)
      in_flight += script->calls[j].at + (*delays)[j] > at;
    most_late = std::max(most_late, in_flight);
  }
  auto view = deps.board->to_json(service_kind::payment, time_point{});
  auto limit = view.at("concurrency").at("limit").as_int64();
  INFO("adaptive " << adaptive << ": limit " << limit << ", at most " << most_late
                   << " in flight late, " << overloaded << " refused");
  if (adaptive) {
    CHECK(limit < 16);
    CHECK(most_late <= 16);
    CHECK(overloaded > 0);
    auto refused = events("call_rejected", "payment");
    REQUIRE_FALSE(refused.empty());
    CHECK(refused.back().at("payload").at("reason").as_string() == "concurrency limit");
  } else {
    CHECK(limit == 32);
    CHECK(most_late == 32); // the static bulkhead is all that holds it
  }
}

// Issue 15, bench row (g): 30 % of the attempts fail with 500 and every answer takes 50-300 ms
// (a deterministic spread over the call index) whatever the load. With 64 connections and
// ~58 attempts wanted at once, the limiter has nothing to protect, so it must keep (about)
// the concurrency the static bulkhead gives; it used to fall to min_limit and refuse most
// orders.
TEST_CASE_METHOD(payment_fixture,
                 "payment: a 30 % failing upstream whose latency does not depend on the load "
                 "keeps its concurrency",
                 "[payment][limiter]") {
  auto s = no_breaker();
  s.retry.max_retries = 0;
  s.max_connections = 64;
  const bool adaptive = GENERATE(true, false);
  s.adaptive_concurrency.enabled = adaptive;
  start(s);
  script->fn = [](const http_call&, std::size_t index) {
    // 50-300 ms in a scrambled order (a multiplicative hash of the index).
    millis d{50 + static_cast<int64_t>((index * 2654435761u) % 251)};
    auto k = index % 10;
    return after(d, k == 2 || k == 5 || k == 8 ? respond(500, R"({"success":false})")
                                               : respond_ok());
  };
  std::vector<slot_ptr<call_outcome>> outs;
  for (int i = 0; i < 2000; ++i) { // 333 orders/s for 6 s: ~58 attempts out at once
    outs.push_back(charge_order("ord-" + std::to_string(i)));
    advance(3ms);
  }
  advance(5000ms);
  int overloaded = 0, paid = 0;
  for (auto& o : outs) {
    REQUIRE(o->value);
    overloaded += o->value->result == call_result::overloaded;
    paid += o->value->result == call_result::succeeded;
  }
  auto view = deps.board->to_json(service_kind::payment, time_point{});
  auto limit = view.at("concurrency").at("limit").as_int64();
  INFO("adaptive " << adaptive << ": limit " << limit << ", " << overloaded << " refused, "
                   << paid << " paid");
  // The old limiter: limit 2, ~1 900 of the 2 000 refused.
  CHECK(limit >= 32);
  CHECK(overloaded <= 2000 / 10); // the start from initial_limit 16 costs a few at most
  CHECK(paid >= 2000 * 6 / 10);
  if (!adaptive)
    CHECK(limit == 64);
}

TEST_CASE_METHOD(payment_fixture,
                 "payment: a successor starts from the learned limit and the budget's window",
                 "[payment][limiter][budget][restart]") {
  auto s = no_breaker();
  s.adaptive_concurrency.enabled = true;
  s.retry.budget.ratio = 0.2;
  s.retry.budget.min_per_second = 0;
  start(s);
  // 5 first attempts answered 503 (the upstream shedding load): the limit drops, the budget
  // allows 1 retry.
  script->fallback = respond(503);
  for (int i = 0; i < 5; ++i)
    charge_order("ord-" + std::to_string(i));
  auto before = deps.board->to_json(service_kind::payment, time_point{});
  auto limit_before = before.at("concurrency").at("limit").as_int64();
  REQUIRE(limit_before < 16);
  anon_send(pay, crash_atom::value);
  run();
  pay = spawn_payment(s, transport);
  run();
  auto after_restart = deps.board->to_json(service_kind::payment, time_point{});
  CHECK(after_restart.at("concurrency").at("limit").as_int64() == limit_before);
  // The window the predecessor filled is still spent: the next failure is not retried.
  std::size_t sent = calls();
  auto out = charge_expecting("ord-9", call_result::exhausted);
  advance(20000ms);
  CHECK(calls() == sent + 1);
  CHECK(out->value->detail.find("retry budget") != std::string::npos);
}
