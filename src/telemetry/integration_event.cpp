#include "coffeeshop/telemetry/integration_event.hpp"

#include "coffeeshop/util/clock.hpp"

namespace coffeeshop {

boost::json::object render_event(const integration_event& ev) {
  boost::json::object meta;
  meta["traceId"] = ev.trace_id;
  if (!ev.order_id.empty())
    meta["orderId"] = ev.order_id;
  if (ev.attempt > 0)
    meta["attempt"] = std::to_string(ev.attempt);
  if (!ev.instance.empty())
    meta["instance"] = ev.instance;
  boost::json::object out;
  out["eventId"] = ev.event_id;
  out["serviceName"] = ev.service;
  out["eventType"] = ev.type;
  out["payload"] = ev.payload;
  out["timestamp"] = format_rfc3339(ev.timestamp_ms);
  out["metadata"] = std::move(meta);
  return out;
}

integration_event make_event(std::string service, std::string type, std::string trace_id,
                             std::string order_id, int attempt, boost::json::object payload) {
  integration_event ev;
  ev.service = std::move(service);
  ev.type = std::move(type);
  ev.trace_id = std::move(trace_id);
  ev.order_id = std::move(order_id);
  ev.attempt = attempt;
  ev.payload = std::move(payload);
  return ev;
}

} // namespace coffeeshop
