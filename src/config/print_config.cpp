// print_config: the effective config as JSON in the shape of config/coffeeshop.json, so that
// its output can be saved and loaded again (--print-config > my.json).

#include "config_tree.hpp"

#include "coffeeshop/util/json_text.hpp"

namespace coffeeshop {
namespace config_detail {
namespace json = boost::json;

namespace {

json::value optional_string(const std::optional<std::string>& s) {
  return s ? json::value(*s) : json::value(nullptr);
}

json::object service_tree(const service_settings& s) {
  static constexpr const char* formats[] = {"seed", "trio"};
  static constexpr const char* jitters[] = {"none", "full", "equal"};
  json::object retry;
  retry["max_retries"] = s.retry.max_retries;
  retry["base_delay_ms"] = s.retry.base_delay_ms;
  retry["max_delay_ms"] = s.retry.max_delay_ms;
  retry["jitter"] = jitters[static_cast<int>(s.retry.jitter)];
  retry["honor_retry_after"] = s.retry.honor_retry_after;

  const breaker_settings& b = s.circuit_breaker;
  json::object breaker;
  breaker["failure_threshold"] = b.failure_threshold;
  breaker["break_duration_ms"] = b.break_duration_ms;
  breaker["half_open_max_calls"] = b.half_open_max_calls;
  breaker["failure_ratio"] = b.failure_ratio ? json::value(*b.failure_ratio) : json::value(nullptr);
  breaker["sampling_window_ms"] = b.sampling_window_ms;
  breaker["min_throughput"] = b.min_throughput;

  json::object o;
  o["url"] = optional_string(s.url);
  o["format"] = formats[static_cast<int>(s.format)];
  o["timeout_ms"] = s.timeout_ms;
  o["total_timeout_ms"] = s.total_timeout_ms;
  o["max_connections"] = s.max_connections;
  o["retry"] = std::move(retry);
  o["circuit_breaker"] = std::move(breaker);
  o["dapr_app_id"] = s.dapr_app_id;
  o["dapr_method"] = s.dapr_method;
  return o;
}

} // namespace

json::object config_to_tree(const config& cfg) {
  static constexpr const char* strategies[] = {"one_for_one", "one_for_all", "rest_for_one"};
  static constexpr const char* log_formats[] = {"json", "text"};
  json::object root;

  json::object& http = root["http"].emplace_object();
  http["listen"] = format_listen_address(cfg.http.listen_host, cfg.http.listen_port);
  http["threads"] = cfg.http.threads;
  http["max_body_bytes"] = cfg.http.max_body_bytes;
  http["max_inflight_orders"] = cfg.http.max_inflight_orders;
  http["request_timeout_ms"] = cfg.http.request_timeout_ms;

  json::object& services = root["services"].emplace_object();
  services["payment"] = service_tree(cfg.payment);
  services["notification"] = service_tree(cfg.notification);

  json::object& dapr = root["dapr"].emplace_object();
  dapr["enabled"] = cfg.dapr.enabled;
  dapr["http_endpoint"] = cfg.dapr.http_endpoint;

  json::object& sup = root["supervision"].emplace_object();
  sup["strategy"] = strategies[static_cast<int>(cfg.supervision.strategy)];
  sup["max_restarts"] = cfg.supervision.max_restarts;
  sup["within_ms"] = cfg.supervision.within_ms;
  sup["restart_delay_ms"] = cfg.supervision.restart_delay_ms;
  sup["max_restart_delay_ms"] = cfg.supervision.max_restart_delay_ms;

  root["store"].emplace_object()["path"] = cfg.store_path;

  json::object& logging = root["logging"].emplace_object();
  logging["level"] = cfg.logging.level;
  logging["format"] = log_formats[static_cast<int>(cfg.logging.format)];

  root["shutdown"].emplace_object()["drain_timeout_ms"] = cfg.drain_timeout_ms;
  // The token is a secret: show only whether one is set.
  root["admin"].emplace_object()["token"] =
      cfg.admin_token ? json::value("***") : json::value(nullptr);

  json::object& sim = root["simulator"].emplace_object();
  sim["enabled"] = cfg.simulator.enabled;
  sim["profile"] = cfg.simulator.profile;

  root["menu"] = cfg.menu;
  return root;
}

} // namespace config_detail

std::string print_config(const config& cfg) {
  return to_json_text(config_detail::config_to_tree(cfg), true) + "\n";
}

} // namespace coffeeshop
