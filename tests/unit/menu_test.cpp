#include "coffeeshop/domain/menu.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

using namespace coffeeshop;

namespace {

/// A menu file in the temp directory, removed when the test ends.
struct temp_file {
  std::string path;
  explicit temp_file(const std::string& content) {
    path = "/tmp/coffeeshop_menu_test_" + std::to_string(::getpid()) + "_" +
           std::to_string(counter++) + ".json";
    std::ofstream(path) << content;
  }
  ~temp_file() { std::remove(path.c_str()); }
  static inline int counter = 0;
};

std::optional<menu> load(const std::string& content, std::string& error) {
  temp_file file(content);
  return menu::load_file(file.path, error);
}

std::string load_error(const std::string& content) {
  std::string error;
  auto m = load(content, error);
  CHECK_FALSE(m.has_value());
  return error;
}

} // namespace

TEST_CASE("menu: built-in catalogue matches the contract", "[menu]") {
  const auto m = menu::built_in();
  CHECK(m.currency() == "USD");
  REQUIRE(m.products().size() == 5);

  struct expected_product {
    const char* name;
    cents price;
    std::vector<std::pair<const char*, cents>> variations;
  };
  const std::vector<expected_product> expected = {
    {"Latte", 400, {{"Pumpkin Spice", 50}, {"Vanilla", 30}, {"Hazelnut", 40}}},
    {"Espresso", 250, {{"Single Shot", 0}, {"Double Shot", 100}}},
    {"Macchiato", 400, {{"Caramel", 50}, {"Vanilla", 30}}},
    {"Iced Coffee", 350, {{"Regular", 0}, {"Sweetened", 30}, {"Extra Ice", 20}}},
    {"Donuts", 200, {{"Glazed", 0}, {"Jelly", 30}, {"Boston Cream", 50}}},
  };
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& p = m.products()[i];
    INFO(expected[i].name);
    CHECK(p.name == expected[i].name);
    CHECK(p.price == expected[i].price);
    REQUIRE(p.variations.size() == expected[i].variations.size());
    for (std::size_t j = 0; j < p.variations.size(); ++j) {
      CHECK(p.variations[j].name == expected[i].variations[j].first);
      CHECK(p.variations[j].price_delta == expected[i].variations[j].second);
    }
  }
}

TEST_CASE("menu: lookups are case-insensitive", "[menu]") {
  const auto m = menu::built_in();
  const product* latte = m.find("lAtTe");
  REQUIRE(latte != nullptr);
  CHECK(latte->name == "Latte");
  REQUIRE(m.find("ICED COFFEE") != nullptr);
  CHECK(m.find("ICED COFFEE")->name == "Iced Coffee");
  CHECK(m.find("Mocha") == nullptr);
  CHECK(m.find("") == nullptr);
  CHECK(m.find("Latte ") == nullptr);

  const variation* v = latte->find_variation("pumpkin SPICE");
  REQUIRE(v != nullptr);
  CHECK(v->name == "Pumpkin Spice");
  CHECK(v->price_delta == 50);
  CHECK(latte->find_variation("Caramel") == nullptr);
}

TEST_CASE("menu: to_json has the GET /api/v1/menu shape", "[menu]") {
  const auto json = menu::built_in().to_json();
  const auto& root = json.as_object();
  CHECK(root.size() == 2);
  CHECK(root.at("currency") == "USD");
  const auto& products = root.at("products").as_array();
  REQUIRE(products.size() == 5);

  const auto& latte = products[0].as_object();
  CHECK(latte.size() == 3);
  CHECK(latte.at("name") == "Latte");
  CHECK(latte.at("price").as_double() == 4.0);
  const auto& variations = latte.at("variations").as_array();
  REQUIRE(variations.size() == 3);
  CHECK(variations[0].as_object().at("name") == "Pumpkin Spice");
  CHECK(variations[0].as_object().at("priceDelta").as_double() == 0.5);
  CHECK(variations[1].as_object().at("priceDelta").as_double() == 0.3);
  CHECK(variations[2].as_object().at("priceDelta").as_double() == 0.4);

  const auto& espresso = products[1].as_object();
  CHECK(espresso.at("price").as_double() == 2.5);
  CHECK(espresso.at("variations").as_array()[0].as_object().at("priceDelta").as_double() == 0.0);
  CHECK(espresso.at("variations").as_array()[1].as_object().at("priceDelta").as_double() == 1.0);
}

TEST_CASE("menu: load_file reads its own to_json output back", "[menu]") {
  const auto original = menu::built_in();
  std::string error;
  auto loaded = load(boost::json::serialize(original.to_json()), error);
  INFO(error);
  REQUIRE(loaded.has_value());
  CHECK(loaded->to_json() == original.to_json());
  CHECK(loaded->find("latte")->find_variation("hazelnut")->price_delta == 40);
}

TEST_CASE("menu: load_file accepts integers, missing variations and negative deltas", "[menu]") {
  std::string error;
  auto m = load(R"({"currency":"EUR","products":[
      {"name":"Tea","price":3},
      {"name":"Cake","price":5.25,"variations":[{"name":"Small","priceDelta":-1.25}]}]})",
                error);
  INFO(error);
  REQUIRE(m.has_value());
  CHECK(m->currency() == "EUR");
  CHECK(m->find("tea")->price == 300);
  CHECK(m->find("tea")->variations.empty());
  CHECK(m->find("cake")->price == 525);
  CHECK(m->find("cake")->variations[0].price_delta == -125);
}

TEST_CASE("menu: load_file errors name the path and the problem", "[menu]") {
  SECTION("missing file") {
    std::string error;
    CHECK_FALSE(menu::load_file("/nonexistent/dir/menu.json", error).has_value());
    CHECK_THAT(error,
               Catch::Contains("/nonexistent/dir/menu.json") && Catch::Contains("cannot open"));
  }
  SECTION("invalid JSON names the line") {
    CHECK_THAT(load_error("{\"currency\":\"USD\",\n\"products\": [,]}"),
               Catch::Contains("invalid JSON at line 2"));
  }
  SECTION("root not an object") {
    CHECK_THAT(load_error("[]"), Catch::Contains("must be a JSON object"));
  }
  SECTION("bad currency") {
    CHECK_THAT(load_error(R"({"currency":"usd","products":[{"name":"A","price":1}]})"),
               Catch::Contains("currency: must be a three-letter"));
    CHECK_THAT(load_error(R"({"products":[{"name":"A","price":1}]})"),
               Catch::Contains("currency:"));
  }
  SECTION("products missing or empty") {
    CHECK_THAT(load_error(R"({"currency":"USD"})"),
               Catch::Contains("products: must be a non-empty array"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[]})"),
               Catch::Contains("products: must be a non-empty array"));
  }
  SECTION("unknown fields") {
    CHECK_THAT(load_error(R"({"currency":"USD","products":[],"extra":1})"),
               Catch::Contains("extra: unknown field"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A","price":1,"prise":2}]})"),
               Catch::Contains("products[0].prise: unknown field"));
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"A","price":1,"variations":[{"name":"x","priceDelta":0,"y":1}]}]})"),
      Catch::Contains("products[0].variations[0].y: unknown field"));
  }
  SECTION("empty or missing names") {
    CHECK_THAT(load_error(
                 R"({"currency":"USD","products":[{"name":"A","price":1},{"name":"","price":1}]})"),
               Catch::Contains("products[1].name: must be a non-empty string"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"price":1}]})"),
               Catch::Contains("products[0].name: must be a non-empty string"));
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"A","price":1,"variations":[{"name":"","priceDelta":0}]}]})"),
      Catch::Contains("products[0].variations[0].name: must be a non-empty string"));
  }
  SECTION("bad prices") {
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A","price":4.005}]})"),
               Catch::Contains(
                 "products[0].price: must be a non-negative amount with at most 2 decimals"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A","price":-1}]})"),
               Catch::Contains("products[0].price:"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A","price":"4.00"}]})"),
               Catch::Contains("products[0].price:"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A"}]})"),
               Catch::Contains("products[0].price:"));
    CHECK_THAT(load_error(R"({"currency":"USD","products":[{"name":"A","price":1e300}]})"),
               Catch::Contains("products[0].price:"));
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"A","price":1,"variations":[{"name":"x","priceDelta":0.001}]}]})"),
      Catch::Contains("products[0].variations[0].priceDelta:"));
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"A","price":1,"variations":[{"name":"x","priceDelta":-1.01}]}]})"),
      Catch::Contains("products[0].variations[0].priceDelta: makes the price"));
  }
  SECTION("duplicate names, case-insensitively") {
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"Latte","price":1},{"name":"LATTE","price":2}]})"),
      Catch::Contains("products[1].name: duplicate product 'LATTE'"));
    CHECK_THAT(
      load_error(
        R"({"currency":"USD","products":[{"name":"A","price":1,"variations":[{"name":"Big","priceDelta":0},{"name":"big","priceDelta":1}]}]})"),
      Catch::Contains("products[0].variations[1].name: duplicate variation 'big'"));
  }
  SECTION("variations not an array") {
    CHECK_THAT(load_error(
                 R"({"currency":"USD","products":[{"name":"A","price":1,"variations":{}}]})"),
               Catch::Contains("products[0].variations: must be an array"));
  }
}
