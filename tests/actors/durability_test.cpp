// Durability of the order coordinator on virtual time (CONTRACT §7): what is
// committed before what is attempted or reported, failed commits, group
// commits, the notification outbox (status order per order, concurrency
// across orders, breaker pauses, spent retries) and recovery at start.
// Writes go through fake_writer, which commits to the fixture's memory store
// and can fail or hold them.

#include "fake_writer.hpp"
#include "fixture.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>

using namespace cstest;

namespace {

struct durability_fixture : coordinator_fixture {
  std::shared_ptr<fake_writer> fake = std::make_shared<fake_writer>(deps.store);

  durability_fixture() { writer = fake; }

  /// Releases every held write as one transaction and runs what follows.
  std::size_t release() {
    auto n = fake->release();
    run();
    return n;
  }

  /// A paid order, committed without holds or failures.
  std::string paid_order() {
    auto r = create();
    REQUIRE(r->value);
    REQUIRE(r->value->result == create_result::created);
    return r->value->placed.id;
  }

  std::vector<outbox_entry> outbox() { return deps.store->outbox_list(std::nullopt, 100); }
};

std::string body_status(const recorded_call& c) {
  return std::string{boost::json::parse(c.call.body).as_object().at("status").as_string()};
}

std::string key_of(const recorded_call& c) { return c.header("Idempotency-Key").value_or(""); }

/// An order as the coordinator commits it before its payment.
order stored_order(std::string status_name, std::optional<std::string> key = std::nullopt) {
  order o;
  o.id = make_order_id();
  o.status = *parse_order_status(status_name);
  o.items.push_back(order_line{"Latte", "Vanilla", 1, 450, 450});
  o.total = 450;
  o.customer_email = "ana@example.com";
  o.created_at_ms = o.updated_at_ms = now_ms();
  o.trace_id = "0123456789abcdef0123456789abcdef";
  o.idempotency_key = std::move(key);
  o.request_fingerprint = "fp-1";
  if (o.status != order_status::pending_payment) {
    o.payment.status = "succeeded";
    o.payment.attempts = 1;
    o.payment.reference = "ref-0";
  }
  return o;
}

/// A pending outbox entry for `paid`'s status, listed on the order as a pending
/// notification: what a run that stopped before delivering it leaves behind.
outbox_entry pending_notification(order& paid) {
  outbox_entry entry;
  entry.id = "ntf_" + make_uuid();
  entry.order_id = paid.id;
  entry.status = std::string{to_string(paid.status)};
  entry.created_at_ms = now_ms();
  notification_record rec;
  rec.id = entry.id;
  rec.status = entry.status;
  paid.notifications.push_back(rec);
  return entry;
}

} // namespace

// -- creates ------------------------------------------------------------------------

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a failed commit of the new order answers store_failed",
                 "[coordinator][store]") {
  start();
  fake->fail_next(1);
  auto r = create(create_command("key-1", "fp-1"));
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::store_failed);
  CHECK(r->value->result != create_result::created);
  CHECK(pay->calls.size() == 0);
  CHECK(deps.store->size() == 0);
  CHECK_FALSE(deps.store->find_by_idempotency_key("key-1"));
  CHECK(fake->failed() == 1);
  CHECK(count_events("store_failed", "store") == 1);
  // Nothing is attempted later either.
  advance(5000ms);
  CHECK(pay->calls.size() == 0);

  // The key is free again: the next create with it is a fresh, paid order.
  auto again = create(create_command("key-1", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::created);
  CHECK(pay->calls.size() == 1);
  CHECK(deps.store->size() == 1);
  CHECK(count_events("store_recovered", "store") == 1);
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: the pending order is committed before the first payment attempt",
                 "[coordinator][store]") {
  start();
  fake->hold(true);
  auto r = create();
  // The pending_payment write is held: no payment yet, nothing visible.
  REQUIRE(fake->held() == 1);
  CHECK(pay->calls.size() == 0);
  CHECK(deps.store->size() == 0);
  CHECK_FALSE(r->done());
  REQUIRE(fake->writes().size() == 1);
  REQUIRE(fake->writes()[0].orders.size() == 1);
  CHECK(fake->writes()[0].orders[0].status == order_status::pending_payment);
  auto id = fake->writes()[0].orders[0].id;

  // Committed: the payment is attempted, then its outcome is written (held).
  REQUIRE(release() == 1);
  CHECK(stored(id).status == order_status::pending_payment);
  REQUIRE(pay->calls.size() == 1);
  CHECK(key_of(pay->calls[0]) == id);
  REQUIRE(fake->held() == 1);
  REQUIRE(fake->writes().size() == 2);
  CHECK(fake->writes()[1].orders.at(0).status == order_status::waiting);
  // Paid but the outcome is not committed: no reply, the store says pending.
  advance(1000ms);
  CHECK_FALSE(r->done());
  CHECK(stored(id).status == order_status::pending_payment);

  REQUIRE(release() == 1);
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::created);
  CHECK(r->value->placed.id == id);
  CHECK(r->value->placed.status == order_status::waiting);
  CHECK(stored(id).status == order_status::waiting);
  CHECK(pay->calls.size() == 1);
}

TEST_CASE_METHOD(
  durability_fixture,
  "coordinator: a failed commit of the payment outcome answers store_failed and is resumed by its key",
  "[coordinator][store]") {
  start();
  fake->hold(true);
  auto r = create(create_command("key-1", "fp-1"));
  REQUIRE(release() == 1); // the pending order commits
  REQUIRE(pay->calls.size() == 1);
  REQUIRE(fake->held() == 1); // the outcome (waiting)
  fake->fail_next(1);
  REQUIRE(release() == 1);
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::store_failed);
  auto id = r->value->placed.id;
  CHECK(stored(id).status == order_status::pending_payment);
  CHECK(stored(id).payment.status == "pending");
  fake->hold(false);

  // The same key and body resume the same order with the same Idempotency-Key.
  auto again = create(create_command("key-1", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::created);
  CHECK(again->value->placed.id == id);
  REQUIRE(pay->calls.size() == 2);
  CHECK(key_of(pay->calls[0]) == id);
  CHECK(key_of(pay->calls[1]) == id);
  CHECK(stored(id).status == order_status::waiting);
  CHECK(deps.store->size() == 1);

  // And after that it is a replay: no third charge.
  auto replay = create(create_command("key-1", "fp-1"));
  REQUIRE(replay->value);
  CHECK(replay->value->result == create_result::replayed);
  CHECK(replay->value->placed.id == id);
  CHECK(pay->calls.size() == 2);
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: creates sharing one group commit are all answered created",
                 "[coordinator][store]") {
  start();
  fake->hold(true);
  std::vector<slot_ptr<create_order_reply>> replies;
  for (int i = 0; i < 5; ++i)
    replies.push_back(ask<create_order_reply>(coord, create_atom::value, create_command()));
  run();
  REQUIRE(fake->held() == 5);
  CHECK(pay->calls.size() == 0);
  CHECK(deps.store->size() == 0);

  REQUIRE(release() == 5); // one transaction for the five pending orders
  CHECK(deps.store->size() == 5);
  CHECK(pay->calls.size() == 5);
  REQUIRE(fake->held() == 5); // the five outcomes
  for (auto& r : replies)
    CHECK_FALSE(r->done());

  REQUIRE(release() == 5); // one transaction for the five outcomes
  CHECK(fake->batch_sizes() == std::vector<std::size_t>{5, 5});
  std::set<std::string> ids;
  for (auto& r : replies) {
    REQUIRE(r->value);
    CHECK(r->value->result == create_result::created);
    ids.insert(r->value->placed.id);
    CHECK(stored(r->value->placed.id).status == order_status::waiting);
  }
  CHECK(ids.size() == 5);
  std::set<std::string> keys;
  for (auto& c : pay->calls)
    keys.insert(key_of(c));
  CHECK(keys == ids);
}

// -- status changes -------------------------------------------------------------------

TEST_CASE_METHOD(
  durability_fixture,
  "coordinator: a failed status-change commit answers store_failed and queues nothing",
  "[coordinator][store]") {
  start();
  auto id = paid_order();
  fake->fail_next(1);
  auto c = change(id, order_status::preparation);
  REQUIRE(c->value);
  CHECK(c->value->result == change_result::store_failed);
  auto o = stored(id);
  CHECK(o.status == order_status::waiting);
  CHECK(o.notifications.empty());
  CHECK(outbox().empty());
  advance(5000ms);
  CHECK(notif->calls.size() == 0);
  CHECK(outbox().empty());

  // The store is back: the same change goes through with one notification.
  auto retry = change(id, order_status::preparation);
  REQUIRE(retry->value);
  CHECK(retry->value->result == change_result::changed);
  advance(10ms);
  REQUIRE(notif->calls.size() == 1);
  CHECK(body_status(notif->calls[0]) == "preparation");
  REQUIRE(outbox().size() == 1);
  CHECK(outbox()[0].state == outbox_state::sent);
}

// -- the outbox -----------------------------------------------------------------------

TEST_CASE_METHOD(
  durability_fixture,
  "outbox: an order's notifications go in status order despite out-of-order latencies",
  "[outbox]") {
  start();
  notif->fn = [](const http_call& call, std::size_t) {
    auto status = std::string{boost::json::parse(call.body).as_object().at("status").as_string()};
    return status == "preparation" ? after(5000ms, respond_ok()) : after(10ms, respond_ok());
  };
  auto id = paid_order();
  for (auto s : {order_status::preparation, order_status::ready, order_status::delivered}) {
    auto c = change(id, s);
    REQUIRE(c->value);
    REQUIRE(c->value->result == change_result::changed);
  }
  REQUIRE(outbox().size() == 3);
  REQUIRE(notif->calls.size() == 1);
  CHECK(body_status(notif->calls[0]) == "preparation");

  advance(4999ms);
  CHECK(notif->calls.size() == 1); // ready waits for preparation's reply
  advance(1ms);
  REQUIRE(notif->calls.size() == 2);
  CHECK(body_status(notif->calls[1]) == "ready");
  CHECK(notif->calls[1].at >= notif->calls[0].at + 5000ms);
  advance(9ms);
  CHECK(notif->calls.size() == 2); // delivered waits for ready's reply
  advance(1ms);
  REQUIRE(notif->calls.size() == 3);
  CHECK(body_status(notif->calls[2]) == "delivered");
  CHECK(notif->calls[2].at >= notif->calls[1].at + 10ms);
  advance(100ms);
  CHECK(notif->calls.size() == 3);

  for (auto& c : notif->calls)
    CHECK(key_of(c) == id + ":" + body_status(c));
  auto o = stored(id);
  CHECK(o.status == order_status::delivered);
  REQUIRE(o.notifications.size() == 3);
  std::vector<std::string> statuses;
  for (auto& n : o.notifications) {
    statuses.push_back(n.status);
    CHECK(n.state == "sent");
    CHECK_FALSE(n.id.empty());
    CHECK(n.attempts == 1);
  }
  CHECK(statuses == std::vector<std::string>{"preparation", "ready", "delivered"});
  auto entries = outbox();
  REQUIRE(entries.size() == 3);
  for (auto& e : entries) {
    CHECK(e.state == outbox_state::sent);
    CHECK(e.order_id == id);
  }
  CHECK(count_events("notification_sent", "notification") == 3);
}

TEST_CASE_METHOD(durability_fixture, "outbox: notifications of different orders go concurrently",
                 "[outbox]") {
  start();
  notif->fallback = after(5000ms, respond_ok());
  auto a = paid_order();
  auto b = paid_order();
  REQUIRE(change(a, order_status::preparation)->value);
  REQUIRE(change(b, order_status::preparation)->value);
  advance(10ms);
  REQUIRE(notif->calls.size() == 2); // both in flight, neither answered
  CHECK(stored(a).notifications.at(0).state == "pending");
  CHECK(stored(b).notifications.at(0).state == "pending");
  std::set<std::string> keys{key_of(notif->calls[0]), key_of(notif->calls[1])};
  CHECK(keys == std::set<std::string>{a + ":preparation", b + ":preparation"});
  advance(5000ms);
  CHECK(stored(a).notifications.at(0).state == "sent");
  CHECK(stored(b).notifications.at(0).state == "sent");
  CHECK(notif->calls.size() == 2);
}

// Regression: a reset did not wake the paused entry (it waited out the 30 s
// break), and the refused call was announced as notification_failed.
TEST_CASE_METHOD(durability_fixture,
                 "outbox: an open notification breaker pauses delivery without failing",
                 "[outbox]") {
  start();
  auto id = paid_order();
  auto iso = circuit(service_kind::notification, circuit_action::isolate);
  REQUIRE(iso->value);
  REQUIRE(change(id, order_status::preparation)->value);
  advance(5000ms);
  CHECK(notif->calls.size() == 0);
  auto entries = outbox();
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].state == outbox_state::pending);
  CHECK(stored(id).notifications.at(0).state == "pending");
  CHECK(count_events("notification_failed", "notification") == 0);

  auto reset = circuit(service_kind::notification, circuit_action::reset);
  REQUIRE(reset->value);
  advance(2000ms);
  CHECK(notif->calls.size() == 1);
  CHECK(outbox().at(0).state == outbox_state::sent);
  CHECK(stored(id).notifications.at(0).state == "sent");

  // However late it comes, the entry is delivered, never failed.
  advance(30000ms);
  CHECK(notif->calls.size() == 1);
  CHECK(outbox().at(0).state == outbox_state::sent);
  CHECK(stored(id).notifications.at(0).state == "sent");
}

TEST_CASE_METHOD(durability_fixture,
                 "outbox: spent retries fail the entry and let the order's next one go",
                 "[outbox]") {
  notif_settings.retry.max_retries = 1;
  notif_settings.circuit_breaker.failure_threshold = 100;
  start();
  notif->fn = [](const http_call& call, std::size_t) {
    auto status = std::string{boost::json::parse(call.body).as_object().at("status").as_string()};
    return status == "preparation" ? respond(500, R"({"success":false})") : respond_ok();
  };
  auto id = paid_order();
  REQUIRE(change(id, order_status::preparation)->value);
  REQUIRE(change(id, order_status::ready)->value);
  REQUIRE(notif->calls.size() == 1);
  advance(10000ms);
  REQUIRE(notif->calls.size() == 3);
  CHECK(body_status(notif->calls[0]) == "preparation");
  CHECK(body_status(notif->calls[1]) == "preparation");
  CHECK(body_status(notif->calls[2]) == "ready");
  CHECK(notif->calls[2].at >= notif->calls[1].at);
  CHECK(key_of(notif->calls[2]) == id + ":ready");

  auto entries = outbox();
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].status == "preparation");
  CHECK(entries[0].state == outbox_state::failed);
  CHECK(entries[0].attempts == 2);
  CHECK_FALSE(entries[0].last_error.empty());
  CHECK(entries[1].status == "ready");
  CHECK(entries[1].state == outbox_state::sent);
  CHECK(entries[1].last_error.empty());
  auto o = stored(id);
  REQUIRE(o.notifications.size() == 2);
  CHECK(o.notifications[0].state == "failed");
  CHECK(o.notifications[1].state == "sent");
  CHECK(deps.store->outbox_count(outbox_state::failed).first == 1);
  CHECK(deps.store->outbox_count(outbox_state::pending).first == 0);
  CHECK(count_events("notification_failed", "notification") == 1);
  CHECK(count_events("notification_sent", "notification") == 1);
}

TEST_CASE_METHOD(durability_fixture,
                 "outbox: an operator's retry puts a failed entry back, delivered once more",
                 "[outbox]") {
  notif_settings.retry.max_retries = 0;
  notif_settings.circuit_breaker.failure_threshold = 100;
  start();
  notif->queue = {respond(500, R"({"success":false})")};
  auto id = paid_order();
  REQUIRE(change(id, order_status::preparation)->value);
  advance(100ms);
  auto entries = outbox();
  REQUIRE(entries.size() == 1);
  REQUIRE(entries[0].state == outbox_state::failed);
  auto entry_id = entries[0].id;

  auto requeue = [&](const std::string& eid) {
    auto slot = ask<requeue_reply>(coord, requeue_atom::value, eid);
    run();
    REQUIRE(slot->value);
    return *slot->value;
  };
  CHECK(requeue("ntf_unknown").result == requeue_result::not_found);

  // A failing store answers store_failed and leaves the entry failed.
  fake->fail_next(1);
  CHECK(requeue(entry_id).result == requeue_result::store_failed);
  CHECK(deps.store->outbox_get(entry_id)->state == outbox_state::failed);
  CHECK(count_events("outbox_retried", "notification") == 0);

  auto back = requeue(entry_id);
  CHECK(back.result == requeue_result::requeued);
  CHECK(back.entry.attempts == 0);
  auto retried = events("outbox_retried", "notification", id);
  REQUIRE(retried.size() == 1);
  CHECK(retried[0].at("payload").at("entryId").as_string() == entry_id);
  CHECK(retried[0].at("payload").at("status").as_string() == "preparation");

  advance(100ms);
  REQUIRE(notif->calls.size() == 2);
  CHECK(key_of(notif->calls[1]) == id + ":preparation");
  auto e = deps.store->outbox_get(entry_id);
  REQUIRE(e);
  CHECK(e->state == outbox_state::sent);
  CHECK(e->attempts == 1);
  CHECK(stored(id).notifications.at(0).state == "sent");
  // A sent entry is not put back.
  CHECK(requeue(entry_id).result == requeue_result::not_failed);
  CHECK(count_events("outbox_retried", "notification") == 1);
}

// -- recovery -------------------------------------------------------------------------

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: at start it resumes pending payments and pending outbox entries",
                 "[coordinator][store][outbox]") {
  // What a previous run left behind: an order mid-payment, and a paid order
  // whose notification was not delivered yet.
  auto unpaid = stored_order("pending_payment", "key-rec");
  auto paid = stored_order("waiting");
  auto entry = pending_notification(paid);
  REQUIRE(put_order(*deps.store, unpaid).ok);
  store_write w;
  w.orders.push_back(paid);
  w.outbox.push_back(entry);
  REQUIRE(deps.store->commit({&w}).ok);

  pay->queue = {hang()};
  start();
  // The payment is attempted again with the same Idempotency-Key.
  REQUIRE(pay->calls.size() == 1);
  CHECK(key_of(pay->calls[0]) == unpaid.id);
  CHECK(stored(unpaid.id).status == order_status::pending_payment);

  // A client asking again while it runs: in progress, the same order.
  auto again = create(create_command("key-rec", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::in_progress);
  CHECK(again->value->placed.id == unpaid.id);
  CHECK(pay->calls.size() == 1);

  anon_send(pay_fake, release_atom::value, respond_ok().reply);
  run();
  CHECK(stored(unpaid.id).status == order_status::waiting);
  CHECK(stored(unpaid.id).payment.status == "succeeded");
  auto recovered = events("order_recovered", "orders", unpaid.id);
  REQUIRE(recovered.size() == 1);
  CHECK(recovered[0].at("payload").at("status").as_string() == "waiting");

  // After it: the one order, replayed, no second charge.
  auto after_it = create(create_command("key-rec", "fp-1"));
  REQUIRE(after_it->value);
  CHECK(after_it->value->result == create_result::replayed);
  CHECK(after_it->value->placed.id == unpaid.id);
  CHECK(pay->calls.size() == 1);
  CHECK(deps.store->size() == 2);

  // The pending entry is delivered.
  advance(100ms);
  REQUIRE(notif->calls.size() == 1);
  CHECK(key_of(notif->calls[0]) == paid.id + ":waiting");
  auto e = deps.store->outbox_get(entry.id);
  REQUIRE(e);
  CHECK(e->state == outbox_state::sent);
  CHECK(stored(paid.id).notifications.at(0).state == "sent");
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a resumed payment refused by the breaker stays pending, not failed",
                 "[coordinator][store]") {
  // An order left pending_payment may have been charged before the crash: a
  // refusal that sends nothing (breaker open) must not report it failed.
  auto unpaid = stored_order("pending_payment", "key-open");
  REQUIRE(put_order(*deps.store, unpaid).ok);
  start();
  REQUIRE(circuit(service_kind::payment, circuit_action::isolate)->value);
  // The order's first resumed attempt went out at start (answered by the
  // fake's default); take a fresh one that meets the isolated breaker.
  auto second = stored_order("pending_payment", "key-open-2");
  REQUIRE(put_order(*deps.store, second).ok);
  auto again = create(create_command("key-open-2", "fp-1"));
  REQUIRE(again->value);
  CHECK(again->value->result == create_result::payment_failed);
  CHECK(again->value->payment.result == call_result::circuit_open);
  CHECK(stored(second.id).status == order_status::pending_payment);
  CHECK(events("order_status_changed", "orders", second.id).empty());
  // While it waits the key is still in progress: no second order, no failure.
  auto during = create(create_command("key-open-2", "fp-1"));
  REQUIRE(during->value);
  CHECK(during->value->result == create_result::in_progress);

  auto calls_before = pay->calls.size();
  REQUIRE(circuit(service_kind::payment, circuit_action::reset)->value);
  advance(31000ms);
  CHECK(pay->calls.size() == calls_before + 1);
  CHECK(key_of(pay->calls.back()) == second.id);
  CHECK(stored(second.id).status == order_status::waiting);
  auto replay = create(create_command("key-open-2", "fp-1"));
  REQUIRE(replay->value);
  CHECK(replay->value->result == create_result::replayed);
  CHECK(replay->value->placed.id == second.id);
}

// -- several daemons on one store (CONTRACT §8) ------------------------------------
// "Another daemon" is a commit straight to the store while this coordinator's
// write is held: what it finds at commit time is what a racing instance left.

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a key another daemon committed first answers 409, then the replay",
                 "[coordinator][store]") {
  start();
  fake->hold(true);
  auto r = create(create_command("key-1", "fp-1"));
  REQUIRE(fake->held() == 1);
  auto theirs = stored_order("pending_payment", "key-1");
  REQUIRE(put_order(*deps.store, theirs).ok);
  REQUIRE(release() == 1);
  REQUIRE(r->value);
  CHECK(r->value->result == create_result::in_progress);
  CHECK(r->value->placed.id == theirs.id);
  CHECK(pay->calls.size() == 0); // never a second payment
  CHECK(deps.store->size() == 1);

  // Their payment lands; the same request is now their order's replay.
  fake->hold(false);
  theirs.status = order_status::waiting;
  REQUIRE(put_order(*deps.store, theirs).ok);
  auto replay = create(create_command("key-1", "fp-1"));
  REQUIRE(replay->value);
  CHECK(replay->value->result == create_result::replayed);
  CHECK(replay->value->placed.id == theirs.id);
  CHECK(pay->calls.size() == 0);
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a status change another daemon committed first answers 409 with it",
                 "[coordinator][store]") {
  start();
  auto id = paid_order();
  fake->hold(true);
  auto r = change(id, order_status::preparation);
  REQUIRE(fake->held() == 1);
  auto theirs = stored(id);
  theirs.status = order_status::canceled;
  REQUIRE(put_order(*deps.store, theirs).ok);
  REQUIRE(release() == 1);
  REQUIRE(r->value);
  CHECK(r->value->result == change_result::conflict);
  CHECK(r->value->current.status == order_status::canceled);
  CHECK(stored(id).status == order_status::canceled);
  CHECK(outbox().empty()); // the loser's notification was not queued
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a second request with a key whose first commit is still out is "
                 "answered with the order that won the key",
                 "[coordinator][store]") {
  start();
  fake->hold(true);
  auto first = create(create_command("key-2", "fp-1"));
  REQUIRE(fake->held() == 1);
  // The second arrives while the first is being committed, and another daemon takes the key.
  auto second = create(create_command("key-2", "fp-1"));
  auto theirs = stored_order("pending_payment", "key-2");
  REQUIRE(put_order(*deps.store, theirs).ok);
  REQUIRE(release() == 1);
  REQUIRE(first->value);
  REQUIRE(second->value);
  // Both name the order that holds the key, never the one this daemon failed to commit.
  CHECK(first->value->result == create_result::in_progress);
  CHECK(first->value->placed.id == theirs.id);
  CHECK(second->value->result == create_result::in_progress);
  CHECK(second->value->placed.id == theirs.id);
  CHECK(pay->calls.size() == 0);
}

// -- trace flags ----------------------------------------------------------------------

namespace {

/// The trace-flags of a recorded call's traceparent ("" when it has none).
std::string flags_of(const recorded_call& c) {
  auto tp = c.header("traceparent");
  return tp && tp->size() == 55 ? tp->substr(53) : std::string{};
}

/// The flags of the notification call announcing `status` for `order_id`.
std::string notification_flags(const script_ptr& notif, const std::string& order_id,
                               const std::string& status) {
  for (const auto& c : notif->calls)
    if (key_of(c) == order_id + ":" + status)
      return flags_of(c);
  return "(not sent)";
}

} // namespace

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a new order keeps its request's trace flags for its notifications",
                 "[coordinator][store][outbox]") {
  start();
  std::map<std::string, std::string> id_of_flags;
  for (const std::string flags : {"00", "01"}) {
    auto cmd = create_command();
    cmd.trace_flags = flags;
    auto r = create(cmd);
    REQUIRE(r->value);
    REQUIRE(r->value->result == create_result::created);
    const auto id = r->value->placed.id;
    id_of_flags[flags] = id;
    CHECK(stored(id).trace_flags == flags);
    REQUIRE(!pay->calls.empty());
    CHECK(key_of(pay->calls.back()) == id);
    CHECK(flags_of(pay->calls.back()) == flags);
  }
  // The status changes come without the create's traceparent; the outbox delivers later.
  for (const auto& [flags, id] : id_of_flags) {
    auto changed = change(id, order_status::preparation);
    REQUIRE(changed->value);
    REQUIRE(changed->value->result == change_result::changed);
  }
  advance(100ms);
  REQUIRE(notif->calls.size() == 2);
  for (const auto& [flags, id] : id_of_flags) {
    INFO("flags " << flags);
    CHECK(notification_flags(notif, id, "preparation") == flags);
  }
}

TEST_CASE_METHOD(durability_fixture,
                 "coordinator: a payment resumed at start and the notifications go out with the "
                 "trace flags stored with the order",
                 "[coordinator][store][outbox]") {
  // What a previous run left behind: an unsampled and a sampled order mid-payment, and an
  // unsampled paid order whose notification was not delivered yet.
  auto unsampled = stored_order("pending_payment", "key-00");
  unsampled.trace_flags = "00";
  auto sampled = stored_order("pending_payment", "key-01");
  REQUIRE(sampled.trace_flags == "01");
  auto paid = stored_order("waiting");
  paid.trace_flags = "00";
  auto entry = pending_notification(paid);
  store_write w;
  w.orders = {unsampled, sampled, paid};
  w.outbox = {entry};
  REQUIRE(deps.store->commit({&w}).ok);

  start();
  // Resumed under their keys, each with the flags of the request that created it.
  REQUIRE(pay->calls.size() == 2);
  std::map<std::string, std::string> flags_by_order;
  for (const auto& c : pay->calls)
    flags_by_order[key_of(c)] = flags_of(c);
  CHECK(flags_by_order[unsampled.id] == "00");
  CHECK(flags_by_order[sampled.id] == "01");
  run();
  CHECK(stored(unsampled.id).status == order_status::waiting);
  CHECK(stored(unsampled.id).trace_flags == "00");

  // The notification left pending, and those of the resumed orders' next status.
  advance(100ms);
  CHECK(notification_flags(notif, paid.id, "waiting") == "00");
  for (const auto* o : {&unsampled, &sampled}) {
    auto changed = change(o->id, order_status::preparation);
    REQUIRE(changed->value);
    REQUIRE(changed->value->result == change_result::changed);
  }
  advance(100ms);
  CHECK(notification_flags(notif, unsampled.id, "preparation") == "00");
  CHECK(notification_flags(notif, sampled.id, "preparation") == "01");
}
