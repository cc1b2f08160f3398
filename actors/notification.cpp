#include "notification.hpp"

#include "coffeeshop/util/ids.hpp"

#include "coffeeshop/util/json_text.hpp"

namespace coffeeshop {

std::string notification_body(wire_format format, const notify_request& req) {
  boost::json::object body;
  if (format == wire_format::seed) {
    body["type"] = "order_status";
    body["orderId"] = req.order_id;
  }
  body["status"] = req.status;
  if (format == wire_format::seed)
    body["customerEmail"] = req.customer_email;
  return to_json_text(body);
}

caf::behavior notification_actor(integration_actor* self, integration_spec spec) {
  init_integration(self, std::move(spec));
  return make_integration_behavior(self, [self](call_atom, const notify_request& req) {
    outbound_call call;
    call.order_id = req.order_id;
    call.trace_id = req.trace_id;
    call.body = notification_body(self->state.spec.settings.format, req);
    call.context["status"] = req.status;
    call.context["customerEmail"] = mask_email(req.customer_email);
    return start_call(self, std::move(call));
  });
}

} // namespace coffeeshop
