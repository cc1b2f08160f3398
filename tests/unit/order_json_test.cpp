#include "coffeeshop/domain/order_json.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <limits>

using namespace coffeeshop;

namespace {

order sample_order() {
  order o;
  o.id = "ord_0190a1b2c3d4deadbeef";
  o.status = order_status::waiting;
  o.items = {
    {"Latte", "Vanilla", 2, 430, 860},
    {"Tea", "", 1, 300, 300},
  };
  o.total = 1160;
  o.currency = "USD";
  o.customer_email = "ana@example.com";
  o.payment_method = "cash";
  o.payment.status = "succeeded";
  o.payment.attempts = 2;
  o.payment.reference = "pay_123";
  o.notifications = {{"waiting", "sent", 1, ""}, {"preparation", "pending", 0, ""}};
  o.created_at_ms = 0;
  o.updated_at_ms = 1795514130123;
  o.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  o.idempotency_key = "key-1";
  o.request_fingerprint = "abc";
  return o;
}

} // namespace

TEST_CASE("order_json: members and values", "[order_json]") {
  const auto json = to_json(sample_order());
  CHECK(json.size() == 12);
  CHECK(json.at("id") == "ord_0190a1b2c3d4deadbeef");
  CHECK(json.at("status") == "waiting");
  CHECK(json.at("total").as_double() == 11.6);
  CHECK(json.at("currency") == "USD");
  CHECK(json.at("customerEmail") == "ana@example.com"); // unmasked in the API
  CHECK(json.at("paymentMethod") == "cash");
  CHECK(json.at("createdAt") == "1970-01-01T00:00:00.000Z");
  CHECK(json.at("updatedAt") == "2026-11-24T09:55:30.123Z");
  CHECK(json.at("traceId") == "4bf92f3577b34da6a3ce929d0e0e4736");
  // Internal bookkeeping stays off the wire.
  CHECK_FALSE(json.contains("idempotencyKey"));
  CHECK_FALSE(json.contains("requestFingerprint"));

  const auto& items = json.at("items").as_array();
  REQUIRE(items.size() == 2);
  const auto& first = items[0].as_object();
  CHECK(first.size() == 5);
  CHECK(first.at("product") == "Latte");
  CHECK(first.at("variation") == "Vanilla");
  CHECK(first.at("quantity") == 2);
  CHECK(first.at("unitPrice").as_double() == 4.3);
  CHECK(first.at("lineTotal").as_double() == 8.6);
  CHECK(items[1].as_object().at("variation").is_null());

  const auto& payment = json.at("payment").as_object();
  CHECK(payment.size() == 3);
  CHECK(payment.at("status") == "succeeded");
  CHECK(payment.at("attempts") == 2);
  CHECK(payment.at("reference") == "pay_123");

  const auto& notifications = json.at("notifications").as_array();
  REQUIRE(notifications.size() == 2);
  const auto& n = notifications[0].as_object();
  CHECK(n.size() == 3);
  CHECK(n.at("status") == "waiting");
  CHECK(n.at("state") == "sent");
  CHECK(n.at("attempts") == 1);
  CHECK(notifications[1].as_object().at("state") == "pending");
}

TEST_CASE("order_json: empty payment reference and lists", "[order_json]") {
  order o;
  o.id = "ord_x";
  const auto json = to_json(o);
  CHECK(json.at("status") == "pending_payment");
  CHECK(json.at("payment").as_object().at("reference").is_null());
  CHECK(json.at("payment").as_object().at("status") == "pending");
  CHECK(json.at("items").as_array().empty());
  CHECK(json.at("notifications").as_array().empty());
  CHECK(json.at("total").as_double() == 0.0);
}

TEST_CASE("order_json: to_json_text writes plain decimals", "[order_json]") {
  CHECK(to_json_text(boost::json::value{{"a", 4.0}}) == R"({"a":4.0})");
  CHECK(to_json_text(boost::json::value{{"a", to_wire_amount(450)}}) == R"({"a":4.5})");
  CHECK(to_json_text(boost::json::value{{"a", to_wire_amount(30)}}) == R"({"a":0.3})");
  CHECK(to_json_text(boost::json::value{{"a", to_wire_amount(1234567)}}) == R"({"a":12345.67})");
  CHECK(to_json_text(boost::json::value{{"a", to_wire_amount(-5)}}) == R"({"a":-0.05})");
  CHECK(to_json_text(boost::json::array{1, -2, true, false, nullptr, "x"}) ==
        R"([1,-2,true,false,null,"x"])");
  CHECK(to_json_text(boost::json::value(std::numeric_limits<double>::infinity())) == "null");
  CHECK(to_json_text(boost::json::value(18446744073709551615ull)) == "18446744073709551615");
  CHECK(to_json_text(boost::json::value("q\"b\\n\n\t\x01\xc3\xa9")) ==
        "\"q\\\"b\\\\n\\n\\t\\u0001\xc3\xa9\"");
  CHECK(to_json_text(boost::json::object{}) == "{}");
  CHECK(to_json_text(boost::json::array{}) == "[]");

  // Whatever it writes parses back to the same value.
  const auto json = boost::json::value(to_json(sample_order()));
  CHECK(boost::json::parse(to_json_text(json)) == json);
}

TEST_CASE("order_json: money helpers", "[order_json]") {
  CHECK(to_wire_amount(450) == 4.5);
  CHECK(to_wire_amount(0) == 0.0);
  CHECK(to_wire_amount(1) == 0.01);
  CHECK(to_wire_amount(-250) == -2.5);
  CHECK(format_amount(450) == "4.50");
  CHECK(format_amount(0) == "0.00");
  CHECK(format_amount(5) == "0.05");
  CHECK(format_amount(1234567) == "12345.67");
  CHECK(format_amount(-5) == "-0.05");
  CHECK(format_amount(-450) == "-4.50");
  CHECK(format_amount(std::numeric_limits<cents>::min()) == "-92233720368547758.08");
}

TEST_CASE("order_json: a notification's id is shown when it has one", "[order_json]") {
  auto o = sample_order();
  o.notifications[1].id = "ntf_1";
  const auto json = to_json(o);
  const auto& notifications = json.at("notifications").as_array();
  CHECK_FALSE(notifications[0].as_object().contains("id"));
  CHECK(notifications[1].as_object().at("id") == "ntf_1");
  CHECK(notifications[1].as_object().size() == 4);
}

TEST_CASE("order_json: the stored form decodes to the same order", "[order_json][store]") {
  auto check_round_trip = [](const order& o) {
    // Through text, as a store keeps it.
    const auto text = to_json_text(to_stored_json(o));
    auto back = order_from_stored_json(boost::json::parse(text));
    REQUIRE(back.has_value());
    CHECK(back->id == o.id);
    CHECK(back->status == o.status);
    REQUIRE(back->items.size() == o.items.size());
    for (std::size_t i = 0; i < o.items.size(); ++i) {
      CHECK(back->items[i].product == o.items[i].product);
      CHECK(back->items[i].variation == o.items[i].variation);
      CHECK(back->items[i].quantity == o.items[i].quantity);
      CHECK(back->items[i].unit_price == o.items[i].unit_price);
      CHECK(back->items[i].line_total == o.items[i].line_total);
    }
    CHECK(back->total == o.total);
    CHECK(back->currency == o.currency);
    CHECK(back->customer_email == o.customer_email);
    CHECK(back->payment_method == o.payment_method);
    CHECK(back->payment.status == o.payment.status);
    CHECK(back->payment.attempts == o.payment.attempts);
    CHECK(back->payment.reference == o.payment.reference);
    REQUIRE(back->notifications.size() == o.notifications.size());
    for (std::size_t i = 0; i < o.notifications.size(); ++i) {
      CHECK(back->notifications[i].id == o.notifications[i].id);
      CHECK(back->notifications[i].status == o.notifications[i].status);
      CHECK(back->notifications[i].state == o.notifications[i].state);
      CHECK(back->notifications[i].attempts == o.notifications[i].attempts);
    }
    CHECK(back->created_at_ms == o.created_at_ms);
    CHECK(back->updated_at_ms == o.updated_at_ms);
    CHECK(back->trace_id == o.trace_id);
    CHECK(back->idempotency_key == o.idempotency_key);
    CHECK(back->request_fingerprint == o.request_fingerprint);
    // Nothing is lost: encoding the decoded order gives the same document.
    CHECK(to_stored_json(*back) == to_stored_json(o));
  };

  SECTION("every field set") {
    auto o = sample_order();
    o.notifications[0].id = "ntf_a";
    o.notifications[1].id = "ntf_b";
    o.total = std::numeric_limits<cents>::max(); // integer cents, not a double
    o.created_at_ms = 1795514130123;
    check_round_trip(o);
  }
  SECTION("defaults: no key, no reference, empty lists") {
    order o;
    o.id = "ord_x";
    check_round_trip(o);
  }
  SECTION("every status") {
    for (auto s : {order_status::pending_payment, order_status::payment_failed,
                   order_status::waiting, order_status::preparation, order_status::ready,
                   order_status::delivered, order_status::canceled}) {
      auto o = sample_order();
      o.status = s;
      check_round_trip(o);
    }
  }
}

TEST_CASE("order_json: the stored form refuses what it did not write", "[order_json][store]") {
  const auto good = boost::json::value(to_stored_json(sample_order()));
  REQUIRE(order_from_stored_json(good).has_value());

  // Stored before notifications had ids.
  auto old = good;
  for (auto& n : old.as_object().at("notifications").as_array())
    n.as_object().erase("id");
  auto decoded = order_from_stored_json(old);
  REQUIRE(decoded.has_value());
  CHECK(decoded->notifications.at(0).id.empty());

  auto without = [&](const char* key) {
    auto v = good;
    v.as_object().erase(key);
    return v;
  };
  CHECK_FALSE(order_from_stored_json(without("id")).has_value());
  CHECK_FALSE(order_from_stored_json(without("idempotencyKey")).has_value());
  CHECK_FALSE(order_from_stored_json(without("payment")).has_value());
  CHECK_FALSE(order_from_stored_json(without("createdAtMs")).has_value());

  auto bad_status = good;
  bad_status.as_object()["status"] = "brewing";
  CHECK_FALSE(order_from_stored_json(bad_status).has_value());
  auto wire_money = good;
  wire_money.as_object()["total"] = 11.6;
  CHECK_FALSE(order_from_stored_json(wire_money).has_value());
  auto bad_item = good;
  bad_item.as_object()["items"].as_array()[0].as_object()["quantity"] = "2";
  CHECK_FALSE(order_from_stored_json(bad_item).has_value());
  CHECK_FALSE(order_from_stored_json(boost::json::array{}).has_value());
}
