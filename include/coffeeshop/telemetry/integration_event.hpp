#pragma once

#include "coffeeshop/resilience/service_kind.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <string>

namespace coffeeshop {

/// One integration event (CONTRACT §5).
struct integration_event {
  std::string event_id;
  std::string service;
  std::string type;
  boost::json::object payload;
  int64_t timestamp_ms = 0;
  std::string trace_id;
  std::string order_id;
  int attempt = 0;      // 0: not about an attempt
  std::string instance; // the daemon that acted, when several share a store
};

/// Renders an event as its CONTRACT §5 JSON (e-mail addresses are masked by emitters).
boost::json::object render_event(const integration_event& ev);

/// Builds an event with the fields every emitter sets (id and time are filled
/// when it is queued).
integration_event make_event(std::string service, std::string type, std::string trace_id,
                             std::string order_id, int attempt = 0,
                             boost::json::object payload = {});

inline integration_event make_event(service_kind service, std::string type, std::string trace_id,
                                    std::string order_id, int attempt = 0,
                                    boost::json::object payload = {}) {
  return make_event(std::string{to_string(service)}, std::move(type), std::move(trace_id),
                    std::move(order_id), attempt, std::move(payload));
}

} // namespace coffeeshop
