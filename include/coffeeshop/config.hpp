#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop {

// -- resilience settings ------------------------------------------------------

/// How a retry delay is randomised (CONTRACT §2).
enum class jitter_mode { none, full, equal };

/// Retry budget of one upstream (CONTRACT §2 `retry.budget`): over the last `window_ms`,
/// retries may add at most `ratio` x first attempts + `min_per_second` x the window in seconds.
struct retry_budget_settings {
  /// Null: no budget, every retry the policy allows is made.
  std::optional<double> ratio;
  int min_per_second = 10;
  int64_t window_ms = 10000;
};

inline bool operator==(const retry_budget_settings& a, const retry_budget_settings& b) {
  return a.ratio == b.ratio && a.min_per_second == b.min_per_second && a.window_ms == b.window_ms;
}

/// Retry settings of one upstream service.
struct retry_settings {
  int max_retries = 3;
  int64_t base_delay_ms = 2000;
  int64_t max_delay_ms = 30000;
  jitter_mode jitter = jitter_mode::none;
  bool honor_retry_after = true;
  retry_budget_settings budget;
};

/// Adaptive concurrency limit of one upstream (CONTRACT §2 `adaptive_concurrency`); the
/// upper bound is the service's `max_connections`.
struct adaptive_concurrency_settings {
  bool enabled = false;
  int min_limit = 2;
  int initial_limit = 16;
};

inline bool operator==(const adaptive_concurrency_settings& a,
                       const adaptive_concurrency_settings& b) {
  return a.enabled == b.enabled && a.min_limit == b.min_limit && a.initial_limit == b.initial_limit;
}

/// Circuit breaker settings of one upstream service.
struct breaker_settings {
  int failure_threshold = 3;
  int64_t break_duration_ms = 30000;
  int half_open_max_calls = 1;
  /// When set, the breaker also opens on this failure ratio within the window.
  std::optional<double> failure_ratio;
  int64_t sampling_window_ms = 30000;
  int min_throughput = 10;
  /// Longest break an upstream Retry-After may stretch an opening to; none means
  /// 5 × break_duration_ms (see max_break()).
  std::optional<int64_t> max_break_ms;
};

/// The longest break of `s`: max_break_ms, or 5 × break_duration_ms when it is null.
inline int64_t max_break(const breaker_settings& s) {
  return s.max_break_ms ? *s.max_break_ms : 5 * s.break_duration_ms;
}

// -- services -----------------------------------------------------------------

/// Wire format of outgoing calls (CONTRACT §4).
enum class wire_format { seed, trio };

/// One upstream integration (payment or notification).
struct service_settings {
  /// Null means "use the embedded simulator".
  std::optional<std::string> url;
  wire_format format = wire_format::seed;
  int64_t timeout_ms = 10000;
  int64_t total_timeout_ms = 30000;
  int max_connections = 32;
  retry_settings retry;
  adaptive_concurrency_settings adaptive_concurrency;
  breaker_settings circuit_breaker;
  std::string dapr_app_id;
  std::string dapr_method;
};

/// A service's defaults: the services differ only in their Dapr target (CONTRACT §2).
inline service_settings service_defaults(std::string dapr_app_id, std::string dapr_method) {
  service_settings s;
  s.dapr_app_id = std::move(dapr_app_id);
  s.dapr_method = std::move(dapr_method);
  return s;
}

struct http_settings {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 8080;
  int threads = 128;
  int64_t max_body_bytes = 65536;
  int max_inflight_orders = 96;
  int64_t request_timeout_ms = 30000;
  /// Connections served normally; 0 means threads minus a reserve (see connection_cap();
  /// the HTTP server keeps at least max_inflight_orders + 1). Between it and `threads` a
  /// connection is answered only for /healthz, /readyz and /metrics; beyond, 503 at once.
  int max_connections = 0;
  /// Deadline for a whole request head and body, from its first byte.
  int64_t read_timeout_ms = 10000;
  /// Bounds of a request head (request line and headers): bytes and header lines.
  int max_header_bytes = 16384;
  int max_headers = 100;
};

/// The effective connection cap of `h`: max_connections, or threads minus a
/// reserve of threads/16 (at least one) kept for health checks.
inline int connection_cap(const http_settings& h) {
  if (h.max_connections > 0)
    return h.max_connections;
  return h.threads > 1 ? h.threads - std::max(1, h.threads / 16) : 1;
}

struct dapr_settings {
  bool enabled = false;
  std::string http_endpoint = "http://127.0.0.1:3500";
};

/// Restart strategy of a supervisor (CONTRACT §2 `supervision.strategy`).
enum class restart_strategy { one_for_one, one_for_all, rest_for_one };

struct supervision_settings {
  restart_strategy strategy = restart_strategy::one_for_one;
  int max_restarts = 5;
  int64_t within_ms = 10000;
  int64_t restart_delay_ms = 100;
  int64_t max_restart_delay_ms = 5000;
};

enum class log_format { json, text };

struct logging_settings {
  std::string level = "info"; // trace, debug, info, warn, error
  log_format format = log_format::json;
};

struct simulator_settings {
  bool enabled = true;
  std::string profile = "trio"; // trio, fast, down, hang, flaky
};

/// The whole effective configuration of the daemon. The member initializers here and in the
/// settings structs above are the built-in defaults (CONTRACT §2, config/coffeeshop.json).
/// Where orders live (CONTRACT §2 `store.*`, §7).
enum class store_backend { sqlite, postgres, memory };

/// `"full"`: a committed write survives power loss; `"normal"`: a crash of the daemon only.
enum class store_sync { full, normal };

struct store_settings {
  store_backend backend = store_backend::sqlite;
  store_sync synchronous = store_sync::full;
  /// The PostgreSQL connection URI (required with backend postgres); may hold a password.
  std::optional<std::string> url;
  /// PostgreSQL connections: one for the writer, the rest for reads.
  int pool_size = 4;
};

/// This daemon among several sharing one database (CONTRACT §2 `instance.*`, §8).
struct instance_settings {
  /// Null: `<hostname>-<pid>`.
  std::optional<std::string> id;
  /// How long a claim on work holds without renewal.
  int64_t lease_ms = 15000;
};

/// Trace export (CONTRACT §2 `telemetry.*`, §9).
struct telemetry_settings {
  /// Base URL of an OTLP/HTTP collector (spans go to `{endpoint}/v1/traces`); null: no export.
  std::optional<std::string> otlp_endpoint;
  std::string service_name = "coffeeshopd";
  /// Spans waiting for export beyond this are dropped and counted.
  int max_queue_spans = 8192;
};

struct config {
  http_settings http;
  service_settings payment = service_defaults("payment-service", "process-payment");
  service_settings notification = service_defaults("notification-service", "send-notification");
  dapr_settings dapr;
  supervision_settings supervision;
  std::string store_path = "coffeeshop.db";
  store_settings store;
  telemetry_settings telemetry;
  instance_settings instance;
  logging_settings logging;
  int64_t drain_timeout_ms = 10000;
  std::optional<std::string> admin_token;
  simulator_settings simulator;
  /// "built-in" or a path to a JSON menu file.
  std::string menu = "built-in";

  /// The built-in defaults (identical to config/coffeeshop.json), checked by the same
  /// validation as a loaded file.
  static config defaults();
};

/// Outcome of loading a configuration: either a config or the list of errors.
struct config_result {
  std::optional<config> value;
  /// Each error reads `config: <key.path>: <reason>`.
  std::vector<std::string> errors;
};

/// Builds the effective config from defaults, an optional JSON file and `--set`
/// overrides (`a.b.c=VALUE`, VALUE parsed as JSON if it parses, else a string).
config_result load_config(const std::optional<std::string>& file,
                          const std::vector<std::string>& overrides);

/// Renders the effective config as pretty JSON, secrets shown as "***".
std::string print_config(const config& cfg);

/// A parsed `HOST:PORT` (CONTRACT §2 `http.listen`, `coffeeshop-sim --listen`).
struct listen_address {
  std::string host;  ///< IPv4 address, host name or IPv6 address (without brackets)
  uint16_t port = 0; ///< 0 = any free port
};

/// Parses "HOST:PORT": HOST an IPv4 address, a host name or "[IPv6]"; PORT 0..65535.
/// On error returns nullopt and sets `error` to the reason (e.g. "host must not be empty").
std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error);

/// Renders "HOST:PORT" ("[::1]:8080" for IPv6); the inverse of parse_listen_address.
std::string format_listen_address(const std::string& host, uint16_t port);

} // namespace coffeeshop
