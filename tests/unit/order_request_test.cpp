#include "coffeeshop/domain/order_request.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <string>

using namespace coffeeshop;

namespace {

const menu& shop_menu() {
  static const menu m = menu::built_in();
  return m;
}

std::variant<priced_order, std::vector<field_error>> validate(const std::string& body) {
  return validate_order_request(boost::json::parse(body), shop_menu());
}

priced_order priced(const std::string& body) {
  auto result = validate(body);
  if (auto* errors = std::get_if<std::vector<field_error>>(&result)) {
    for (const auto& e : *errors)
      UNSCOPED_INFO(e.field << ": " << e.message);
    FAIL("expected a valid order: " << body);
  }
  return std::get<priced_order>(result);
}

std::vector<field_error> errors_of(const std::string& body) {
  auto result = validate(body);
  if (!std::holds_alternative<std::vector<field_error>>(result))
    FAIL("expected validation errors: " << body);
  return std::get<std::vector<field_error>>(result);
}

/// The single error of a body; fails when there are none or several.
field_error only_error(const std::string& body) {
  auto errors = errors_of(body);
  for (const auto& e : errors)
    UNSCOPED_INFO(e.field << ": " << e.message);
  REQUIRE(errors.size() == 1);
  return errors[0];
}

/// A valid body whose first item is replaced by `item`.
std::string with_item(const std::string& item) {
  return R"({"customerEmail":"ana@example.com","items":[)" + item + "]}";
}

/// A valid body with `extra` members appended at the top level.
std::string with_top(const std::string& extra) {
  return R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":1}])" +
         extra + "}";
}

std::string item(const std::string& product, const std::string& variation, int quantity) {
  return R"({"product":")" + product + R"(","variation":")" + variation + R"(","quantity":)" +
         std::to_string(quantity) + "}";
}

} // namespace

TEST_CASE("pricing: every product and variation", "[pricing]") {
  struct row {
    const char* product;
    const char* variation;
    cents unit;
  };
  const row rows[] = {
    {"Latte", "Pumpkin Spice", 450},   {"Latte", "Vanilla", 430},
    {"Latte", "Hazelnut", 440},        {"Espresso", "Single Shot", 250},
    {"Espresso", "Double Shot", 350},  {"Macchiato", "Caramel", 450},
    {"Macchiato", "Vanilla", 430},     {"Iced Coffee", "Regular", 350},
    {"Iced Coffee", "Sweetened", 380}, {"Iced Coffee", "Extra Ice", 370},
    {"Donuts", "Glazed", 200},         {"Donuts", "Jelly", 230},
    {"Donuts", "Boston Cream", 250},
  };
  for (const auto& r : rows) {
    INFO(r.product << " / " << r.variation);
    auto order = priced(with_item(item(r.product, r.variation, 3)));
    REQUIRE(order.items.size() == 1);
    CHECK(order.items[0].product == r.product);
    CHECK(order.items[0].variation == r.variation);
    CHECK(order.items[0].quantity == 3);
    CHECK(order.items[0].unit_price == r.unit);
    CHECK(order.items[0].line_total == r.unit * 3);
    CHECK(order.total == r.unit * 3);
  }
}

TEST_CASE("pricing: total sums lines and defaults are filled", "[pricing]") {
  auto order = priced(R"({"customerEmail":"ana@example.com","items":[
      {"product":"Latte","variation":"Vanilla","quantity":2},
      {"product":"Donuts","variation":"Boston Cream","quantity":1},
      {"product":"Espresso","variation":"Double Shot","quantity":100}]})");
  REQUIRE(order.items.size() == 3);
  CHECK(order.items[0].line_total == 860);
  CHECK(order.items[1].line_total == 250);
  CHECK(order.items[2].line_total == 35000);
  CHECK(order.total == 860 + 250 + 35000);
  CHECK(order.customer_email == "ana@example.com");
  CHECK(order.payment_method == "credit_card");
  CHECK(order.currency == "USD");
}

TEST_CASE("pricing: names match case-insensitively and are stored canonically", "[pricing]") {
  auto order = priced(
    with_item(R"({"product":"iced COFFEE","variation":"extra ice","quantity":1})"));
  CHECK(order.items[0].product == "Iced Coffee");
  CHECK(order.items[0].variation == "Extra Ice");
  CHECK(order.items[0].unit_price == 370);
}

TEST_CASE("pricing: explicit paymentMethod, currency and null optionals", "[pricing]") {
  for (const char* method : {"credit_card", "debit_card", "cash", "mobile"}) {
    auto order = priced(
      with_top(std::string(R"(,"paymentMethod":")") + method + R"(","currency":"USD")"));
    CHECK(order.payment_method == method);
    CHECK(order.currency == "USD");
  }
  auto order = priced(with_top(R"(,"paymentMethod":null,"currency":null)"));
  CHECK(order.payment_method == "credit_card");
  CHECK(order.currency == "USD");
}

TEST_CASE("pricing: 50 items and quantity 100 are the limits that pass", "[pricing]") {
  std::string items;
  for (int i = 0; i < 50; ++i)
    items += (i ? "," : "") + item("Latte", "Vanilla", 100);
  auto order = priced(R"({"customerEmail":"ana@example.com","items":[)" + items + "]}");
  CHECK(order.items.size() == 50);
  CHECK(order.total == 50 * 100 * 430);
}

TEST_CASE("pricing: quantity 2.0 is an integer", "[pricing]") {
  auto order = priced(with_item(R"({"product":"Latte","variation":"Vanilla","quantity":2.0})"));
  CHECK(order.items[0].quantity == 2);
  CHECK(order.total == 860);
}

TEST_CASE("pricing: products without variations", "[pricing]") {
  const menu m("USD", {{"Tea", 300, {}}});
  for (const char* variation : {"", R"(,"variation":null)", R"(,"variation":"")"}) {
    INFO(variation);
    auto body = std::string(
                  R"({"customerEmail":"ana@example.com","items":[{"product":"tea","quantity":2)") +
                variation + "}]}";
    auto result = validate_order_request(boost::json::parse(body), m);
    REQUIRE(std::holds_alternative<priced_order>(result));
    const auto& order = std::get<priced_order>(result);
    CHECK(order.items[0].product == "Tea");
    CHECK(order.items[0].variation.empty());
    CHECK(order.total == 600);
  }
  auto body =
    R"({"customerEmail":"ana@example.com","items":[{"product":"Tea","variation":"Large","quantity":1}]})";
  auto result = validate_order_request(boost::json::parse(body), m);
  REQUIRE(std::holds_alternative<std::vector<field_error>>(result));
  const auto& errors = std::get<std::vector<field_error>>(result);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].field == "items[0].variation");
  CHECK(errors[0].message == "Tea has no variations");
}

TEST_CASE("validation: body must be a JSON object", "[validation]") {
  for (const char* body : {"[]", "null", "\"x\"", "42", "true"}) {
    INFO(body);
    auto e = only_error(body);
    CHECK(e.field == "");
    CHECK(e.message == "must be a JSON object");
  }
}

TEST_CASE("validation: customerEmail", "[validation]") {
  SECTION("missing") {
    auto e = only_error(R"({"items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})");
    CHECK(e.field == "customerEmail");
    CHECK(e.message == "is required");
  }
  SECTION("null") {
    CHECK(
      only_error(
        R"({"customerEmail":null,"items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})")
        .field == "customerEmail");
  }
  SECTION("wrong type") {
    auto e = only_error(
      R"({"customerEmail":42,"items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})");
    CHECK(e.field == "customerEmail");
    CHECK(e.message == "must be a string");
  }
  SECTION("bad shapes") {
    const std::string bad[] = {
      "",
      "a@",
      "@example.com",
      "ana",
      "ana@example",
      "ana@@example.com",
      "ana@b@example.com",
      "ana @example.com",
      "ana@exa mple.com",
      "ana@.com",
      "ana@example.",
      "ana\t@example.com",
      "a@" + std::string(250, 'x') + ".com", // 256 chars
    };
    for (const auto& email : bad) {
      INFO("email: '" << email << "'");
      auto body = boost::json::serialize(
        boost::json::object{{"customerEmail", email},
                            {"items",
                             boost::json::array{boost::json::object{
                               {"product", "Latte"}, {"variation", "Vanilla"}, {"quantity", 1}}}}});
      auto e = only_error(body);
      CHECK(e.field == "customerEmail");
      CHECK_THAT(e.message, Catch::Contains("e-mail"));
    }
  }
  SECTION("good shapes") {
    for (const char* email : {"a@b.c", "ana.maria+coffee@mail.example.com", "x@example.co.uk"}) {
      INFO(email);
      auto order = priced(std::string(R"({"customerEmail":")") + email +
                          R"(","items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})");
      CHECK(order.customer_email == email);
    }
    // 254 characters is the longest accepted address.
    const std::string longest = "a@" + std::string(248, 'x') + ".com";
    REQUIRE(longest.size() == 254);
    CHECK(priced(R"({"customerEmail":")" + longest +
                 R"(","items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})")
            .customer_email == longest);
  }
}

TEST_CASE("validation: items count and type", "[validation]") {
  SECTION("missing") {
    auto e = only_error(R"({"customerEmail":"ana@example.com"})");
    CHECK(e.field == "items");
    CHECK(e.message == "is required");
  }
  SECTION("not an array") {
    auto e = only_error(R"({"customerEmail":"ana@example.com","items":{"product":"Latte"}})");
    CHECK(e.field == "items");
    CHECK(e.message == "must be an array");
  }
  SECTION("empty") {
    auto e = only_error(R"({"customerEmail":"ana@example.com","items":[]})");
    CHECK(e.field == "items");
    CHECK(e.message == "must hold 1 to 50 items");
  }
  SECTION("51 items") {
    std::string items;
    for (int i = 0; i < 51; ++i)
      items += (i ? "," : "") + item("Latte", "Vanilla", 1);
    auto e = only_error(R"({"customerEmail":"ana@example.com","items":[)" + items + "]}");
    CHECK(e.field == "items");
    CHECK(e.message == "must hold 1 to 50 items");
  }
  SECTION("item not an object") {
    auto e = only_error(with_item(R"("Latte")"));
    CHECK(e.field == "items[0]");
    CHECK(e.message == "must be an object");
  }
}

TEST_CASE("validation: quantity", "[validation]") {
  SECTION("out of range or not an integer") {
    for (const char* q : {"0", "101", "-1", "1.5", "\"2\"", "true", "false", "[]", "{}",
                          "18446744073709551615", "1e300"}) {
      INFO("quantity " << q);
      auto e = only_error(with_item(
        std::string(R"({"product":"Latte","variation":"Vanilla","quantity":)") + q + "}"));
      CHECK(e.field == "items[0].quantity");
      CHECK(e.message == "must be an integer from 1 to 100");
    }
  }
  SECTION("missing or null") {
    for (const char* tail : {"", R"(,"quantity":null)"}) {
      auto e = only_error(
        with_item(std::string(R"({"product":"Latte","variation":"Vanilla")") + tail + "}"));
      CHECK(e.field == "items[0].quantity");
      CHECK(e.message == "is required");
    }
  }
}

TEST_CASE("validation: product", "[validation]") {
  SECTION("unknown") {
    auto e = only_error(with_item(R"({"product":"Mocha","variation":"Vanilla","quantity":1})"));
    CHECK(e.field == "items[0].product");
    CHECK(e.message == "unknown product 'Mocha'");
  }
  SECTION("missing") {
    auto e = only_error(with_item(R"({"variation":"Vanilla","quantity":1})"));
    CHECK(e.field == "items[0].product");
    CHECK(e.message == "is required");
  }
  SECTION("wrong type") {
    auto e = only_error(with_item(R"({"product":7,"quantity":1})"));
    CHECK(e.field == "items[0].product");
    CHECK(e.message == "must be a string");
  }
  SECTION("a huge unknown name is echoed cut short") {
    auto e = only_error(
      with_item(R"({"product":")" + std::string(1000, 'z') + R"(","quantity":1})"));
    CHECK(e.field == "items[0].product");
    CHECK(e.message.size() < 100);
    CHECK_THAT(e.message, Catch::EndsWith("...'"));
  }
}

TEST_CASE("validation: variation", "[validation]") {
  SECTION("missing where required") {
    for (const char* v : {"", R"(,"variation":null)", R"(,"variation":"")"}) {
      INFO(v);
      auto e = only_error(with_item(std::string(R"({"product":"Latte","quantity":1)") + v + "}"));
      CHECK(e.field == "items[0].variation");
      CHECK(e.message == "is required for Latte; one of Pumpkin Spice, Vanilla, Hazelnut");
    }
  }
  SECTION("not listed for the product") {
    auto e = only_error(with_item(item("Espresso", "Vanilla", 1)));
    CHECK(e.field == "items[0].variation");
    CHECK(e.message ==
          "unknown variation 'Vanilla' for Espresso; expected one of Single Shot, Double Shot");
  }
  SECTION("wrong type") {
    auto e = only_error(with_item(R"({"product":"Latte","variation":3,"quantity":1})"));
    CHECK(e.field == "items[0].variation");
    CHECK(e.message == "must be a string");
  }
  SECTION("with an unknown product only the product is reported") {
    auto e = only_error(with_item(item("Mocha", "Whatever", 1)));
    CHECK(e.field == "items[0].product");
  }
}

TEST_CASE("validation: paymentMethod and currency", "[validation]") {
  for (const char* m : {R"("bitcoin")", R"("Credit_Card")", "1", "true", "[]"}) {
    INFO(m);
    auto e = only_error(with_top(std::string(R"(,"paymentMethod":)") + m));
    CHECK(e.field == "paymentMethod");
    CHECK(e.message == "must be one of credit_card, debit_card, cash, mobile");
  }
  for (const char* c : {R"("EUR")", R"("usd")", R"("")", "840"}) {
    INFO(c);
    auto e = only_error(with_top(std::string(R"(,"currency":)") + c));
    CHECK(e.field == "currency");
    CHECK(e.message == "must be \"USD\" (the menu's currency)");
  }
}

TEST_CASE("validation: unknown members at both levels", "[validation]") {
  auto top = only_error(with_top(R"(,"coupon":"FREE")"));
  CHECK(top.field == "coupon");
  CHECK(top.message == "unknown field");

  auto nested = only_error(
    with_item(R"({"product":"Latte","variation":"Vanilla","quantity":1,"size":"L"})"));
  CHECK(nested.field == "items[0].size");
  CHECK(nested.message == "unknown field");
}

TEST_CASE("validation: all errors are reported together with their paths", "[validation]") {
  auto errors = errors_of(
    R"({"customerEmail":"nope","extra":1,"currency":"EUR","paymentMethod":"gold","items":[
      {"product":"Latte","variation":"Vanilla","quantity":1},
      {"product":"Mocha","quantity":0},
      {"product":"Espresso","variation":"Triple","quantity":1.5,"note":"hot"},
      {"product":"Donuts"}]})");
  std::vector<std::string> fields;
  for (const auto& e : errors)
    fields.push_back(e.field);
  std::sort(fields.begin(), fields.end());
  const std::vector<std::string> expected = {
    "currency",           "customerEmail",      "extra",
    "items[1].product",   "items[1].quantity",  "items[2].note",
    "items[2].quantity",  "items[2].variation", "items[3].quantity",
    "items[3].variation", "paymentMethod",
  };
  CHECK(fields == expected);
}

TEST_CASE("validation: status request", "[validation]") {
  auto ok = validate_status_request(boost::json::parse(R"({"status":"preparation"})"));
  REQUIRE(std::holds_alternative<order_status>(ok));
  CHECK(std::get<order_status>(ok) == order_status::preparation);

  for (const char* s : {"waiting", "preparation", "ready", "delivered", "canceled"}) {
    auto r = validate_status_request(boost::json::object{{"status", s}});
    REQUIRE(std::holds_alternative<order_status>(r));
    CHECK(to_string(std::get<order_status>(r)) == s);
  }
  // Internal statuses are known names; refusing the move is the caller's 409.
  auto internal = validate_status_request(boost::json::object{{"status", "pending_payment"}});
  REQUIRE(std::holds_alternative<order_status>(internal));

  auto error_of = [](const char* body) {
    auto r = validate_status_request(boost::json::parse(body));
    REQUIRE(std::holds_alternative<std::vector<field_error>>(r));
    const auto errors = std::get<std::vector<field_error>>(r);
    REQUIRE(errors.size() == 1);
    return errors[0];
  };
  auto unknown = error_of(R"({"status":"brewing"})");
  CHECK(unknown.field == "status");
  CHECK(
    unknown.message ==
    "unknown status 'brewing'; expected one of waiting, preparation, ready, delivered, canceled");
  CHECK(error_of(R"({"status":"Ready"})").field == "status");
  CHECK(error_of("{}").message == "is required");
  CHECK(error_of(R"({"status":null})").message == "is required");
  CHECK(error_of(R"({"status":3})").message == "must be a string");
  auto not_object = error_of(R"(["ready"])");
  CHECK(not_object.field == "");
  CHECK(not_object.message == "must be a JSON object");
  auto extra = error_of(R"({"status":"ready","why":"x"})");
  CHECK(extra.field == "why");
  CHECK(extra.message == "unknown field");
}
