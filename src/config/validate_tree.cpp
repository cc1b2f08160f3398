// Validation of the merged config tree into the `config` struct: a reader walking the key
// table of config_schema.hpp. Every key is checked even after a failure so that one run of
// --check-config lists all the problems of a file.

#include "config_schema.hpp"
#include "config_tree.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string_view>
#include <utility>

namespace coffeeshop::config_detail {
namespace json = boost::json;

namespace {

const json::value& member(const json::object& section, const char* key) {
  static const json::value missing; // unreachable after merge_tree, kept for safety
  const json::value* v = section.if_contains(key);
  return v != nullptr ? *v : missing;
}

const json::object& subsection(const json::object& section, const char* key) {
  static const json::object empty;
  const json::object* o = member(section, key).if_object();
  return o != nullptr ? *o : empty;
}

bool looks_like_http_url(std::string_view s) {
  std::size_t scheme = 0;
  if (s.rfind("http://", 0) == 0)
    scheme = 7;
  else if (s.rfind("https://", 0) == 0)
    scheme = 8;
  else
    return false;
  if (s.size() == scheme || s[scheme] == '/')
    return false; // no host
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return false;
  return true;
}

/// The visitor of config_schema.hpp that reads each row's value out of the tree, collecting
/// errors. A row that fails leaves its member at the struct's default.
class tree_reader {
public:
  tree_reader(const json::object& root, std::vector<std::string>& errors)
    : section_(&root), errors_(errors) {}

  /// Adds `config: <path>: <reason>`; the key then no longer counts as ok().
  void fail(const std::string& path, const std::string& reason) {
    errors_.push_back("config: " + path + ": " + reason);
    failed_.insert(path);
  }

  /// Whether the key at the full dotted `path` was read without error so far.
  bool ok(const std::string& path) const { return failed_.count(path) == 0; }

  template <class Body>
  void section(const char* key, Body&& body) {
    const json::object* outer = std::exchange(section_, &subsection(*section_, key));
    std::string outer_prefix = std::exchange(prefix_, path(key));
    body();
    section_ = outer;
    prefix_ = std::move(outer_prefix);
  }

  template <class T>
  void integer(const char* key, T& out, int_range range, order_rule order = {}) {
    const json::value& v = member(*section_, key);
    const std::string p = path(key);
    int64_t n = 0;
    if (!read_integer(v, p, range, n))
      return;
    if (order.rel != order_rule::relation::none && ok(path(order.other_key))) {
      const bool at_least = order.rel == order_rule::relation::at_least;
      if (at_least ? n < order.other_value : n >= order.other_value) {
        fail(p,
             std::string(at_least ? "must be at least " : "must be below ") +
               path(order.other_key) + " (" + std::to_string(order.other_value) + ")",
             v);
        return;
      }
    }
    out = static_cast<T>(n);
  }

  void boolean(const char* key, bool& out) {
    const json::value& v = member(*section_, key);
    if (!v.is_bool())
      return fail(path(key), "expected true or false", v);
    out = v.get_bool();
  }

  void string(const char* key, std::string& out) {
    const json::value& v = member(*section_, key);
    if (!v.is_string() || v.get_string().empty())
      return fail(path(key), "expected a non-empty string", v);
    out = std::string(v.get_string());
  }

  template <class Enum>
  void choice(const char* key, Enum& out, name_list names) {
    std::size_t i = 0;
    if (read_choice(key, names, i))
      out = static_cast<Enum>(i);
  }

  void choice(const char* key, std::string& out, name_list names) {
    std::size_t i = 0;
    if (read_choice(key, names, i))
      out = names[i];
  }

  void url(const char* key, std::string& out) {
    const json::value& v = member(*section_, key);
    if (!v.is_string() || !looks_like_http_url(v.get_string()))
      return fail(path(key), "expected a URL starting with http:// or https://", v);
    out = std::string(v.get_string());
  }

  void nullable_url(const char* key, std::optional<std::string>& out) {
    const json::value& v = member(*section_, key);
    if (v.is_null()) {
      out.reset();
    } else if (v.is_string() && looks_like_http_url(v.get_string())) {
      out = std::string(v.get_string());
    } else {
      fail(path(key), "expected null or a URL starting with http:// or https://", v);
    }
  }

  void nullable_integer(const char* key, std::optional<int64_t>& out, int_range range) {
    const json::value& v = member(*section_, key);
    if (v.is_null()) {
      out.reset();
      return;
    }
    int64_t n = 0;
    if (read_integer(v, path(key), range, n))
      out = n;
  }

  void ratio(const char* key, std::optional<double>& out) {
    const json::value& v = member(*section_, key);
    if (v.is_null()) {
      out.reset();
    } else if (v.is_number() && v.to_number<double>() > 0.0 && v.to_number<double>() <= 1.0) {
      out = v.to_number<double>();
    } else {
      fail(path(key), "expected null or a number in (0, 1]", v);
    }
  }

  void secret(const char* key, std::optional<std::string>& out) {
    const json::value& v = member(*section_, key);
    if (v.is_null()) {
      out.reset();
    } else if (v.is_string() && !v.get_string().empty()) {
      out = std::string(v.get_string());
    } else {
      // Do not echo a secret of the wrong type: it may still be a secret.
      fail(path(key), "expected null or a non-empty string");
    }
  }

  void nullable_string(const char* key, std::optional<std::string>& out) {
    const json::value& v = member(*section_, key);
    if (v.is_null())
      out.reset();
    else if (v.is_string() && !v.get_string().empty())
      out = std::string(v.get_string());
    else
      fail(path(key), "expected null or a non-empty string", v);
  }

  void db_url(const char* key, std::optional<std::string>& out) {
    const json::value& v = member(*section_, key);
    if (v.is_null()) {
      out.reset();
      return;
    }
    // Not echoed: the URL may carry a password.
    const std::string_view s = v.is_string() ? std::string_view(v.get_string()) : "";
    const bool uri = s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
    const bool printable = std::none_of(s.begin(), s.end(), [](char c) {
      return static_cast<unsigned char>(c) <= ' ';
    });
    if (!uri || !printable)
      return fail(path(key), "expected null or a URI starting with postgresql:// or postgres://");
    out = std::string(s);
  }

  void listen(const char* key, std::string& host, uint16_t& port) {
    const json::value& v = member(*section_, key);
    if (!v.is_string())
      return fail(path(key), "expected a string HOST:PORT", v);
    std::string reason;
    const auto addr = parse_listen_address(v.get_string(), reason);
    if (!addr)
      return fail(path(key), reason, v);
    host = addr->host;
    port = addr->port;
  }

private:
  std::string path(const char* key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + key;
  }

  void fail(const std::string& path, const std::string& reason, const json::value& got) {
    fail(path, reason + ", got " + describe_value(got));
  }

  /// An integer in `range`; JSON doubles with an integral value (3.0) count as integers.
  bool read_integer(const json::value& v, const std::string& p, int_range range, int64_t& out) {
    const std::string kind = range.min > 0    ? "expected a positive integer"
                             : range.min == 0 ? "expected a non-negative integer"
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
      if (in_int64)
        n = static_cast<int64_t>(d);
    } else {
      fail(p, kind, v);
      return false;
    }
    if (!in_int64 || n < range.min || n > range.max) {
      // Below the minimum of an open-ended setting the kind says it all ("expected a positive
      // integer, got 0"); a real range (threads 1..4096) is worth spelling out.
      const bool open_ended = range.max == int_max || range.max == max_duration_ms;
      if (in_int64 && n < range.min && open_ended && range.min <= 1)
        fail(p, kind, v);
      else
        fail(p, "must be in " + std::to_string(range.min) + ".." + std::to_string(range.max), v);
      return false;
    }
    out = n;
    return true;
  }

  /// One of `names`; `out` receives its index.
  bool read_choice(const char* key, name_list names, std::size_t& out) {
    const json::value& v = member(*section_, key);
    if (v.is_string()) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (v.get_string() == names[i]) {
          out = i;
          return true;
        }
      }
    }
    std::string reason = "expected one of ";
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i > 0)
        reason += ", ";
      reason += '"';
      reason += names[i];
      reason += '"';
    }
    fail(path(key), reason, v);
    return false;
  }

  const json::object* section_;
  std::string prefix_; ///< dotted path of section_, "" at the root
  std::vector<std::string>& errors_;
  std::set<std::string> failed_;
};

} // namespace

config_result validate_tree(const json::object& root) {
  config_result result;
  tree_reader r(root, result.errors);
  config cfg;
  visit_config(r, cfg);

  if (r.ok("store.backend") && r.ok("store.url") && cfg.store.backend == store_backend::postgres &&
      !cfg.store.url)
    r.fail("store.url", "required when store.backend is \"postgres\"");

  // A null url means "use the embedded simulator", which only works while it runs.
  // In Dapr mode calls go to the sidecar and the url is not used at all.
  if (r.ok("simulator.enabled") && !cfg.simulator.enabled && !cfg.dapr.enabled) {
    if (r.ok("services.payment.url") && !cfg.payment.url)
      r.fail("services.payment.url", "required when simulator.enabled and dapr.enabled are false");
    if (r.ok("services.notification.url") && !cfg.notification.url)
      r.fail("services.notification.url",
             "required when simulator.enabled and dapr.enabled are false");
  }

  // The adaptive limit lives between min_limit and max_connections, so a start or a floor
  // above the ceiling could never hold. Only checked when enabled: a lowered max_connections
  // must not fail because of the defaults of a feature that is off.
  auto check_limits = [&r](const std::string& service, const service_settings& s) {
    const std::string ceiling = service + ".max_connections";
    if (!r.ok(ceiling) || !r.ok(service + ".adaptive_concurrency.enabled") ||
        !s.adaptive_concurrency.enabled)
      return;
    for (auto [key, value] : {std::pair{"min_limit", s.adaptive_concurrency.min_limit},
                              std::pair{"initial_limit", s.adaptive_concurrency.initial_limit}}) {
      const std::string path = service + ".adaptive_concurrency." + key;
      if (r.ok(path) && value > s.max_connections)
        r.fail(path, "must be at most " + ceiling + " (" + std::to_string(s.max_connections) +
                       "), got " + std::to_string(value));
    }
  };
  check_limits("services.payment", cfg.payment);
  check_limits("services.notification", cfg.notification);

  if (result.errors.empty())
    result.value = std::move(cfg);
  return result;
}

} // namespace coffeeshop::config_detail
