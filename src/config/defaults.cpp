// The built-in defaults (CONTRACT §2). They are kept as JSON text in the shape of
// config/coffeeshop.json (a unit test compares the two), and config::defaults() goes
// through the same validation as any loaded file.

#include "config_tree.hpp"

#include <cstdio>
#include <cstdlib>

namespace coffeeshop {
namespace config_detail {

namespace {

constexpr const char* default_config_json = R"json({
  "http": {
    "listen": "127.0.0.1:8080",
    "threads": 128,
    "max_body_bytes": 65536,
    "max_inflight_orders": 96,
    "request_timeout_ms": 30000
  },
  "services": {
    "payment": {
      "url": null,
      "format": "seed",
      "timeout_ms": 10000,
      "total_timeout_ms": 30000,
      "max_connections": 32,
      "retry": {
        "max_retries": 3,
        "base_delay_ms": 2000,
        "max_delay_ms": 30000,
        "jitter": "none",
        "honor_retry_after": true
      },
      "circuit_breaker": {
        "failure_threshold": 3,
        "break_duration_ms": 30000,
        "half_open_max_calls": 1,
        "failure_ratio": null,
        "sampling_window_ms": 30000,
        "min_throughput": 10
      },
      "dapr_app_id": "payment-service",
      "dapr_method": "process-payment"
    }
  },
  "dapr": {
    "enabled": false,
    "http_endpoint": "http://127.0.0.1:3500"
  },
  "supervision": {
    "strategy": "one_for_one",
    "max_restarts": 5,
    "within_ms": 10000,
    "restart_delay_ms": 100,
    "max_restart_delay_ms": 5000
  },
  "store": {
    "path": "coffeeshop.db"
  },
  "logging": {
    "level": "info",
    "format": "json"
  },
  "shutdown": {
    "drain_timeout_ms": 10000
  },
  "admin": {
    "token": null
  },
  "simulator": {
    "enabled": true,
    "profile": "trio"
  },
  "menu": "built-in"
})json";

} // namespace

boost::json::object default_config_tree() {
  // Parsed on each call (cheap, start-up only); the text is a compile-time constant that a
  // unit test checks, so a parse failure here is a programming error.
  auto root = boost::json::parse(default_config_json).as_object();
  // Both services have the same defaults but for the Dapr target.
  auto& services = root["services"].as_object();
  auto notification = services["payment"].as_object();
  notification["dapr_app_id"] = "notification-service";
  notification["dapr_method"] = "send-notification";
  services["notification"] = std::move(notification);
  return root;
}

} // namespace config_detail

config config::defaults() {
  config_result r = config_detail::validate_tree(config_detail::default_config_tree());
  if (!r.value) {
    // Only reachable if the literal above is edited into an invalid state; tests catch it.
    for (const auto& e : r.errors) std::fprintf(stderr, "%s\n", e.c_str());
    std::abort();
  }
  return *r.value;
}

} // namespace coffeeshop
