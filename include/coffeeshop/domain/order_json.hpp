#pragma once

#include "coffeeshop/domain/order.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <boost/json/object.hpp>

namespace coffeeshop {

/// The wire form of an order (CONTRACT §3.2 "Order JSON"), camelCase members,
/// money as JSON numbers, timestamps RFC 3339 UTC with milliseconds.
boost::json::object to_json(const order& o);

} // namespace coffeeshop
