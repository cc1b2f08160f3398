#include "notification.hpp"

#include "coffeeshop/util/ids.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <caf/actor_system.hpp>
#include <caf/local_actor.hpp>

namespace coffeeshop {

namespace {

/// Every notification call that was made is announced when it ends, sent or failed.
class notification_hooks final : public call_hooks {
public:
  void on_finished(const outbound_call& call, const call_outcome& outcome,
                   std::vector<integration_event>& events) const override {
    // A call refused before it was sent (breaker open, bulkhead full) is not a
    // failed notification: its outbox entry waits (call_rejected says why).
    if (outcome.refused_unsent())
      return;
    boost::json::object payload;
    payload["attempts"] = outcome.attempts;
    if (outcome.result != call_result::succeeded)
      payload["reason"] = outcome.detail;
    for (const auto& kv : call.context)
      payload.emplace(kv.key(), kv.value());
    events.push_back(make_event(service_kind::notification,
                                outcome.result == call_result::succeeded ? "notification_sent"
                                                                         : "notification_failed",
                                call.trace_id, call.order_id, outcome.attempts,
                                std::move(payload)));
  }
};

outbound_call notify_call(const integration_spec& spec, const notify_request& req) {
  outbound_call call;
  call.order_id = req.order_id;
  // No parent span: the outbox may deliver long after the request that queued the
  // notification (or after a restart), so its call span is a root of the order's trace.
  call.trace_id = req.trace_id;
  call.trace_flags = req.trace_flags;
  call.body = notification_body(spec.settings.format, req);
  call.idempotency_key = req.order_id + ':' + req.status;
  call.context["status"] = req.status;
  call.context["customerEmail"] = mask_email(req.customer_email);
  return call;
}

integration_actor_impl<notify_request>::behavior_type
notification_service(integration_self<notify_request> self, integration_spec spec) {
  return make_integration_behavior<notify_request>(self, std::make_unique<notification_hooks>(),
                                                   std::move(spec), notify_call);
}

} // namespace

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

notification_actor spawn_notification(caf::local_actor* parent, integration_spec spec) {
  return parent->spawn(notification_service, std::move(spec));
}

notification_actor spawn_notification(caf::actor_system& sys, integration_spec spec) {
  return sys.spawn(notification_service, std::move(spec));
}

} // namespace coffeeshop
