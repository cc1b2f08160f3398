#include "coffeeshop/util/json_fields.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

using namespace coffeeshop;

namespace {

boost::json::object object_of(const char* text) { return boost::json::parse(text).as_object(); }

} // namespace

TEST_CASE("json_fields: field_path joins with a dot below the root", "[util][json_fields]") {
  CHECK(field_path("", "currency") == "currency");
  CHECK(field_path("items[0]", "quantity") == "items[0].quantity");
  CHECK(field_path("products[1].variations[2]", "y") == "products[1].variations[2].y");
  // An empty key is still a member: it must show up, not vanish into the parent's name.
  CHECK(field_path("items[0]", "") == "items[0].");
}

TEST_CASE("json_fields: unknown_fields lists the members not allowed, in document order",
          "[util][json_fields]") {
  const auto obj = object_of(R"({"zeta":1,"product":"Latte","alpha":2,"quantity":1,"Product":3})");
  CHECK(unknown_fields(obj, "items[3]", {"product", "variation", "quantity"}) ==
        std::vector<std::string>{"items[3].zeta", "items[3].alpha", "items[3].Product"});
  CHECK(unknown_fields(obj, "", {"product", "quantity"}) ==
        std::vector<std::string>{"zeta", "alpha", "Product"});
}

TEST_CASE("json_fields: unknown_fields is empty when every member is allowed",
          "[util][json_fields]") {
  CHECK(unknown_fields(object_of(R"({"status":"ready"})"), "", {"status"}).empty());
  CHECK(unknown_fields(object_of("{}"), "", {"status"}).empty());
  // Allowed but absent members are not the helper's business.
  CHECK(unknown_fields(object_of(R"({"a":1})"), "", {"a", "b", "c"}).empty());
  CHECK(unknown_fields(object_of(R"({"a":1})"), "x", {}) == std::vector<std::string>{"x.a"});
}
