#include "coffeeshop/domain/order.hpp"

#include <algorithm>

namespace coffeeshop {

std::string_view to_string(order_status status) {
  switch (status) {
    case order_status::pending_payment: return "pending_payment";
    case order_status::payment_failed: return "payment_failed";
    case order_status::waiting: return "waiting";
    case order_status::preparation: return "preparation";
    case order_status::ready: return "ready";
    case order_status::delivered: return "delivered";
    case order_status::canceled: return "canceled";
  }
  return "unknown";
}

std::optional<order_status> parse_order_status(std::string_view name) {
  static constexpr order_status all[] = {
    order_status::pending_payment, order_status::payment_failed, order_status::waiting,
    order_status::preparation,     order_status::ready,          order_status::delivered,
    order_status::canceled,
  };
  for (auto status : all)
    if (to_string(status) == name)
      return status;
  return std::nullopt;
}

std::vector<order_status> allowed_next(order_status from) {
  // The only moves a client may make. pending_payment/payment_failed change
  // through the payment flow, never through PATCH; delivered/canceled are final.
  switch (from) {
    case order_status::waiting: return {order_status::preparation, order_status::canceled};
    case order_status::preparation: return {order_status::ready};
    case order_status::ready: return {order_status::delivered};
    default: return {};
  }
}

bool can_transition(order_status from, order_status to) {
  auto next = allowed_next(from);
  return std::find(next.begin(), next.end(), to) != next.end();
}

} // namespace coffeeshop
