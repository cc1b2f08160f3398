#pragma once

// Internal to src/store: what the SQL stores keep in an order row's `body`.

#include "coffeeshop/domain/order_json.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>

namespace coffeeshop {

/// An order from its stored body (to_stored_json); nullopt when the text is
/// not such an order (a read failure reads as absent).
inline std::optional<order> decode_stored_order(const std::string& body) {
  boost::system::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec)
    return std::nullopt;
  return order_from_stored_json(value);
}

} // namespace coffeeshop
