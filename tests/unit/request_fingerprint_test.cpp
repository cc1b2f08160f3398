#include "coffeeshop/domain/request_fingerprint.hpp"

#include <catch2/catch.hpp>

#include <regex>

using namespace coffeeshop;

namespace {

order_line line(std::string product, std::string variation, int quantity) {
  order_line l;
  l.product = std::move(product);
  l.variation = std::move(variation);
  l.quantity = quantity;
  return l;
}

priced_order ana_order() {
  priced_order o;
  o.customer_email = "ana@example.com";
  o.payment_method = "credit_card";
  o.currency = "USD";
  o.items = {line("Latte", "Vanilla", 2), line("Donuts", "Glazed", 1)};
  return o;
}

} // namespace

TEST_CASE("request_fingerprint: pinned value", "[request_fingerprint]") {
  // FNV-1a 64 of "15:ana@example.com11:credit_card3:USD5:Latte7:Vanilla1:26:Donuts6:Glazed1:1".
  // Fingerprints are stored with idempotency records: if this value changes, replays of
  // requests accepted by an older build are answered 422 instead of 200.
  CHECK(request_fingerprint(ana_order()) == "810ae67db50ab50b");
  CHECK(request_fingerprint(priced_order{}) == "06b6baf4c152d09f"); // FNV-1a 64 of "0:0:0:"
}

TEST_CASE("request_fingerprint: 16 lowercase hex digits, the same every time",
          "[request_fingerprint]") {
  const auto fp = request_fingerprint(ana_order());
  CHECK(std::regex_match(fp, std::regex("^[0-9a-f]{16}$")));
  CHECK(request_fingerprint(ana_order()) == fp);
}

TEST_CASE("request_fingerprint: prices do not take part", "[request_fingerprint]") {
  auto o = ana_order();
  o.items[0].unit_price = 430;
  o.items[0].line_total = 860;
  o.total = 1060;
  CHECK(request_fingerprint(o) == request_fingerprint(ana_order()));
}

TEST_CASE("request_fingerprint: every field of the body counts", "[request_fingerprint]") {
  const auto base = request_fingerprint(ana_order());
  auto changed = [&](auto edit) {
    auto o = ana_order();
    edit(o);
    return request_fingerprint(o);
  };
  CHECK(changed([](priced_order& o) { o.customer_email = "bob@example.com"; }) != base);
  CHECK(changed([](priced_order& o) { o.payment_method = "cash"; }) != base);
  CHECK(changed([](priced_order& o) { o.currency = "EUR"; }) != base);
  CHECK(changed([](priced_order& o) { o.items[0].product = "Macchiato"; }) != base);
  CHECK(changed([](priced_order& o) { o.items[0].variation = "Hazelnut"; }) != base);
  CHECK(changed([](priced_order& o) { o.items[1].quantity = 3; }) != base);
  CHECK(changed([](priced_order& o) { std::swap(o.items[0], o.items[1]); }) != base);
  CHECK(changed([](priced_order& o) { o.items.pop_back(); }) != base);
  CHECK(changed([](priced_order& o) { o.items.push_back(line("Donuts", "Glazed", 1)); }) != base);
}

TEST_CASE("request_fingerprint: field boundaries cannot be moved", "[request_fingerprint]") {
  auto with = [](std::string email, std::string method, std::string currency,
                 std::vector<order_line> items) {
    priced_order o;
    o.customer_email = std::move(email);
    o.payment_method = std::move(method);
    o.currency = std::move(currency);
    o.items = std::move(items);
    return request_fingerprint(o);
  };
  // "ab" + "c" vs "a" + "bc", at each boundary.
  CHECK(with("ab", "c", "USD", {}) != with("a", "bc", "USD", {}));
  CHECK(with("e", "ab", "c", {}) != with("e", "a", "bc", {}));
  CHECK(with("e", "m", "USD", {line("ab", "c", 1)}) != with("e", "m", "USD", {line("a", "bc", 1)}));
  // Variation and quantity: "x1" + 2 vs "x" + 12.
  CHECK(with("e", "m", "USD", {line("p", "x1", 2)}) != with("e", "m", "USD", {line("p", "x", 12)}));
  // Across lines: an empty variation must not let one line's fields slide into the next.
  CHECK(with("e", "m", "USD", {line("a", "", 1), line("b", "", 1)}) !=
        with("e", "m", "USD", {line("a", "1", 1), line("b", "", 1)}));
  // Separator and length-prefix look-alikes inside values.
  CHECK(with("a\nb", "c", "USD", {}) != with("a", "b\nc", "USD", {}));
  CHECK(with("1:a", "b", "USD", {}) != with("1:a1:b", "", "USD", {}));
  CHECK(with("", "3:USD", "", {}) != with("", "", "3:USD", {}));
}
