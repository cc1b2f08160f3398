#pragma once

#include "coffeeshop/domain/order.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <optional>

namespace coffeeshop {

/// The wire form of an order (CONTRACT §3.2 "Order JSON"), camelCase members,
/// money as JSON numbers, timestamps RFC 3339 UTC with milliseconds.
boost::json::object to_json(const order& o);

/// The form a store keeps: every field of the order, including the
/// idempotency bookkeeping the wire form leaves out, with money in integer
/// cents and times in epoch milliseconds, so that decoding loses nothing.
boost::json::object to_stored_json(const order& o);

/// The exact inverse of to_stored_json; nullopt when a member is missing or
/// has the wrong type. A notification without "id" (stored before
/// notifications had ids) decodes with an empty id.
std::optional<order> order_from_stored_json(const boost::json::value& v);

} // namespace coffeeshop
