#include "coffeeshop/domain/order_json.hpp"

#include "coffeeshop/util/clock.hpp"

#include <boost/json.hpp>


namespace coffeeshop {

boost::json::object to_json(const order& o) {
  boost::json::array items;
  items.reserve(o.items.size());
  for (const auto& line : o.items) {
    boost::json::value variation = nullptr;
    if (!line.variation.empty())
      variation = line.variation;
    items.push_back(boost::json::object{
        {"product", line.product},
        {"variation", std::move(variation)},
        {"quantity", line.quantity},
        {"unitPrice", to_wire_amount(line.unit_price)},
        {"lineTotal", to_wire_amount(line.line_total)},
    });
  }

  boost::json::value reference = nullptr;
  if (o.payment.reference)
    reference = *o.payment.reference;

  boost::json::array notifications;
  notifications.reserve(o.notifications.size());
  for (const auto& n : o.notifications)
    notifications.push_back(
        boost::json::object{{"status", n.status}, {"state", n.state}, {"attempts", n.attempts}});

  // The API shows the address unmasked: the caller is the customer or the shop.
  // Masking applies to logs and integration events only.
  return boost::json::object{
      {"id", o.id},
      {"status", to_string(o.status)},
      {"items", std::move(items)},
      {"total", to_wire_amount(o.total)},
      {"currency", o.currency},
      {"customerEmail", o.customer_email},
      {"paymentMethod", o.payment_method},
      {"payment",
       boost::json::object{{"status", o.payment.status},
                           {"attempts", o.payment.attempts},
                           {"reference", std::move(reference)}}},
      {"notifications", std::move(notifications)},
      {"createdAt", format_rfc3339(o.created_at_ms)},
      {"updatedAt", format_rfc3339(o.updated_at_ms)},
      {"traceId", o.trace_id},
  };
}

} // namespace coffeeshop
