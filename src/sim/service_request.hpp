#pragma once

// Reading a call to a simulated service: which service a Dapr invocation targets, and the
// payload in any of the accepted forms (seed JSON, Trio JSON, Trio query parameter).

#include "behavior.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace coffeeshop::sim {

/// Service named by a Dapr invocation: the method decides first (process-payment,
/// send-notification), then a "payment"/"notification" substring of the app id.
std::optional<service> classify_dapr(std::string_view app_id, std::string_view method);

/// A payment call's payload.
struct payment_call {
  double amount = 0.0;
  std::string order_id; // empty in the Trio forms
};

/// A notification call's payload.
struct notification_call {
  std::string status;
  std::string order_id; // empty in the Trio forms
};

/// Why a call was rejected with 400.
struct call_error {
  std::string message;
};

/// Payment from `{"orderId","amount",...}` (seed) or `{"value":amount}` (Trio), or from the
/// Trio query parameter `value` when present (it wins over the body, which may then be empty).
std::variant<payment_call, call_error> parse_payment(std::string_view body,
                                                     const std::optional<std::string>& query_value);

/// Notification from `{"type":"order_status","status",...}` (seed), `{"status":s}` (Trio) or
/// the query parameter `status`. A status outside waiting/preparation/ready/delivered/canceled
/// is rejected as "invalid status", as the real service does.
std::variant<notification_call, call_error>
parse_notification(std::string_view body, const std::optional<std::string>& query_status);

} // namespace coffeeshop::sim
