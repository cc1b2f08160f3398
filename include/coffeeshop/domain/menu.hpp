#pragma once

#include "coffeeshop/domain/money.hpp"

#include <boost/json/value.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffeeshop {

/// A variation of a product, priced as a delta on the product's price.
struct variation {
  std::string name;
  cents price_delta = 0;
};

/// A product on the menu.
struct product {
  std::string name;
  cents price = 0;
  std::vector<variation> variations;

  /// Case-insensitive lookup; nullptr when unknown.
  const variation* find_variation(std::string_view name) const;
};

/// The catalogue orders are priced against. Immutable after construction.
class menu {
public:
  menu() = default;
  explicit menu(std::string currency, std::vector<product> products);

  /// The catalogue of CONTRACT §3.1.
  static menu built_in();

  /// Loads a menu file of the same shape as the GET /api/v1/menu reply.
  /// On failure returns nullopt and sets `error` to a message naming the problem.
  static std::optional<menu> load_file(const std::string& path, std::string& error);

  /// Case-insensitive lookup; nullptr when unknown.
  const product* find(std::string_view name) const;

  const std::string& currency() const { return currency_; }
  const std::vector<product>& products() const { return products_; }

  /// The GET /api/v1/menu reply body.
  boost::json::value to_json() const;

private:
  std::string currency_ = "USD";
  std::vector<product> products_;
};

} // namespace coffeeshop
