#include "coffeeshop/domain/order.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <utility>

using namespace coffeeshop;

namespace {
const order_status all_statuses[] = {
  order_status::pending_payment, order_status::payment_failed, order_status::waiting,
  order_status::preparation,     order_status::ready,          order_status::delivered,
  order_status::canceled,
};
}

TEST_CASE("status: wire names round-trip", "[order]") {
  CHECK(to_string(order_status::pending_payment) == "pending_payment");
  CHECK(to_string(order_status::payment_failed) == "payment_failed");
  CHECK(to_string(order_status::waiting) == "waiting");
  CHECK(to_string(order_status::preparation) == "preparation");
  CHECK(to_string(order_status::ready) == "ready");
  CHECK(to_string(order_status::delivered) == "delivered");
  CHECK(to_string(order_status::canceled) == "canceled");
  for (auto s : all_statuses) {
    auto parsed = parse_order_status(to_string(s));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == s);
  }
  CHECK_FALSE(parse_order_status("Waiting").has_value());
  CHECK_FALSE(parse_order_status("cancelled").has_value());
  CHECK_FALSE(parse_order_status("").has_value());
  CHECK_FALSE(parse_order_status("ready ").has_value());
}

TEST_CASE("status: transition table, every pair", "[order]") {
  using S = order_status;
  const std::set<std::pair<S, S>> allowed = {
    {S::waiting, S::preparation},
    {S::waiting, S::canceled},
    {S::preparation, S::ready},
    {S::ready, S::delivered},
  };
  int allowed_count = 0;
  for (auto from : all_statuses) {
    for (auto to : all_statuses) {
      INFO(to_string(from) << " -> " << to_string(to));
      const bool expected = allowed.count({from, to}) == 1;
      CHECK(can_transition(from, to) == expected);
      allowed_count += can_transition(from, to) ? 1 : 0;
    }
  }
  CHECK(allowed_count == 4);
}

TEST_CASE("status: allowed_next lists moves in order", "[order]") {
  using S = order_status;
  CHECK(allowed_next(S::waiting) == std::vector<S>{S::preparation, S::canceled});
  CHECK(allowed_next(S::preparation) == std::vector<S>{S::ready});
  CHECK(allowed_next(S::ready) == std::vector<S>{S::delivered});
  CHECK(allowed_next(S::delivered).empty());
  CHECK(allowed_next(S::canceled).empty());
  CHECK(allowed_next(S::pending_payment).empty());
  CHECK(allowed_next(S::payment_failed).empty());
}

TEST_CASE("status: order defaults", "[order]") {
  order o;
  CHECK(o.status == order_status::pending_payment);
  CHECK(o.currency == "USD");
  CHECK(o.payment_method == "credit_card");
  CHECK(o.payment.status == "pending");
  CHECK(o.payment.attempts == 0);
  CHECK_FALSE(o.payment.reference.has_value());
  CHECK(notification_record{}.state == "pending");
}
