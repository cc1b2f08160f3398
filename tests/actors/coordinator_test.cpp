// The order coordinator with real payment / notification actors on scripted
// transports: orders, idempotency, status changes, and supervision of its children.

#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace cstest;

namespace {

struct coord_fixture : coordinator_fixture {
  void crash(const std::string& child) {
    anon_send(coord, crash_atom::value, child);
    run();
  }
};

std::set<std::string> keys_of(const std::vector<recorded_call>& calls, std::size_t from,
                              std::size_t to) {
  std::set<std::string> out;
  for (auto i = from; i < to && i < calls.size(); ++i)
    out.insert(calls[i].header("Idempotency-Key").value_or(""));
  return out;
}

} // namespace

// -- orders -------------------------------------------------------------------------

TEST_CASE_METHOD(coord_fixture, "coordinator: create pays and stores the order as waiting",
                 "[coordinator]") {
  start();
  auto r = create();
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::created);
  CHECK(r->value->payment.result == call_result::succeeded);
  const auto& placed = r->value->placed;
  CHECK(placed.status == order_status::waiting);
  CHECK(placed.payment.status == "succeeded");
  CHECK(placed.payment.attempts == 1);
  CHECK(placed.payment.reference == std::optional<std::string>{"ref-1"});
  CHECK(placed.total == 450);

  auto o = stored(placed.id);
  CHECK(o.status == order_status::waiting);
  REQUIRE(pay->calls.size() == 1);
  CHECK(pay->calls[0].header("Idempotency-Key") == std::optional<std::string>{placed.id});
  // No notification for the initial "waiting" status (only PATCH announces).
  CHECK(o.notifications.empty());
  CHECK(notif->calls.empty());
  CHECK(count_events("order_created", "orders") == 1);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: payment attempts are retried before the reply",
                 "[coordinator]") {
  pay_settings.circuit_breaker.failure_threshold = 100;
  start();
  pay->queue = {respond(500), respond(503)};
  auto r = create();
  CHECK_FALSE(r->done());
  CHECK(stored(deps.store->list(std::nullopt, 10, std::nullopt).orders.at(0).id).status ==
        order_status::pending_payment);
  advance(6000ms);
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::created);
  CHECK(r->value->placed.payment.attempts == 3);
  CHECK(pay->calls.size() == 3);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: a declined payment fails the order",
                 "[coordinator]") {
  start();
  pay->fallback = respond(402, R"({"error":"card declined"})");
  auto r = create();
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::payment_failed);
  CHECK(r->value->payment.result == call_result::declined);
  CHECK(r->value->placed.status == order_status::payment_failed);
  auto o = stored(r->value->placed.id);
  CHECK(o.status == order_status::payment_failed);
  CHECK(o.payment.status == "failed");
  CHECK(o.notifications.empty());
  CHECK(pay->calls.size() == 1);
  CHECK(notif->calls.empty());
}

// -- idempotency ----------------------------------------------------------------------

TEST_CASE_METHOD(coord_fixture, "coordinator: the same key and body after success is replayed",
                 "[coordinator][idempotency]") {
  start();
  auto first = create(create_command("key-1", "fp-1"));
  REQUIRE(first->value);
  REQUIRE(first->value->result == create_result::created);
  auto again = create(create_command("key-1", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::replayed);
  CHECK(again->value->placed.id == first->value->placed.id);
  CHECK(pay->calls.size() == 1);
  CHECK(deps.store->size() == 1);
}

TEST_CASE_METHOD(coord_fixture,
                 "coordinator: the same key while the first is running is in_progress",
                 "[coordinator][idempotency]") {
  start();
  pay->fallback = hang();
  auto first = create(create_command("key-1", "fp-1"));
  CHECK_FALSE(first->done());
  auto again = create(create_command("key-1", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::in_progress);
  CHECK(pay->calls.size() == 1);

  anon_send(pay_fake, release_atom::value, respond_ok().reply);
  run();
  REQUIRE(first->value);
  CHECK(first->value->result == create_result::created);
  CHECK(again->value->placed.id == first->value->placed.id);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: the same key with another body is a mismatch",
                 "[coordinator][idempotency]") {
  start();
  REQUIRE(create(create_command("key-1", "fp-1"))->value);
  auto other = create(create_command("key-1", "fp-2"));
  REQUIRE(other->value);
  CHECK(other->value->result == create_result::key_mismatch);
  CHECK(pay->calls.size() == 1);
  CHECK(deps.store->size() == 1);
}

TEST_CASE_METHOD(coord_fixture,
                 "coordinator: the same key after a failed payment retries the order",
                 "[coordinator][idempotency]") {
  start();
  pay->queue = {respond(402)};
  auto first = create(create_command("key-1", "fp-1"));
  REQUIRE(first->value);
  REQUIRE(first->value->result == create_result::payment_failed);
  auto again = create(create_command("key-1", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::created);
  CHECK(again->value->placed.id == first->value->placed.id);
  CHECK(again->value->placed.status == order_status::waiting);
  CHECK(again->value->placed.payment.attempts == 2);
  REQUIRE(pay->calls.size() == 2);
  CHECK(keys_of(pay->calls, 0, 2) == std::set<std::string>{first->value->placed.id});
  CHECK(deps.store->size() == 1);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: requests without a key are independent orders",
                 "[coordinator][idempotency]") {
  start();
  auto a = create();
  auto b = create();
  REQUIRE(a->value);
  REQUIRE(b->value);
  CHECK(a->value->placed.id != b->value->placed.id);
  CHECK(pay->calls.size() == 2);
}

// -- status changes -------------------------------------------------------------------

TEST_CASE_METHOD(coord_fixture,
                 "coordinator: a status change records a notification, pending then sent",
                 "[coordinator][status]") {
  start();
  notif->queue = {after(500ms, respond_ok())};
  auto r = create();
  REQUIRE(r->value);
  auto id = r->value->placed.id;
  auto c = change(id, order_status::preparation);
  REQUIRE(c->value);
  CHECK(c->value->result == change_result::changed);
  CHECK(c->value->current.status == order_status::preparation);
  REQUIRE(c->value->current.notifications.size() == 1);
  CHECK(c->value->current.notifications[0].status == "preparation");
  CHECK(c->value->current.notifications[0].state == "pending");
  CHECK(stored(id).notifications.at(0).state == "pending");
  advance(499ms);
  CHECK(stored(id).notifications.at(0).state == "pending");
  advance(1ms);
  auto o = stored(id);
  CHECK(o.status == order_status::preparation);
  CHECK(o.notifications.at(0).state == "sent");
  CHECK(o.notifications.at(0).attempts == 1);
  REQUIRE(notif->calls.size() == 1);
  auto body = boost::json::parse(notif->calls[0].call.body).as_object();
  CHECK(body.at("status").as_string() == "preparation");
  CHECK(body.at("orderId").as_string() == id);
}

TEST_CASE_METHOD(coord_fixture,
                 "coordinator: a failed notification is recorded and does not fail the order",
                 "[coordinator][status]") {
  notif_settings.retry.max_retries = 1;
  start();
  notif->fallback = respond(500);
  auto r = create();
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::created);
  auto c = change(r->value->placed.id, order_status::canceled);
  REQUIRE(c->value);
  CHECK(c->value->result == change_result::changed);
  advance(2000ms);
  auto o = stored(r->value->placed.id);
  CHECK(o.status == order_status::canceled);
  REQUIRE(o.notifications.size() == 1);
  CHECK(o.notifications[0].state == "failed");
  CHECK(o.notifications[0].attempts == 2);
  CHECK(count_events("notification_failed", "notification") == 1);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: an invalid step is a conflict",
                 "[coordinator][status]") {
  start();
  auto r = create();
  REQUIRE(r->value);
  auto id = r->value->placed.id;
  auto c = change(id, order_status::delivered);
  REQUIRE(c->value);
  CHECK(c->value->result == change_result::conflict);
  CHECK(c->value->current.status == order_status::waiting);
  CHECK(stored(id).status == order_status::waiting);
  CHECK(stored(id).notifications.empty());
  CHECK(notif->calls.empty());

  auto unknown = change("ord_missing", order_status::preparation);
  REQUIRE(unknown->value);
  CHECK(unknown->value->result == change_result::not_found);

  pay->fallback = respond(402);
  auto failed = create();
  REQUIRE(failed->value);
  auto f = change(failed->value->placed.id, order_status::preparation);
  REQUIRE(f->value);
  CHECK(f->value->result == change_result::conflict);
}

// -- circuit admin through the coordinator ----------------------------------------------

TEST_CASE_METHOD(coord_fixture, "coordinator: circuit isolate reaches the payment actor",
                 "[coordinator][breaker]") {
  start();
  auto v = ask<integration_view>(coord, circuit_atom::value, service_kind::payment,
                                 circuit_action::isolate);
  run();
  REQUIRE(v->value);
  CHECK(v->value->json.at("circuit").at("isolated").as_bool());
  auto r = create();
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::payment_failed);
  CHECK(r->value->payment.result == call_result::circuit_open);
  CHECK(pay->calls.empty());
}

// -- supervision through the coordinator --------------------------------------------

TEST_CASE_METHOD(coord_fixture, "coordinator: the breaker snapshot survives a payment restart",
                 "[coordinator][supervision]") {
  pay_settings.retry.max_retries = 0;
  start();
  pay->fallback = respond(500);
  for (int i = 0; i < 3; ++i) {
    auto r = create();
    REQUIRE(r->value);
    CHECK(r->value->payment.result == call_result::exhausted);
  }
  auto r = create();
  REQUIRE(r->value);
  REQUIRE(r->value->payment.result == call_result::circuit_open);
  REQUIRE(pay->calls.size() == 3);

  crash("payment");
  CHECK(count_events("actor_restarted") == 0);
  advance(100ms);
  auto restarted = events("actor_restarted", "supervisor");
  REQUIRE(restarted.size() == 1);
  CHECK(restarted[0].at("payload").at("actor").as_string() == "payment");
  CHECK(deps.board->snapshot(service_kind::payment).restarts == 1);

  auto after_restart = create();
  REQUIRE(after_restart->value);
  CHECK(after_restart->value->result == create_result::payment_failed);
  CHECK(after_restart->value->payment.result == call_result::circuit_open);
  CHECK(after_restart->value->payment.retry_after <= 30000ms);
  CHECK(after_restart->value->payment.retry_after >= 29000ms);
  CHECK(pay->calls.size() == 3);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: payments held by a crashed child are re-issued",
                 "[coordinator][supervision]") {
  start();
  pay->queue = {hang(), hang(), hang()};
  std::vector<slot_ptr<create_order_reply>> replies;
  for (int i = 0; i < 3; ++i)
    replies.push_back(create());
  REQUIRE(pay->calls.size() == 3);
  for (auto& r : replies)
    CHECK_FALSE(r->done());

  crash("payment");
  advance(99ms);
  CHECK(pay->calls.size() == 3);
  advance(1ms);
  REQUIRE(pay->calls.size() == 6);
  CHECK(keys_of(pay->calls, 3, 6) == keys_of(pay->calls, 0, 3));
  CHECK(keys_of(pay->calls, 0, 3).size() == 3);
  for (auto& r : replies) {
    REQUIRE(r->value);
    CHECK(r->value->result == create_result::created);
    CHECK(stored(r->value->placed.id).status == order_status::waiting);
  }
  CHECK(count_events("actor_restarted", "supervisor") == 1);
  CHECK(deps.board->snapshot(service_kind::payment).restarts == 1);
  // Nothing is charged a third time later on (stale replies are ignored).
  advance(60000ms);
  CHECK(pay->calls.size() == 6);
}

TEST_CASE_METHOD(
  coord_fixture,
  "coordinator: a payment requested while the child restarts is issued to the successor",
  "[coordinator][supervision]") {
  start();
  crash("payment");
  auto r = create();
  CHECK_FALSE(r->done());
  CHECK(pay->calls.empty());
  advance(100ms);
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::created);
  CHECK(pay->calls.size() == 1);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: notifications held by a crashed child are re-issued",
                 "[coordinator][supervision]") {
  start();
  notif->queue = {hang()};
  auto r = create();
  REQUIRE(r->value);
  auto id = r->value->placed.id;
  REQUIRE(change(id, order_status::preparation)->value);
  REQUIRE(notif->calls.size() == 1);
  CHECK(stored(id).notifications.at(0).state == "pending");
  crash("notification");
  advance(100ms);
  REQUIRE(notif->calls.size() == 2);
  CHECK(notif->calls[1].call.body == notif->calls[0].call.body);
  auto o = stored(id);
  CHECK(o.notifications.at(0).state == "sent");
  CHECK(deps.board->snapshot(service_kind::notification).restarts == 1);
}

TEST_CASE_METHOD(coord_fixture, "coordinator: repeated child crashes escalate",
                 "[coordinator][supervision]") {
  supervision.max_restarts = 2;
  supervision.within_ms = 10000;
  start();
  auto w = watch(coord);
  crash("payment");
  advance(100ms);
  crash("payment");
  advance(200ms);
  CHECK_FALSE(w->down);
  crash("payment");
  REQUIRE(w->down);
  CHECK(w->reason == caf::sec::runtime_error);
  CHECK(count_events("actor_escalated", "supervisor") == 1);
}

// Known bug: the half-open probe count is part of the breaker snapshot on the
// board. A payment actor that crashes while its probe is in flight leaves
// probes_in_flight = half_open_max_calls behind; its successor (which has no
// call in flight) then rejects every call, including the re-issued probe
// itself, until the "lost probe" horizon one break_duration later.
TEST_CASE_METHOD(
  coord_fixture,
  "coordinator: a probe held by a crashed payment child is re-issued to the transport",
  "[coordinator][supervision][breaker]") {
  pay_settings.retry.max_retries = 0;
  start();
  pay->queue = {respond(500), respond(500), respond(500), hang()};
  for (int i = 0; i < 3; ++i)
    REQUIRE(create()->value);
  advance(30000ms);
  auto probe = create();
  REQUIRE(pay->calls.size() == 4); // the half-open probe, hanging
  crash("payment");
  advance(100ms);
  CHECK(pay->calls.size() == 5); // re-issued to the upstream
  REQUIRE(probe->value);
  CHECK(probe->value->result == create_result::created);
  CHECK(probe->value->payment.result == call_result::succeeded);
}
