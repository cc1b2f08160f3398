#pragma once

#include "coffeeshop/domain/order.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace coffeeshop {

/// The wire form of an order (CONTRACT §3.2 "Order JSON"), camelCase members,
/// money as JSON numbers, timestamps RFC 3339 UTC with milliseconds.
boost::json::object to_json(const order& o);

/// Serializes JSON like boost::json::serialize, but writes doubles in plain
/// shortest decimal ("4.5", "4.0") instead of Boost 1.81's "4.5E0", so money on
/// the wire reads as in CONTRACT §3. Non-finite doubles are written as null.
std::string to_json_text(const boost::json::value& v);

} // namespace coffeeshop
