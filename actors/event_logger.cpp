#include "event_logger.hpp"

#include "coffeeshop/util/clock.hpp"

#include <caf/all.hpp>

#include <stdexcept>

namespace coffeeshop {

boost::json::object render_event(const integration_event& ev) {
  boost::json::object meta;
  meta["traceId"] = ev.trace_id;
  if (!ev.order_id.empty())
    meta["orderId"] = ev.order_id;
  if (ev.attempt > 0)
    meta["attempt"] = std::to_string(ev.attempt);
  boost::json::object out;
  out["eventId"] = ev.event_id;
  out["serviceName"] = ev.service;
  out["eventType"] = ev.type;
  out["payload"] = ev.payload;
  out["timestamp"] = format_rfc3339(ev.timestamp_ms);
  out["metadata"] = std::move(meta);
  return out;
}

caf::behavior event_logger(caf::event_based_actor* self, runtime_deps deps) {
  report_uncaught_exceptions(self, deps.log, "event-logger");
  return {
    [deps](event_atom, const integration_event& ev) {
      auto json = render_event(ev);
      deps.stats->add("coffeeshop_integration_events_total",
                      {{"service", ev.service}, {"type", ev.type}});
      if (deps.log->enabled(log_level::info)) {
        deps.log->info("integration_event", json);
      }
      deps.journal->append(std::move(json));
    },
    [](crash_atom) {
      throw std::runtime_error("crash rehearsal requested through the admin API");
    },
  };
}

} // namespace coffeeshop
