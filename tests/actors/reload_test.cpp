// A config reload (SIGHUP) as the integration actors see it, on virtual time: the live
// settings they read at their next call and at a restart.

#include "fixture.hpp"

#include "coffeeshop/live_settings.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <memory>

using namespace cstest;

namespace {

/// Single attempts with the consecutive-failure breaker effectively off.
service_settings quiet_settings() {
  auto s = payment_settings();
  s.retry.max_retries = 0;
  s.circuit_breaker.failure_threshold = 1000;
  return s;
}

struct reload_fixture : service_fixture {
  config cfg;
  std::shared_ptr<live_settings> live;
  caf::actor pay;

  /// A fresh transport and live settings made from `s` (both services).
  void start_live(const service_settings& s) {
    cfg.payment = s;
    cfg.notification = s;
    start_transport(s);
    live = std::make_shared<live_settings>(cfg);
    deps.live = live;
  }

  /// start_live(s), then a payment actor started with `s`.
  void start(const service_settings& s) {
    start_live(s);
    pay = spawn_payment(s, transport);
  }

  /// What SIGHUP does to the payment settings.
  void reload(const std::function<void(service_settings&)>& change) {
    change(cfg.payment);
    live->replace(cfg);
  }

  slot_ptr<call_outcome> charge_order(const std::string& id) {
    auto slot = ask<call_outcome>(pay, call_atom::value, charge(id));
    run();
    return slot;
  }
};

} // namespace

TEST_CASE_METHOD(reload_fixture,
                 "reload: the next call runs under the new retry and bulkhead settings",
                 "[payment][reload]") {
  auto s = quiet_settings();
  s.max_connections = 1;
  start(s);
  script->fallback = hang();
  auto first = charge_order("ord-1");
  auto refused = charge_order("ord-2");
  REQUIRE(refused->value);
  CHECK(refused->value->result == call_result::overloaded);
  CHECK(calls() == 1);

  reload([](service_settings& p) { p.max_connections = 2; });
  auto second = charge_order("ord-3");
  CHECK(calls() == 2); // admitted under the wider bulkhead
  CHECK_FALSE(second->done());

  anon_send(transport, release_atom::value, respond(500).reply);
  run();
  REQUIRE(first->value);
  CHECK(first->value->attempts == 1);
  REQUIRE(second->value);
  CHECK(second->value->attempts == 1);

  reload([](service_settings& p) {
    p.retry.max_retries = 1;
    p.retry.base_delay_ms = 100;
  });
  script->fallback = respond(500);
  auto retried = charge_order("ord-4");
  CHECK(calls() == 3);
  advance(99ms);
  CHECK(calls() == 3);
  advance(1ms);
  CHECK(calls() == 4);
  REQUIRE(retried->value);
  CHECK(retried->value->result == call_result::exhausted);
  CHECK(retried->value->attempts == 2);
}

TEST_CASE_METHOD(reload_fixture,
                 "reload: an open breaker stays open for its break and the next opening uses "
                 "the new break",
                 "[payment][reload][breaker]") {
  auto s = quiet_settings();
  s.circuit_breaker.failure_threshold = 1;
  s.circuit_breaker.break_duration_ms = 10000;
  start(s);
  script->fallback = respond(500);
  charge_order("ord-1");
  CHECK(count_events("circuit_opened") == 1);

  reload([](service_settings& p) { p.circuit_breaker.break_duration_ms = 1000; });
  auto refused = charge_order("ord-2");
  REQUIRE(refused->value);
  CHECK(refused->value->result == call_result::circuit_open);
  CHECK(refused->value->retry_after == 10000ms);

  advance(10000ms);
  charge_order("ord-3"); // the probe fails: open again, now for the new break
  CHECK(count_events("circuit_opened") == 2);
  auto again = charge_order("ord-4");
  REQUIRE(again->value);
  CHECK(again->value->result == call_result::circuit_open);
  CHECK(again->value->retry_after == 1000ms);
  CHECK(calls() == 2);
}

TEST_CASE_METHOD(reload_fixture, "reload: a restarted actor starts under the reloaded settings",
                 "[payment][reload][restart]") {
  start(quiet_settings());
  reload([](service_settings& p) {
    p.retry.max_retries = 2;
    p.retry.base_delay_ms = 10;
  });
  auto w = watch(pay);
  anon_send(pay, crash_atom::value);
  run();
  REQUIRE(w->down);

  // Started as its supervisor does, from the settings of the start.
  pay = spawn_payment(quiet_settings(), transport);
  script->fallback = respond(500);
  auto out = charge_order("ord-1");
  advance(100ms);
  REQUIRE(out->value);
  CHECK(out->value->attempts == 3);
}

TEST_CASE_METHOD(reload_fixture,
                 "reload: the transport workers follow max_connections down and up",
                 "[payment][reload][bulkhead]") {
  auto s = quiet_settings();
  s.max_connections = 4;
  start_live(s);
  auto spawned = std::make_shared<int>(0);
  auto retired = std::make_shared<int>(0);
  auto spec = spec_for(service_kind::payment, s, transport);
  auto fake = caf::actor_cast<transport_actor>(transport);
  spec.workers.spawn = [fake, spawned](caf::local_actor*) {
    ++*spawned;
    return fake;
  };
  spec.workers.retire = [retired](caf::local_actor*, const transport_actor&) { ++*retired; };
  pay = keep(caf::actor_cast<caf::actor>(coffeeshop::spawn_payment(sys, std::move(spec))));
  run();
  CHECK(*spawned == 4);

  script->fallback = hang();
  auto a = charge_order("ord-1");
  auto b = charge_order("ord-2");
  auto c = charge_order("ord-3");
  CHECK(calls() == 3);

  reload([](service_settings& p) { p.max_connections = 2; });
  auto refused = charge_order("ord-4");
  REQUIRE(refused->value);
  CHECK(refused->value->result == call_result::overloaded); // 3 in flight, 2 allowed
  CHECK(*retired == 1);                                      // the one idle worker

  anon_send(transport, release_atom::value, respond_ok().reply);
  run();
  REQUIRE(c->value);
  CHECK(*retired == 2); // busy workers beyond the new size go as their attempts end
  CHECK(*spawned == 4);

  reload([](service_settings& p) { p.max_connections = 5; });
  script->fallback = respond_ok();
  auto d = charge_order("ord-5");
  REQUIRE(d->value);
  CHECK(d->value->result == call_result::succeeded);
  CHECK(*spawned == 7); // back to five
}

TEST_CASE_METHOD(reload_fixture,
                 "reload: an attempt under a shorter timeout expires before one sent earlier",
                 "[payment][reload][deadline]") {
  // The expiry timer in flight is set for the first attempt; the second, under the reloaded
  // timeout, expires earlier and needs a timer of its own.
  auto s = quiet_settings();
  s.timeout_ms = 5000;
  start(s);
  script->fallback = hang();
  auto first = charge_order("ord-1"); // expires at 5 s + 2 s grace
  advance(100ms);
  reload([](service_settings& p) { p.timeout_ms = 1000; });
  auto second = charge_order("ord-2"); // expires at 0.1 s + 1 s + 2 s
  REQUIRE(calls() == 2);
  CHECK(script->calls[1].call.timeout == 1000ms);
  advance(2999ms); // t = 3099
  CHECK_FALSE(second->done());
  advance(1ms);
  REQUIRE(second->value);
  CHECK(second->value->result == call_result::exhausted);
  CHECK_FALSE(first->done());
  advance(3899ms); // t = 6999
  CHECK_FALSE(first->done());
  advance(1ms);
  REQUIRE(first->value);
  CHECK(first->value->result == call_result::exhausted);
}
