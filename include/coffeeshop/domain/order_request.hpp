#pragma once

#include "coffeeshop/domain/menu.hpp"
#include "coffeeshop/domain/order.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <variant>
#include <vector>

namespace coffeeshop {

/// One validation failure, reported as `{"field","message"}` in a 422 reply.
struct field_error {
  std::string field;   // e.g. "items[0].quantity"
  std::string message; // e.g. "must be an integer from 1 to 100"
};

/// A create request that passed validation, priced against the menu.
struct priced_order {
  std::string customer_email;
  std::string payment_method;
  std::string currency;
  std::vector<order_line> items;
  cents total = 0;
};

/// Validates and prices a POST /api/v1/orders body (CONTRACT §3.2): customerEmail
/// (required, plausible e-mail), items (1..50; product known; variation required
/// when the product has variations and must be listed; quantity integer 1..100),
/// paymentMethod (default credit_card), currency (default and only USD, i.e. the
/// menu's). Unknown members are rejected. All problems are reported, not only the first.
std::variant<priced_order, std::vector<field_error>>
validate_order_request(const boost::json::value& body, const menu& m);

/// Validates a PATCH /status body; returns the requested status or errors
/// (unknown status is a field error on "status").
std::variant<order_status, std::vector<field_error>>
validate_status_request(const boost::json::value& body);

} // namespace coffeeshop
