// Validation of the merged config tree into the `config` struct. Every key is checked even
// after a failure so that one run of --check-config lists all the problems of a file.

#include "config_tree.hpp"

#include <cmath>
#include <initializer_list>
#include <limits>

namespace coffeeshop::config_detail {
namespace json = boost::json;

namespace {

/// Upper bound of every `*_ms` setting: one day. Nothing in the daemon needs longer, and the
/// bound keeps derived arithmetic (retry back-off doubling, deadlines) far from overflow.
constexpr int64_t max_duration_ms = 86'400'000;
constexpr int64_t max_body_limit = 64 * 1024 * 1024;
constexpr int64_t int_max = std::numeric_limits<int>::max();

const json::value& member(const json::object& section, std::string_view key) {
  static const json::value missing; // unreachable after merge_tree, kept for safety
  const json::value* v = section.if_contains(json::string_view(key.data(), key.size()));
  return v != nullptr ? *v : missing;
}

const json::object& subsection(const json::object& section, std::string_view key) {
  static const json::object empty;
  const json::object* o = member(section, key).if_object();
  return o != nullptr ? *o : empty;
}

/// Collects errors while reading typed values out of the tree.
class tree_reader {
public:
  explicit tree_reader(std::vector<std::string>& errors) : errors_(errors) {}

  void fail(const std::string& path, const std::string& reason) {
    errors_.push_back("config: " + path + ": " + reason);
  }
  void fail(const std::string& path, const std::string& reason, const json::value& got) {
    fail(path, reason + ", got " + describe_value(got));
  }

  /// An integer in [min, max]; JSON doubles with an integral value (3.0) count as integers.
  template <class T>
  bool integer(const json::value& v, const std::string& path, int64_t min, int64_t max, T& out) {
    const std::string kind = min > 0    ? "expected a positive integer"
                             : min == 0 ? "expected a non-negative integer"
                                        : "expected an integer";
    bool in_int64 = true;
    int64_t n = 0;
    if (v.is_int64()) {
      n = v.get_int64();
    } else if (v.is_uint64()) {
      in_int64 = false; // above INT64_MAX: out of range whatever the bounds
    } else if (v.is_double() && std::isfinite(v.get_double()) &&
               std::trunc(v.get_double()) == v.get_double()) {
      const double d = v.get_double();
      in_int64 = d >= -9.0e18 && d <= 9.0e18;
      if (in_int64) n = static_cast<int64_t>(d);
    } else {
      fail(path, kind, v);
      return false;
    }
    if (!in_int64 || n < min || n > max) {
      // Below the minimum of an open-ended setting the kind says it all ("expected a positive
      // integer, got 0"); a real range (threads 1..4096) is worth spelling out.
      const bool open_ended = max == int_max || max == max_duration_ms;
      if (in_int64 && n < min && open_ended) fail(path, kind, v);
      else fail(path, "must be in " + std::to_string(min) + ".." + std::to_string(max), v);
      return false;
    }
    out = static_cast<T>(n);
    return true;
  }

  /// A `*_ms` duration in [min, one day].
  bool duration(const json::value& v, const std::string& path, int64_t min, int64_t& out) {
    return integer(v, path, min, max_duration_ms, out);
  }

  bool boolean(const json::value& v, const std::string& path, bool& out) {
    if (!v.is_bool()) {
      fail(path, "expected true or false", v);
      return false;
    }
    out = v.get_bool();
    return true;
  }

  bool non_empty_string(const json::value& v, const std::string& path, std::string& out) {
    if (!v.is_string() || v.get_string().empty()) {
      fail(path, "expected a non-empty string", v);
      return false;
    }
    out = std::string(v.get_string());
    return true;
  }

  /// One of a fixed set of strings; `out` receives its index in `choices`.
  bool one_of(const json::value& v, const std::string& path,
              std::initializer_list<const char*> choices, std::size_t& out) {
    if (v.is_string()) {
      std::size_t i = 0;
      for (const char* c : choices) {
        if (v.get_string() == c) {
          out = i;
          return true;
        }
        ++i;
      }
    }
    std::string reason = "expected one of ";
    bool first = true;
    for (const char* c : choices) {
      if (!first) reason += ", ";
      first = false;
      reason += '"';
      reason += c;
      reason += '"';
    }
    fail(path, reason, v);
    return false;
  }

  /// An http:// or https:// URL, or null when `nullable`.
  bool url(const json::value& v, const std::string& path, bool nullable,
           std::optional<std::string>& out) {
    if (nullable && v.is_null()) {
      out.reset();
      return true;
    }
    if (v.is_string() && looks_like_http_url(v.get_string())) {
      out = std::string(v.get_string());
      return true;
    }
    fail(path,
         std::string(nullable ? "expected null or a URL" : "expected a URL") +
             " starting with http:// or https://",
         v);
    return false;
  }

private:
  static bool looks_like_http_url(std::string_view s) {
    std::size_t scheme = 0;
    if (s.rfind("http://", 0) == 0) scheme = 7;
    else if (s.rfind("https://", 0) == 0) scheme = 8;
    else return false;
    if (s.size() == scheme || s[scheme] == '/') return false; // no host
    for (char c : s)
      if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
    return true;
  }

  std::vector<std::string>& errors_;
};

void read_retry(tree_reader& r, const json::object& o, const std::string& p, retry_settings& s) {
  r.integer(member(o, "max_retries"), p + ".max_retries", 0, 20, s.max_retries);
  const bool base_ok = r.duration(member(o, "base_delay_ms"), p + ".base_delay_ms", 0, s.base_delay_ms);
  const bool max_ok = r.duration(member(o, "max_delay_ms"), p + ".max_delay_ms", 0, s.max_delay_ms);
  if (base_ok && max_ok && s.max_delay_ms < s.base_delay_ms)
    r.fail(p + ".max_delay_ms",
           "must be at least " + p + ".base_delay_ms (" + std::to_string(s.base_delay_ms) + ")",
           member(o, "max_delay_ms"));
  std::size_t jitter = 0;
  if (r.one_of(member(o, "jitter"), p + ".jitter", {"none", "full", "equal"}, jitter))
    s.jitter = static_cast<jitter_mode>(jitter);
  r.boolean(member(o, "honor_retry_after"), p + ".honor_retry_after", s.honor_retry_after);
}

void read_breaker(tree_reader& r, const json::object& o, const std::string& p,
                  breaker_settings& s) {
  r.integer(member(o, "failure_threshold"), p + ".failure_threshold", 1, int_max, s.failure_threshold);
  r.duration(member(o, "break_duration_ms"), p + ".break_duration_ms", 1, s.break_duration_ms);
  r.integer(member(o, "half_open_max_calls"), p + ".half_open_max_calls", 1, int_max,
            s.half_open_max_calls);
  const json::value& ratio = member(o, "failure_ratio");
  if (ratio.is_null()) {
    s.failure_ratio.reset();
  } else if (ratio.is_number() && ratio.to_number<double>() > 0.0 && ratio.to_number<double>() <= 1.0) {
    s.failure_ratio = ratio.to_number<double>();
  } else {
    r.fail(p + ".failure_ratio", "expected null or a number in (0, 1]", ratio);
  }
  r.duration(member(o, "sampling_window_ms"), p + ".sampling_window_ms", 1, s.sampling_window_ms);
  r.integer(member(o, "min_throughput"), p + ".min_throughput", 1, int_max, s.min_throughput);
}

/// Returns whether `url` was read successfully (the simulator check needs to know).
bool read_service(tree_reader& r, const json::object& o, const std::string& p,
                  service_settings& s) {
  const bool url_ok = r.url(member(o, "url"), p + ".url", true, s.url);
  std::size_t format = 0;
  if (r.one_of(member(o, "format"), p + ".format", {"seed", "trio"}, format))
    s.format = static_cast<wire_format>(format);
  const bool timeout_ok = r.duration(member(o, "timeout_ms"), p + ".timeout_ms", 1, s.timeout_ms);
  const bool total_ok =
      r.duration(member(o, "total_timeout_ms"), p + ".total_timeout_ms", 1, s.total_timeout_ms);
  if (timeout_ok && total_ok && s.total_timeout_ms < s.timeout_ms)
    r.fail(p + ".total_timeout_ms",
           "must be at least " + p + ".timeout_ms (" + std::to_string(s.timeout_ms) + ")",
           member(o, "total_timeout_ms"));
  r.integer(member(o, "max_connections"), p + ".max_connections", 1, 1024, s.max_connections);
  read_retry(r, subsection(o, "retry"), p + ".retry", s.retry);
  read_breaker(r, subsection(o, "circuit_breaker"), p + ".circuit_breaker", s.circuit_breaker);
  r.non_empty_string(member(o, "dapr_app_id"), p + ".dapr_app_id", s.dapr_app_id);
  r.non_empty_string(member(o, "dapr_method"), p + ".dapr_method", s.dapr_method);
  return url_ok;
}

void read_http(tree_reader& r, const json::object& o, http_settings& s) {
  const json::value& listen = member(o, "listen");
  if (!listen.is_string()) {
    r.fail("http.listen", "expected a string HOST:PORT", listen);
  } else {
    std::string reason;
    if (auto addr = parse_listen_address(listen.get_string(), reason)) {
      s.listen_host = addr->host;
      s.listen_port = addr->port;
    } else {
      r.fail("http.listen", reason, listen);
    }
  }
  const bool threads_ok = r.integer(member(o, "threads"), "http.threads", 1, 4096, s.threads);
  r.integer(member(o, "max_body_bytes"), "http.max_body_bytes", 1, max_body_limit, s.max_body_bytes);
  const bool inflight_ok = r.integer(member(o, "max_inflight_orders"), "http.max_inflight_orders",
                                     1, int_max, s.max_inflight_orders);
  // Orders waiting on an upstream must leave a connection thread free for health checks.
  if (threads_ok && inflight_ok && s.max_inflight_orders >= s.threads)
    r.fail("http.max_inflight_orders",
           "must be below http.threads (" + std::to_string(s.threads) + ")",
           member(o, "max_inflight_orders"));
  r.duration(member(o, "request_timeout_ms"), "http.request_timeout_ms", 1, s.request_timeout_ms);
}

void read_supervision(tree_reader& r, const json::object& o, supervision_settings& s) {
  std::size_t strategy = 0;
  if (r.one_of(member(o, "strategy"), "supervision.strategy",
               {"one_for_one", "one_for_all", "rest_for_one"}, strategy))
    s.strategy = static_cast<restart_strategy>(strategy);
  r.integer(member(o, "max_restarts"), "supervision.max_restarts", 0, int_max, s.max_restarts);
  r.duration(member(o, "within_ms"), "supervision.within_ms", 1, s.within_ms);
  const bool delay_ok = r.duration(member(o, "restart_delay_ms"), "supervision.restart_delay_ms",
                                   0, s.restart_delay_ms);
  const bool max_ok = r.duration(member(o, "max_restart_delay_ms"),
                                 "supervision.max_restart_delay_ms", 0, s.max_restart_delay_ms);
  if (delay_ok && max_ok && s.max_restart_delay_ms < s.restart_delay_ms)
    r.fail("supervision.max_restart_delay_ms",
           "must be at least supervision.restart_delay_ms (" + std::to_string(s.restart_delay_ms) + ")",
           member(o, "max_restart_delay_ms"));
}

} // namespace

config_result validate_tree(const json::object& root) {
  config_result result;
  tree_reader r(result.errors);
  config cfg;

  read_http(r, subsection(root, "http"), cfg.http);

  const json::object& services = subsection(root, "services");
  const bool payment_url_ok =
      read_service(r, subsection(services, "payment"), "services.payment", cfg.payment);
  const bool notification_url_ok = read_service(r, subsection(services, "notification"),
                                                "services.notification", cfg.notification);

  const json::object& dapr = subsection(root, "dapr");
  r.boolean(member(dapr, "enabled"), "dapr.enabled", cfg.dapr.enabled);
  std::optional<std::string> endpoint;
  if (r.url(member(dapr, "http_endpoint"), "dapr.http_endpoint", false, endpoint))
    cfg.dapr.http_endpoint = *endpoint;

  read_supervision(r, subsection(root, "supervision"), cfg.supervision);

  r.non_empty_string(member(subsection(root, "store"), "path"), "store.path", cfg.store_path);

  const json::object& logging = subsection(root, "logging");
  std::size_t level = 0;
  static constexpr const char* levels[] = {"trace", "debug", "info", "warn", "error"};
  if (r.one_of(member(logging, "level"), "logging.level",
               {levels[0], levels[1], levels[2], levels[3], levels[4]}, level))
    cfg.logging.level = levels[level];
  std::size_t format = 0;
  if (r.one_of(member(logging, "format"), "logging.format", {"json", "text"}, format))
    cfg.logging.format = static_cast<log_format>(format);

  r.duration(member(subsection(root, "shutdown"), "drain_timeout_ms"), "shutdown.drain_timeout_ms",
             0, cfg.drain_timeout_ms);

  const json::value& token = member(subsection(root, "admin"), "token");
  if (token.is_null()) {
    cfg.admin_token.reset();
  } else if (token.is_string() && !token.get_string().empty()) {
    cfg.admin_token = std::string(token.get_string());
  } else {
    // Do not echo a token of the wrong type: it may still be a secret.
    r.fail("admin.token", "expected null or a non-empty string");
  }

  const json::object& simulator = subsection(root, "simulator");
  const bool sim_ok = r.boolean(member(simulator, "enabled"), "simulator.enabled", cfg.simulator.enabled);
  static constexpr const char* profiles[] = {"trio", "fast", "down", "hang", "flaky"};
  std::size_t profile = 0;
  if (r.one_of(member(simulator, "profile"), "simulator.profile",
               {profiles[0], profiles[1], profiles[2], profiles[3], profiles[4]}, profile))
    cfg.simulator.profile = profiles[profile];

  r.non_empty_string(member(root, "menu"), "menu", cfg.menu);

  // A null url means "use the embedded simulator", which only works while it runs.
  // In Dapr mode calls go to the sidecar and the url is not used at all.
  if (sim_ok && !cfg.simulator.enabled && !cfg.dapr.enabled) {
    if (payment_url_ok && !cfg.payment.url)
      r.fail("services.payment.url", "required when simulator.enabled and dapr.enabled are false");
    if (notification_url_ok && !cfg.notification.url)
      r.fail("services.notification.url", "required when simulator.enabled and dapr.enabled are false");
  }

  if (result.errors.empty()) result.value = std::move(cfg);
  return result;
}

} // namespace coffeeshop::config_detail
