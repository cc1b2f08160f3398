#include "payment.hpp"

#include "coffeeshop/util/json_text.hpp"

namespace coffeeshop {

std::string payment_body(wire_format format, const charge_request& req) {
  boost::json::object body;
  if (format == wire_format::trio) {
    body["value"] = to_wire_amount(req.amount);
  } else {
    body["orderId"] = req.order_id;
    body["amount"] = to_wire_amount(req.amount);
    body["currency"] = req.currency;
    body["paymentMethod"] = req.payment_method;
  }
  return to_json_text(body);
}

caf::behavior payment_actor(integration_actor* self, integration_spec spec) {
  init_integration(self, std::move(spec));
  return make_integration_behavior(self, [self](call_atom, const charge_request& req) {
    outbound_call call;
    call.order_id = req.order_id;
    call.trace_id = req.trace_id;
    call.body = payment_body(self->state.spec.settings.format, req);
    call.idempotent = true;
    call.context["amount"] = to_wire_amount(req.amount);
    return start_call(self, std::move(call));
  });
}

} // namespace coffeeshop
