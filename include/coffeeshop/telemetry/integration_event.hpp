#pragma once

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
  int attempt = 0; // 0: not about an attempt
};

/// Renders an event as its CONTRACT §5 JSON (e-mail addresses are masked by emitters).
boost::json::object render_event(const integration_event& ev);

} // namespace coffeeshop
