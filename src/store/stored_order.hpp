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

/// W3C trace-flags as an order keeps them: two lowercase hex digits, else "01" (sampled).
inline std::string stored_trace_flags(const std::string& flags) {
  const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return flags.size() == 2 && hex(flags[0]) && hex(flags[1]) ? flags : std::string{"01"};
}

/// An order from its body and its orders.trace_flags column.
inline std::optional<order> decode_stored_order(const std::string& body,
                                                const std::string& trace_flags) {
  auto o = decode_stored_order(body);
  if (o)
    o->trace_flags = stored_trace_flags(trace_flags);
  return o;
}

} // namespace coffeeshop
