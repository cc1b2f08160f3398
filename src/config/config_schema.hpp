#pragma once

// Internal to src/config: the one table of configuration keys (CONTRACT §2). Validation
// (validate_tree.cpp) and rendering (print_config.cpp, which also yields the built-in defaults
// tree and thereby the set of known keys) are visitors walking this table, so they cannot
// drift apart. A key's default is the initializer of the member it fills in
// coffeeshop/config.hpp.
//
// A visitor provides one function per row kind, each taking the key, the member (a reference,
// const when rendering) and the kind's limits:
//   section(key, body)        a JSON object; `body` visits its rows
//   integer(key, n, range[, order])   boolean(key, b)   string(key, s)   (non-empty)
//   choice(key, e_or_s, names)        one of `names`; an enum member holds the index
//   url(key, s)   nullable_url(key, optional_s)   ratio(key, optional_d)   (null or (0, 1])
//   nullable_integer(key, optional_n, range)   null or an integer in range
//   secret(key, optional_s)   null or a non-empty string, never echoed, masked when printed
//   nullable_string(key, optional_s)   null or a non-empty string
//   db_url(key, optional_s)   null or a postgresql:// URI, never echoed, printed without password
//   listen(key, host, port)   "HOST:PORT"

#include "coffeeshop/config.hpp"

#include <cstddef>
#include <cstdint>
#include <limits>

namespace coffeeshop::config_detail {

/// Inclusive bounds of an integer key; they must fit the member's type.
struct int_range {
  int64_t min;
  int64_t max;
};

/// Upper bound of every `*_ms` setting: one day. Nothing in the daemon needs longer, and the
/// bound keeps derived arithmetic (retry back-off doubling, deadlines) far from overflow.
inline constexpr int64_t max_duration_ms = 86'400'000;
inline constexpr int64_t int_max = std::numeric_limits<int>::max();

// The common ranges: counts up to INT_MAX, durations up to a day.
inline constexpr int_range positive{1, int_max};
inline constexpr int_range non_negative{0, int_max};
inline constexpr int_range positive_ms{1, max_duration_ms};
inline constexpr int_range non_negative_ms{0, max_duration_ms};

/// A bound of an integer key set by an earlier key of the same section (e.g. max >= base).
/// Checked only when both keys are valid on their own.
struct order_rule {
  enum class relation { none, at_least, below };
  relation rel = relation::none;
  const char* other_key = nullptr;
  int64_t other_value = 0;
};

/// The key must be >= the earlier key `other_key`, whose value is `other_value`.
inline order_rule at_least(const char* other_key, int64_t other_value) {
  return {order_rule::relation::at_least, other_key, other_value};
}

/// The key must be < the earlier key `other_key`, whose value is `other_value`.
inline order_rule below(const char* other_key, int64_t other_value) {
  return {order_rule::relation::below, other_key, other_value};
}

/// The spellings of a choice key. For an enum they are in declaration order, because the
/// enumerator is the index into its list.
class name_list {
public:
  /// Implicit, so that a row passes one of the arrays below as it is.
  template <std::size_t N>
  constexpr name_list(const char* const (&names)[N]) : names_(names), size_(N) {}

  constexpr std::size_t size() const { return size_; }
  constexpr const char* operator[](std::size_t i) const { return names_[i]; }

private:
  const char* const* names_;
  std::size_t size_;
};

inline constexpr const char* wire_format_names[] = {"seed", "trio"};
inline constexpr const char* jitter_names[] = {"none", "full", "equal"};
inline constexpr const char* strategy_names[] = {"one_for_one", "one_for_all", "rest_for_one"};
inline constexpr const char* log_level_names[] = {"trace", "debug", "info", "warn", "error"};
inline constexpr const char* log_format_names[] = {"json", "text"};
inline constexpr const char* store_backend_names[] = {"sqlite", "postgres", "memory"};
inline constexpr const char* store_sync_names[] = {"full", "normal"};
inline constexpr const char* profile_names[] = {"trio", "fast", "down", "hang", "flaky", "slow"};

/// The rows of one `services.<name>` section; payment and notification share them.
template <class Visitor, class Service>
void visit_service(Visitor& v, Service& s) {
  v.nullable_url("url", s.url);
  v.choice("format", s.format, wire_format_names);
  v.integer("timeout_ms", s.timeout_ms, positive_ms);
  v.integer("total_timeout_ms", s.total_timeout_ms, positive_ms,
            at_least("timeout_ms", s.timeout_ms));
  v.integer("max_connections", s.max_connections, {1, 1024});
  v.section("retry", [&] {
    auto& r = s.retry;
    v.integer("max_retries", r.max_retries, {0, 20});
    v.integer("base_delay_ms", r.base_delay_ms, non_negative_ms);
    v.integer("max_delay_ms", r.max_delay_ms, non_negative_ms,
              at_least("base_delay_ms", r.base_delay_ms));
    v.choice("jitter", r.jitter, jitter_names);
    v.boolean("honor_retry_after", r.honor_retry_after);
    v.section("budget", [&] {
      auto& b = r.budget;
      v.ratio("ratio", b.ratio);
      v.integer("min_per_second", b.min_per_second, {0, 1'000'000});
      // At least a second: the floor is per second, and a shorter window only adds noise.
      v.integer("window_ms", b.window_ms, {1000, max_duration_ms});
    });
  });
  v.section("adaptive_concurrency", [&] {
    auto& a = s.adaptive_concurrency;
    v.boolean("enabled", a.enabled);
    // Both are also at most max_connections, checked after the table (another section).
    v.integer("min_limit", a.min_limit, {1, 1024});
    v.integer("initial_limit", a.initial_limit, {1, 1024}, at_least("min_limit", a.min_limit));
  });
  v.section("circuit_breaker", [&] {
    auto& b = s.circuit_breaker;
    v.integer("failure_threshold", b.failure_threshold, positive);
    v.integer("break_duration_ms", b.break_duration_ms, positive_ms);
    v.integer("half_open_max_calls", b.half_open_max_calls, positive);
    v.ratio("failure_ratio", b.failure_ratio);
    v.integer("sampling_window_ms", b.sampling_window_ms, positive_ms);
    v.integer("min_throughput", b.min_throughput, positive);
    // null = 5 × break_duration_ms; a Retry-After longer than this is clipped to it.
    v.nullable_integer("max_break_ms", b.max_break_ms, positive_ms);
  });
  v.string("dapr_app_id", s.dapr_app_id);
  v.string("dapr_method", s.dapr_method);
}

/// Every row of the config, in the order of config/coffeeshop.json (which is also the order
/// in which errors are reported). `Config` is `config` or `const config`.
template <class Visitor, class Config>
void visit_config(Visitor& v, Config& c) {
  v.section("http", [&] {
    auto& h = c.http;
    v.listen("listen", h.listen_host, h.listen_port);
    v.integer("threads", h.threads, {1, 4096});
    v.integer("max_body_bytes", h.max_body_bytes, {1, 64 * 1024 * 1024});
    // Orders waiting on an upstream must leave a connection thread free for health checks.
    v.integer("max_inflight_orders", h.max_inflight_orders, positive, below("threads", h.threads));
    v.integer("request_timeout_ms", h.request_timeout_ms, positive_ms);
    // 0 = threads minus a reserve; the rest of the threads answer only health checks.
    v.integer("max_connections", h.max_connections, non_negative, below("threads", h.threads));
    v.integer("read_timeout_ms", h.read_timeout_ms, positive_ms);
    v.integer("max_header_bytes", h.max_header_bytes, {1024, 1024 * 1024});
    v.integer("max_headers", h.max_headers, {1, 10000});
  });
  v.section("services", [&] {
    v.section("payment", [&] { visit_service(v, c.payment); });
    v.section("notification", [&] { visit_service(v, c.notification); });
  });
  v.section("dapr", [&] {
    v.boolean("enabled", c.dapr.enabled);
    v.url("http_endpoint", c.dapr.http_endpoint);
  });
  v.section("supervision", [&] {
    auto& s = c.supervision;
    v.choice("strategy", s.strategy, strategy_names);
    v.integer("max_restarts", s.max_restarts, non_negative);
    v.integer("within_ms", s.within_ms, positive_ms);
    v.integer("restart_delay_ms", s.restart_delay_ms, non_negative_ms);
    v.integer("max_restart_delay_ms", s.max_restart_delay_ms, non_negative_ms,
              at_least("restart_delay_ms", s.restart_delay_ms));
  });
  v.section("store", [&] {
    v.choice("backend", c.store.backend, store_backend_names);
    v.string("path", c.store_path);
    v.choice("synchronous", c.store.synchronous, store_sync_names);
    v.db_url("url", c.store.url);
    // One writer and at least one reader; more than 64 per daemon only queues in the server.
    v.integer("pool_size", c.store.pool_size, {2, 64});
  });
  v.section("instance", [&] {
    v.nullable_string("id", c.instance.id);
    // Renewed at a third of the lease: shorter than 300 ms leaves no room for one late renewal.
    v.integer("lease_ms", c.instance.lease_ms, {300, max_duration_ms});
  });
  v.section("telemetry", [&] {
    v.nullable_url("otlp_endpoint", c.telemetry.otlp_endpoint);
    v.string("service_name", c.telemetry.service_name);
    // A span is about 1 KiB queued: the bound keeps a dead collector's cost in megabytes.
    v.integer("max_queue_spans", c.telemetry.max_queue_spans, {1, 1'000'000});
  });
  v.section("logging", [&] {
    v.choice("level", c.logging.level, log_level_names);
    v.choice("format", c.logging.format, log_format_names);
  });
  v.section("shutdown",
            [&] { v.integer("drain_timeout_ms", c.drain_timeout_ms, non_negative_ms); });
  v.section("admin", [&] { v.secret("token", c.admin_token); });
  v.section("simulator", [&] {
    v.boolean("enabled", c.simulator.enabled);
    v.choice("profile", c.simulator.profile, profile_names);
  });
  v.string("menu", c.menu);
}

} // namespace coffeeshop::config_detail
