#include "payment.hpp"

#include "coffeeshop/util/json_text.hpp"

#include <boost/json/parse.hpp>
#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>

namespace coffeeshop {

namespace {

std::optional<boost::json::object> json_body(const http_reply& reply) {
  boost::system::error_code ec;
  auto v = boost::json::parse(reply.body, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return std::move(v.get_object());
}

/// Payment replies carry a verdict and a reference in their body.
class payment_hooks final : public call_hooks {
public:
  bool reply_reports_failure(const http_reply& reply) const override {
    auto body = json_body(reply);
    if (!body)
      return false;
    auto* s = body->if_contains("success");
    return s && s->is_bool() && !s->get_bool();
  }

  std::optional<std::string> reference(const http_reply& reply) const override {
    auto body = json_body(reply);
    if (!body)
      return std::nullopt;
    for (const char* key : {"reference", "transactionId", "paymentId", "id"})
      if (auto* r = body->if_contains(key); r && r->is_string())
        return std::string{r->get_string()};
    return std::nullopt;
  }
};

outbound_call charge_call(const integration_spec& spec, const charge_request& req) {
  outbound_call call;
  call.order_id = req.order_id;
  call.trace_id = req.trace_id;
  call.parent_span_id = req.parent_span_id;
  call.trace_flags = req.trace_flags;
  call.body = payment_body(spec.settings.format, req);
  call.idempotency_key = req.order_id;
  call.context["amount"] = to_wire_amount(req.amount);
  return call;
}

integration_actor_impl<charge_request>::behavior_type
payment_service(integration_self<charge_request> self, integration_spec spec) {
  return make_integration_behavior<charge_request>(self, std::make_unique<payment_hooks>(),
                                                   std::move(spec), charge_call);
}

} // namespace

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

payment_actor spawn_payment(caf::local_actor* parent, integration_spec spec) {
  return parent->spawn(payment_service, std::move(spec));
}

payment_actor spawn_payment(caf::actor_system& sys, integration_spec spec) {
  return sys.spawn(payment_service, std::move(spec));
}

} // namespace coffeeshop
