// Unit tests of configuration loading, validation, printing and command-line parsing.

#include "coffeeshop/cli.hpp"
#include "coffeeshop/config.hpp"

#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace coffeeshop;
namespace fs = std::filesystem;

namespace {

/// The repository's config/ folder, found from this file's location (unit tests have no
/// compile definition for the source dir).
fs::path config_dir() { return fs::path(__FILE__).parent_path() / ".." / ".." / "config"; }

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A uniquely named file in the temp dir, removed again at scope exit.
class temp_file {
public:
  explicit temp_file(const std::string& content) {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("coffeeshop-config-test-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter++) + ".json");
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~temp_file() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  std::string path() const { return path_.string(); }

private:
  fs::path path_;
};

/// Sets (or unsets, with nullptr) $COFFEESHOP_CONFIG for one scope, restoring it afterwards.
class env_guard {
public:
  explicit env_guard(const char* value) {
    if (const char* old = std::getenv("COFFEESHOP_CONFIG"))
      old_ = old;
    if (value != nullptr)
      ::setenv("COFFEESHOP_CONFIG", value, 1);
    else
      ::unsetenv("COFFEESHOP_CONFIG");
  }
  ~env_guard() {
    if (old_)
      ::setenv("COFFEESHOP_CONFIG", old_->c_str(), 1);
    else
      ::unsetenv("COFFEESHOP_CONFIG");
  }

private:
  std::optional<std::string> old_;
};

/// load_config with $COFFEESHOP_CONFIG unset, so the caller's environment cannot interfere.
config_result load(const std::optional<std::string>& file,
                   const std::vector<std::string>& overrides = {}) {
  env_guard no_env(nullptr);
  return load_config(file, overrides);
}

config_result load_json(const std::string& json_text,
                        const std::vector<std::string>& overrides = {}) {
  temp_file f(json_text);
  return load(f.path(), overrides);
}

std::string joined(const config_result& r) {
  std::string s;
  for (const auto& e : r.errors)
    s += e + "\n";
  return s;
}

bool has_error(const config_result& r, const std::string& exact) {
  return std::find(r.errors.begin(), r.errors.end(), exact) != r.errors.end();
}

/// Whole-config equality: print_config covers every field except the token's value.
bool same_config(const config& a, const config& b) {
  return print_config(a) == print_config(b) && a.admin_token == b.admin_token;
}

/// Expects `r` to have failed with exactly one error, equal to `exact`.
void require_single_error(const config_result& r, const std::string& exact) {
  INFO(joined(r));
  CHECK_FALSE(r.value.has_value());
  CHECK(r.errors.size() == 1);
  CHECK(has_error(r, exact));
}

std::optional<cli_options> cli(std::vector<const char*> args, std::string& error) {
  return parse_cli(static_cast<int>(args.size()), args.data(), error);
}

} // namespace

TEST_CASE("config: defaults equal config/coffeeshop.json") {
  const std::string file = (config_dir() / "coffeeshop.json").string();
  const std::string text = read_text(file);
  REQUIRE_FALSE(text.empty());

  // Same document, key for key and value for value.
  CHECK(boost::json::parse(text) == boost::json::parse(print_config(config::defaults())));

  config_result r = load(file);
  INFO(joined(r));
  REQUIRE(r.value);
  CHECK(same_config(*r.value, config::defaults()));

  const config d = config::defaults();
  CHECK(d.http.listen_host == "127.0.0.1");
  CHECK(d.http.listen_port == 8080);
  CHECK(d.http.threads == 128);
  CHECK(d.http.max_body_bytes == 65536);
  CHECK(d.http.max_inflight_orders == 96);
  CHECK(d.http.request_timeout_ms == 30000);
  CHECK_FALSE(d.payment.url);
  CHECK(d.payment.format == wire_format::seed);
  CHECK(d.payment.timeout_ms == 10000);
  CHECK(d.payment.total_timeout_ms == 30000);
  CHECK(d.payment.max_connections == 32);
  CHECK(d.payment.retry.max_retries == 3);
  CHECK(d.payment.retry.base_delay_ms == 2000);
  CHECK(d.payment.retry.max_delay_ms == 30000);
  CHECK(d.payment.retry.jitter == jitter_mode::none);
  CHECK(d.payment.retry.honor_retry_after);
  CHECK_FALSE(d.payment.retry.budget.ratio);
  CHECK(d.payment.retry.budget.min_per_second == 10);
  CHECK(d.payment.retry.budget.window_ms == 10000);
  CHECK_FALSE(d.payment.adaptive_concurrency.enabled);
  CHECK(d.payment.adaptive_concurrency.min_limit == 2);
  CHECK(d.payment.adaptive_concurrency.initial_limit == 16);
  CHECK(d.payment.circuit_breaker.failure_threshold == 3);
  CHECK(d.payment.circuit_breaker.break_duration_ms == 30000);
  CHECK(d.payment.circuit_breaker.half_open_max_calls == 1);
  CHECK_FALSE(d.payment.circuit_breaker.failure_ratio);
  CHECK(d.payment.circuit_breaker.sampling_window_ms == 30000);
  CHECK(d.payment.circuit_breaker.min_throughput == 10);
  CHECK(d.payment.dapr_app_id == "payment-service");
  CHECK(d.payment.dapr_method == "process-payment");
  CHECK(d.notification.dapr_app_id == "notification-service");
  CHECK(d.notification.dapr_method == "send-notification");
  CHECK(d.notification.retry.max_retries == 3);
  CHECK_FALSE(d.dapr.enabled);
  CHECK(d.dapr.http_endpoint == "http://127.0.0.1:3500");
  CHECK(d.supervision.strategy == restart_strategy::one_for_one);
  CHECK(d.supervision.max_restarts == 5);
  CHECK(d.supervision.within_ms == 10000);
  CHECK(d.supervision.restart_delay_ms == 100);
  CHECK(d.supervision.max_restart_delay_ms == 5000);
  CHECK(d.store_path == "coffeeshop.db");
  CHECK(d.logging.level == "info");
  CHECK(d.logging.format == log_format::json);
  CHECK(d.drain_timeout_ms == 10000);
  CHECK_FALSE(d.admin_token);
  CHECK(d.simulator.enabled);
  CHECK(d.simulator.profile == "trio");
  CHECK(d.menu == "built-in");
}

TEST_CASE("config: a default-constructed config is the built-in defaults") {
  // The member initializers in config.hpp are the one place a default is written.
  CHECK(same_config(config{}, config::defaults()));
}

TEST_CASE("config: every key of the defaults is validated and takes its own default") {
  // Walks the leaves of the defaults, i.e. every row of the key table.
  std::vector<std::pair<std::string, boost::json::value>> leaves;
  auto walk = [&leaves](const boost::json::object& o, const std::string& prefix,
                        auto& self) -> void {
    for (const auto& m : o) {
      const std::string path = prefix.empty() ? std::string(m.key())
                                              : prefix + "." + std::string(m.key());
      if (m.value().is_object())
        self(m.value().get_object(), path, self);
      else
        leaves.emplace_back(path, m.value());
    }
  };
  walk(boost::json::parse(print_config(config::defaults())).as_object(), "", walk);
  REQUIRE_FALSE(leaves.empty());

  for (const auto& [path, value] : leaves) {
    INFO(path);
    config_result same = load(std::nullopt, {path + "=" + boost::json::serialize(value)});
    INFO(joined(same));
    REQUIRE(same.value);
    CHECK(same_config(*same.value, config::defaults()));

    // No key accepts an array, so each one must report exactly its own error.
    config_result wrong = load(std::nullopt, {path + "=[]"});
    CHECK_FALSE(wrong.value);
    REQUIRE(wrong.errors.size() == 1);
    CHECK(wrong.errors[0].rfind("config: " + path + ": expected ", 0) == 0);
  }
}

TEST_CASE("config: every spelling of a choice key round-trips") {
  const std::pair<const char*, std::vector<const char*>> keys[] = {
    {"services.payment.format", {"seed", "trio"}},
    {"services.notification.retry.jitter", {"none", "full", "equal"}},
    {"supervision.strategy", {"one_for_one", "one_for_all", "rest_for_one"}},
    {"logging.level", {"trace", "debug", "info", "warn", "error"}},
    {"logging.format", {"json", "text"}},
    {"simulator.profile", {"trio", "fast", "down", "hang", "flaky"}},
  };
  for (const auto& [key, spellings] : keys) {
    for (const char* spelling : spellings) {
      const std::string set = std::string(key) + "=" + spelling;
      INFO(set);
      config_result r = load(std::nullopt, {set});
      REQUIRE(r.value);
      temp_file f(print_config(*r.value));
      config_result again = load(f.path());
      REQUIRE(again.value);
      CHECK(same_config(*again.value, *r.value));
      CHECK(print_config(*r.value).find(std::string("\"") + spelling + "\"") != std::string::npos);
    }
  }
}

TEST_CASE("config: no file and no $COFFEESHOP_CONFIG gives the defaults") {
  config_result r = load(std::nullopt);
  INFO(joined(r));
  REQUIRE(r.value);
  CHECK(r.errors.empty());
  CHECK(same_config(*r.value, config::defaults()));
}

TEST_CASE("config: shipped production.json and dapr.json load") {
  config_result prod = load((config_dir() / "production.json").string());
  INFO(joined(prod));
  REQUIRE(prod.value);
  CHECK(prod.value->payment.url ==
        std::optional<std::string>("https://challenge.trio.dev/api/v1/payment"));
  CHECK(prod.value->notification.url ==
        std::optional<std::string>("https://challenge.trio.dev/api/v1/notification"));
  CHECK(prod.value->payment.format == wire_format::trio);
  CHECK(prod.value->notification.format == wire_format::trio);
  CHECK_FALSE(prod.value->simulator.enabled);
  // Production retries on a budget; notifications keep their retries (the outbox has no
  // second chance for a call ended early).
  CHECK(prod.value->payment.retry.budget.ratio == std::optional<double>(0.2));
  CHECK_FALSE(prod.value->notification.retry.budget.ratio);
  CHECK(prod.value->http.threads == 128); // untouched keys keep their defaults

  config_result dapr = load((config_dir() / "dapr.json").string());
  INFO(joined(dapr));
  REQUIRE(dapr.value);
  CHECK(dapr.value->dapr.enabled);
}

TEST_CASE("config: a file with a subset of keys keeps the other defaults") {
  config_result r = load_json(R"({"http": {"threads": 8, "max_inflight_orders": 4},
                                  "services": {"payment": {"retry": {"jitter": "full"}}}})");
  INFO(joined(r));
  REQUIRE(r.value);
  const config& c = *r.value;
  CHECK(c.http.threads == 8);
  CHECK(c.http.max_inflight_orders == 4);
  CHECK(c.http.max_body_bytes == 65536);
  CHECK(c.http.listen_port == 8080);
  CHECK(c.payment.retry.jitter == jitter_mode::full);
  CHECK(c.payment.retry.max_retries == 3);
  CHECK(c.payment.retry.base_delay_ms == 2000);
  CHECK(c.notification.retry.jitter == jitter_mode::none);
  CHECK(c.payment.dapr_app_id == "payment-service");

  config_result empty = load_json("{}");
  REQUIRE(empty.value);
  CHECK(same_config(*empty.value, config::defaults()));
}

TEST_CASE("config: --set overrides by dotted path") {
  SECTION("integer") {
    config_result r = load(std::nullopt, {"services.payment.retry.max_retries=0"});
    REQUIRE(r.value);
    CHECK(r.value->payment.retry.max_retries == 0);
    CHECK(r.value->notification.retry.max_retries == 3);
  }
  SECTION("boolean") {
    config_result r = load(std::nullopt, {"services.notification.retry.honor_retry_after=false",
                                          "dapr.enabled=true"});
    REQUIRE(r.value);
    CHECK_FALSE(r.value->notification.retry.honor_retry_after);
    CHECK(r.value->dapr.enabled);
  }
  SECTION("string, unquoted and quoted") {
    config_result r = load(std::nullopt, {"http.listen=127.0.0.1:9000", "store.path=/var/lib/cs.db",
                                          R"(logging.level="debug")", "menu=menu.json"});
    INFO(joined(r));
    REQUIRE(r.value);
    CHECK(r.value->http.listen_host == "127.0.0.1");
    CHECK(r.value->http.listen_port == 9000);
    CHECK(r.value->store_path == "/var/lib/cs.db");
    CHECK(r.value->logging.level == "debug");
    CHECK(r.value->menu == "menu.json");
  }
  SECTION("null") {
    config_result r = load_json(R"({"admin": {"token": "abc"},
                                    "services": {"payment": {"circuit_breaker": {"failure_ratio": 0.5}}}})",
                                {"admin.token=null",
                                 "services.payment.circuit_breaker.failure_ratio=null"});
    REQUIRE(r.value);
    CHECK_FALSE(r.value->admin_token);
    CHECK_FALSE(r.value->payment.circuit_breaker.failure_ratio);
  }
  SECTION("nested double and url") {
    config_result r = load(std::nullopt, {"services.payment.circuit_breaker.failure_ratio=0.25",
                                          "services.payment.url=http://pay.local:81/p"});
    REQUIRE(r.value);
    CHECK(r.value->payment.circuit_breaker.failure_ratio == Approx(0.25));
    CHECK(r.value->payment.url == std::optional<std::string>("http://pay.local:81/p"));
  }
  SECTION("a whole section as a JSON object merges into it") {
    config_result r = load(std::nullopt,
                           {R"(services.payment.retry={"max_retries":1,"jitter":"equal"})"});
    INFO(joined(r));
    REQUIRE(r.value);
    CHECK(r.value->payment.retry.max_retries == 1);
    CHECK(r.value->payment.retry.jitter == jitter_mode::equal);
    CHECK(r.value->payment.retry.base_delay_ms == 2000);
  }
  SECTION("later overrides win, and overrides win over the file") {
    config_result r = load_json(R"({"http": {"threads": 16, "max_inflight_orders": 8}})",
                                {"http.threads=32", "http.threads=64"});
    REQUIRE(r.value);
    CHECK(r.value->http.threads == 64);
    CHECK(r.value->http.max_inflight_orders == 8);
  }
  SECTION("an empty VALUE is an empty string") {
    config_result r = load(std::nullopt, {"store.path="});
    require_single_error(r, R"(config: store.path: expected a non-empty string, got "")");
  }
}

TEST_CASE("config: unknown keys are errors at every depth") {
  require_single_error(load_json(R"({"htpp": {}})"), "config: htpp: unknown key");
  require_single_error(load_json(R"({"http": {"listne": "1.2.3.4:5"}})"),
                       "config: http.listne: unknown key");
  require_single_error(load_json(R"({"services": {"billing": {}}})"),
                       "config: services.billing: unknown key");
  require_single_error(load_json(R"({"services": {"payment": {"retry": {"max_retrys": 1}}}})"),
                       "config: services.payment.retry.max_retrys: unknown key");
  require_single_error(load_json(
                         R"({"services": {"notification": {"circuit_breaker": {"x": 1}}}})"),
                       "config: services.notification.circuit_breaker.x: unknown key");
  require_single_error(load(std::nullopt, {"http.listne=127.0.0.1:9000"}),
                       "config: http.listne: unknown key");
  require_single_error(load(std::nullopt, {"services.payment.retry.nope=1"}),
                       "config: services.payment.retry.nope: unknown key");
  require_single_error(load(std::nullopt, {"nope.deeper=1"}), "config: nope: unknown key");
  // A leaf has no sub-keys.
  require_single_error(load(std::nullopt, {"http.threads.x=1"}),
                       "config: http.threads.x: unknown key");
  require_single_error(load(std::nullopt, {R"(http={"thread":4})"}),
                       "config: http.thread: unknown key");
}

TEST_CASE("config: wrong types are errors naming key and value") {
  require_single_error(
    load_json(R"({"services": {"payment": {"retry": {"max_retries": "three"}}}})"),
    R"(config: services.payment.retry.max_retries: expected a non-negative integer, got "three")");
  require_single_error(
    load(std::nullopt, {"services.payment.retry.max_retries=three"}),
    R"(config: services.payment.retry.max_retries: expected a non-negative integer, got "three")");
  require_single_error(load_json(R"({"http": {"threads": "8"}})"),
                       R"(config: http.threads: expected a positive integer, got "8")");
  require_single_error(load_json(R"({"http": {"threads": 3.5}})"),
                       "config: http.threads: expected a positive integer, got 3.5");
  require_single_error(load_json(R"({"http": {"threads": true}})"),
                       "config: http.threads: expected a positive integer, got true");
  require_single_error(load_json(R"({"store": {"path": 5}})"),
                       "config: store.path: expected a non-empty string, got 5");
  require_single_error(load_json(R"({"menu": ["a"]})"),
                       R"(config: menu: expected a non-empty string, got ["a"])");
  require_single_error(load_json(R"({"http": [1, 2]})"),
                       "config: http: expected an object, got [1,2]");
  require_single_error(load_json(R"({"services": {"payment": "x"}})"),
                       R"(config: services.payment: expected an object, got "x")");
  require_single_error(load(std::nullopt, {"services.payment.retry=3"}),
                       "config: services.payment.retry: expected an object, got 3");
  require_single_error(load_json(R"({"dapr": {"enabled": "true"}})"),
                       R"(config: dapr.enabled: expected true or false, got "true")");
  require_single_error(load_json(R"({"simulator": {"enabled": 1}})"),
                       "config: simulator.enabled: expected true or false, got 1");
  require_single_error(load_json(R"({"http": {"listen": 8080}})"),
                       "config: http.listen: expected a string HOST:PORT, got 8080");
  require_single_error(
    load_json(R"({"http": {"request_timeout_ms": {"a": 1}}})"),
    R"(config: http.request_timeout_ms: expected a positive integer, got {"a":1})");

  // An integral double is an integer.
  config_result r = load_json(R"({"http": {"threads": 8.0, "max_inflight_orders": 4}})");
  INFO(joined(r));
  REQUIRE(r.value);
  CHECK(r.value->http.threads == 8);
}

TEST_CASE("config: out-of-range values are errors") {
  struct bad_case {
    const char* set;
    const char* error;
  };
  const bad_case cases[] = {
    {"http.threads=0", "config: http.threads: must be in 1..4096, got 0"},
    {"telemetry.max_queue_spans=0",
     "config: telemetry.max_queue_spans: must be in 1..1000000, got 0"},
    {"telemetry.max_queue_spans=1000001",
     "config: telemetry.max_queue_spans: must be in 1..1000000, got 1000001"},
    {"telemetry.otlp_endpoint=localhost:4318",
     "config: telemetry.otlp_endpoint: expected null or a URL starting with http:// or "
     "https://, got \"localhost:4318\""},
    {"http.threads=4097", "config: http.threads: must be in 1..4096, got 4097"},
    {"http.max_body_bytes=0", "config: http.max_body_bytes: must be in 1..67108864, got 0"},
    {"http.max_body_bytes=67108865",
     "config: http.max_body_bytes: must be in 1..67108864, got 67108865"},
    {"http.max_inflight_orders=0",
     "config: http.max_inflight_orders: expected a positive integer, got 0"},
    {"http.request_timeout_ms=0",
     "config: http.request_timeout_ms: expected a positive integer, got 0"},
    {"services.payment.timeout_ms=0",
     "config: services.payment.timeout_ms: expected a positive integer, got 0"},
    {"services.payment.timeout_ms=-5",
     "config: services.payment.timeout_ms: expected a positive integer, got -5"},
    {"services.payment.timeout_ms=86400001",
     "config: services.payment.timeout_ms: must be in 1..86400000, got 86400001"},
    {"services.payment.total_timeout_ms=0",
     "config: services.payment.total_timeout_ms: expected a positive integer, got 0"},
    {"services.payment.max_connections=0",
     "config: services.payment.max_connections: must be in 1..1024, got 0"},
    {"services.payment.max_connections=1025",
     "config: services.payment.max_connections: must be in 1..1024, got 1025"},
    {"services.payment.retry.max_retries=21",
     "config: services.payment.retry.max_retries: must be in 0..20, got 21"},
    {"services.payment.retry.max_retries=-1",
     "config: services.payment.retry.max_retries: must be in 0..20, got -1"},
    {"services.payment.retry.base_delay_ms=-1",
     "config: services.payment.retry.base_delay_ms: expected a non-negative integer, got -1"},
    {"services.payment.retry.jitter=random",
     R"(config: services.payment.retry.jitter: expected one of "none", "full", "equal", got "random")"},
    {"services.payment.retry.honor_retry_after=yes",
     R"(config: services.payment.retry.honor_retry_after: expected true or false, got "yes")"},
    {"services.payment.format=xml",
     R"(config: services.payment.format: expected one of "seed", "trio", got "xml")"},
    {"services.payment.url=ftp://x",
     R"(config: services.payment.url: expected null or a URL starting with http:// or https://, got "ftp://x")"},
    {"services.payment.url=http://",
     R"(config: services.payment.url: expected null or a URL starting with http:// or https://, got "http://")"},
    {"services.notification.url=5",
     "config: services.notification.url: expected null or a URL starting with http:// or https://, got 5"},
    {"services.payment.circuit_breaker.failure_threshold=0",
     "config: services.payment.circuit_breaker.failure_threshold: expected a positive integer, got 0"},
    {"services.payment.circuit_breaker.break_duration_ms=0",
     "config: services.payment.circuit_breaker.break_duration_ms: expected a positive integer, got 0"},
    {"services.payment.circuit_breaker.half_open_max_calls=0",
     "config: services.payment.circuit_breaker.half_open_max_calls: expected a positive integer, got 0"},
    {"services.payment.circuit_breaker.failure_ratio=0",
     "config: services.payment.circuit_breaker.failure_ratio: expected null or a number in (0, 1], got 0"},
    {"services.payment.circuit_breaker.failure_ratio=1.5",
     "config: services.payment.circuit_breaker.failure_ratio: expected null or a number in (0, 1], got 1.5"},
    {"services.payment.circuit_breaker.failure_ratio=half",
     R"(config: services.payment.circuit_breaker.failure_ratio: expected null or a number in (0, 1], got "half")"},
    {"services.notification.circuit_breaker.sampling_window_ms=0",
     "config: services.notification.circuit_breaker.sampling_window_ms: expected a positive integer, got 0"},
    {"services.notification.circuit_breaker.min_throughput=0",
     "config: services.notification.circuit_breaker.min_throughput: expected a positive integer, got 0"},
    {R"(services.payment.dapr_app_id="")",
     R"(config: services.payment.dapr_app_id: expected a non-empty string, got "")"},
    {"services.notification.dapr_method=5",
     "config: services.notification.dapr_method: expected a non-empty string, got 5"},
    {"dapr.http_endpoint=null",
     "config: dapr.http_endpoint: expected a URL starting with http:// or https://, got null"},
    {"dapr.http_endpoint=localhost:3500",
     R"(config: dapr.http_endpoint: expected a URL starting with http:// or https://, got "localhost:3500")"},
    {"supervision.strategy=all",
     R"(config: supervision.strategy: expected one of "one_for_one", "one_for_all", "rest_for_one", got "all")"},
    {"supervision.max_restarts=-1",
     "config: supervision.max_restarts: expected a non-negative integer, got -1"},
    {"supervision.within_ms=0",
     "config: supervision.within_ms: expected a positive integer, got 0"},
    {"supervision.restart_delay_ms=-1",
     "config: supervision.restart_delay_ms: expected a non-negative integer, got -1"},
    {R"(store.path="")", R"(config: store.path: expected a non-empty string, got "")"},
    {"logging.level=verbose",
     R"(config: logging.level: expected one of "trace", "debug", "info", "warn", "error", got "verbose")"},
    {"logging.format=xml", R"(config: logging.format: expected one of "json", "text", got "xml")"},
    {"shutdown.drain_timeout_ms=-1",
     "config: shutdown.drain_timeout_ms: expected a non-negative integer, got -1"},
    {R"(admin.token="")", "config: admin.token: expected null or a non-empty string"},
    {"admin.token=true", "config: admin.token: expected null or a non-empty string"},
    {"simulator.profile=sluggish",
     R"(config: simulator.profile: expected one of "trio", "fast", "down", "hang", "flaky", "slow", got "sluggish")"},
    {"services.payment.retry.budget.ratio=0",
     "config: services.payment.retry.budget.ratio: expected null or a number in (0, 1], got 0"},
    {"services.payment.retry.budget.ratio=1.2",
     "config: services.payment.retry.budget.ratio: expected null or a number in (0, 1], got 1.2"},
    {"services.payment.retry.budget.min_per_second=-1",
     "config: services.payment.retry.budget.min_per_second: must be in 0..1000000, got -1"},
    {"services.notification.retry.budget.window_ms=999",
     "config: services.notification.retry.budget.window_ms: must be in 1000..86400000, got 999"},
    {"services.payment.adaptive_concurrency.enabled=1",
     "config: services.payment.adaptive_concurrency.enabled: expected true or false, got 1"},
    {"services.payment.adaptive_concurrency.min_limit=0",
     "config: services.payment.adaptive_concurrency.min_limit: must be in 1..1024, got 0"},
    {"services.payment.adaptive_concurrency.initial_limit=1",
     "config: services.payment.adaptive_concurrency.initial_limit: must be at least "
     "services.payment.adaptive_concurrency.min_limit (2), got 1"},
    {R"(menu="")", R"(config: menu: expected a non-empty string, got "")"},
    {"http.threads=18446744073709551615",
     "config: http.threads: must be in 1..4096, got 18446744073709551615"},
    {"http.threads=1e20", "config: http.threads: must be in 1..4096, got 1e+20"},
  };
  for (const auto& c : cases) {
    INFO("--set " << c.set);
    require_single_error(load(std::nullopt, {c.set}), c.error);
  }

  // The edges of each range are accepted.
  config_result edges =
    load(std::nullopt,
         {"http.threads=4096", "http.max_body_bytes=67108864", "http.max_inflight_orders=1",
          "services.payment.retry.max_retries=20", "services.notification.retry.max_retries=0",
          "services.payment.retry.base_delay_ms=0", "services.payment.max_connections=1024",
          "services.payment.circuit_breaker.failure_ratio=1", "shutdown.drain_timeout_ms=0",
          "services.payment.retry.budget.ratio=1", "services.payment.retry.budget.min_per_second=0",
          "services.payment.retry.budget.window_ms=1000",
          "services.payment.adaptive_concurrency.min_limit=1024",
          "services.payment.adaptive_concurrency.initial_limit=1024", "supervision.max_restarts=0",
          "supervision.restart_delay_ms=0", "http.listen=0.0.0.0:0", "admin.token=t"});
  INFO(joined(edges));
  REQUIRE(edges.value);
  CHECK(edges.value->payment.circuit_breaker.failure_ratio == Approx(1.0));
  CHECK(edges.value->http.listen_port == 0);
}

TEST_CASE("config: an enabled adaptive limit must fit below max_connections") {
  require_single_error(load(std::nullopt,
                            {"services.payment.adaptive_concurrency.enabled=true",
                             "services.payment.adaptive_concurrency.initial_limit=33"}),
                       "config: services.payment.adaptive_concurrency.initial_limit: must be at "
                       "most services.payment.max_connections (32), got 33");
  config_result both = load(std::nullopt,
                            {"services.notification.adaptive_concurrency.enabled=true",
                             "services.notification.max_connections=4"});
  INFO(joined(both));
  CHECK(both.errors.size() == 1); // min_limit 2 fits, initial_limit 16 does not
  CHECK(has_error(both, "config: services.notification.adaptive_concurrency.initial_limit: must "
                        "be at most services.notification.max_connections (4), got 16"));
  config_result floor = load(std::nullopt,
                             {"services.notification.adaptive_concurrency.enabled=true",
                              "services.notification.max_connections=4",
                              "services.notification.adaptive_concurrency.min_limit=5",
                              "services.notification.adaptive_concurrency.initial_limit=5"});
  CHECK(has_error(floor, "config: services.notification.adaptive_concurrency.min_limit: must "
                         "be at most services.notification.max_connections (4), got 5"));
  // Off, the defaults of the limit do not constrain a small bulkhead.
  config_result off = load(std::nullopt, {"services.payment.max_connections=4"});
  INFO(joined(off));
  CHECK(off.value);
}

TEST_CASE("config: max_inflight_orders must be below threads") {
  require_single_error(
    load(std::nullopt, {"http.max_inflight_orders=128"}),
    "config: http.max_inflight_orders: must be below http.threads (128), got 128");
  require_single_error(load(std::nullopt, {"http.threads=64"}),
                       "config: http.max_inflight_orders: must be below http.threads (64), got 96");
  config_result ok = load(std::nullopt, {"http.threads=4", "http.max_inflight_orders=3"});
  REQUIRE(ok.value);
  CHECK(ok.value->http.max_inflight_orders == 3);
}

TEST_CASE("config: ordered limits (total >= timeout, max delay >= base delay)") {
  require_single_error(load(std::nullopt, {"services.payment.total_timeout_ms=5000"}),
                       "config: services.payment.total_timeout_ms: must be at least "
                       "services.payment.timeout_ms (10000), got 5000");
  require_single_error(load(std::nullopt, {"services.notification.retry.max_delay_ms=1000"}),
                       "config: services.notification.retry.max_delay_ms: must be at least "
                       "services.notification.retry.base_delay_ms (2000), got 1000");
  require_single_error(load(std::nullopt, {"supervision.max_restart_delay_ms=50"}),
                       "config: supervision.max_restart_delay_ms: must be at least "
                       "supervision.restart_delay_ms (100), got 50");
  config_result equal = load(std::nullopt, {"services.payment.total_timeout_ms=10000"});
  REQUIRE(equal.value);
  CHECK(equal.value->payment.total_timeout_ms == 10000);
}

TEST_CASE("config: bad http.listen values") {
  require_single_error(load(std::nullopt, {"http.listen=127.0.0.1"}),
                       R"(config: http.listen: expected HOST:PORT, got "127.0.0.1")");
  require_single_error(
    load(std::nullopt, {"http.listen=127.0.0.1:70000"}),
    R"(config: http.listen: port must be an integer in 0..65535, got "127.0.0.1:70000")");
  require_single_error(load(std::nullopt, {"http.listen=:8080"}),
                       R"(config: http.listen: host must not be empty, got ":8080")");
  require_single_error(
    load(std::nullopt, {"http.listen=127.0.0.1:"}),
    R"(config: http.listen: port must be an integer in 0..65535, got "127.0.0.1:")");
  require_single_error(
    load(std::nullopt, {"http.listen=localhost:http"}),
    R"(config: http.listen: port must be an integer in 0..65535, got "localhost:http")");
  require_single_error(
    load(std::nullopt, {"http.listen=127.0.0:80"}),
    R"(config: http.listen: host must be an IPv4 address, a host name or [IPv6], got "127.0.0:80")");
  require_single_error(
    load(std::nullopt, {"http.listen=my host:80"}),
    R"(config: http.listen: host must be an IPv4 address, a host name or [IPv6], got "my host:80")");
}

TEST_CASE("config: parse_listen_address and format_listen_address") {
  std::string error;
  auto a = parse_listen_address("localhost:9000", error);
  REQUIRE(a);
  CHECK(a->host == "localhost");
  CHECK(a->port == 9000);
  auto b = parse_listen_address("[::1]:8080", error);
  REQUIRE(b);
  CHECK(b->host == "::1");
  CHECK(format_listen_address(b->host, b->port) == "[::1]:8080");
  auto c = parse_listen_address("0.0.0.0:65535", error);
  REQUIRE(c);
  CHECK(c->port == 65535);
  CHECK(format_listen_address("0.0.0.0", 0) == "0.0.0.0:0");
  CHECK_FALSE(parse_listen_address("::1:8080", error)); // IPv6 needs brackets
  CHECK_FALSE(parse_listen_address("[]:80", error));
  CHECK_FALSE(parse_listen_address("256.1.1.1:80", error));
  CHECK_FALSE(parse_listen_address("host:-1", error));
  CHECK_FALSE(parse_listen_address("host:123456", error));
  CHECK(error == "port must be an integer in 0..65535");
}

TEST_CASE("config: a null url with the simulator off is an error") {
  config_result r = load(std::nullopt, {"simulator.enabled=false"});
  INFO(joined(r));
  CHECK_FALSE(r.value);
  CHECK(r.errors.size() == 2);
  CHECK(has_error(
    r, "config: services.payment.url: required when simulator.enabled and dapr.enabled are false"));
  CHECK(has_error(
    r,
    "config: services.notification.url: required when simulator.enabled and dapr.enabled are false"));

  require_single_error(
    load(std::nullopt, {"simulator.enabled=false", "services.payment.url=https://pay.example/x"}),
    "config: services.notification.url: required when simulator.enabled and dapr.enabled are false");

  config_result ok = load(std::nullopt,
                          {"simulator.enabled=false", "services.payment.url=https://pay.example/x",
                           "services.notification.url=http://note.example/y"});
  INFO(joined(ok));
  REQUIRE(ok.value);
  CHECK(ok.value->notification.url == std::optional<std::string>("http://note.example/y"));
}

TEST_CASE("config: Dapr mode needs no service url with the simulator off") {
  config_result r = load(std::nullopt, {"simulator.enabled=false", "dapr.enabled=true"});
  INFO(joined(r));
  REQUIRE(r.value);
  CHECK_FALSE(r.value->payment.url);
}

TEST_CASE("config: all errors are reported together") {
  config_result r = load_json(R"({
    "http": {"threads": 0, "listne": "x"},
    "services": {"payment": {"retry": {"max_retries": "three", "jitter": "lots"}}},
    "logging": {"level": "loud"}
  })",
                              {"store.path=", "bogus=1"});
  INFO(joined(r));
  CHECK_FALSE(r.value);
  CHECK(r.errors.size() == 7);
  CHECK(has_error(r, "config: http.listne: unknown key"));
  CHECK(has_error(r, "config: bogus: unknown key"));
  CHECK(has_error(r, "config: http.threads: must be in 1..4096, got 0"));
  CHECK(has_error(
    r,
    R"(config: services.payment.retry.max_retries: expected a non-negative integer, got "three")"));
  CHECK(has_error(
    r,
    R"(config: services.payment.retry.jitter: expected one of "none", "full", "equal", got "lots")"));
  CHECK(has_error(
    r,
    R"(config: logging.level: expected one of "trace", "debug", "info", "warn", "error", got "loud")"));
  CHECK(has_error(r, R"(config: store.path: expected a non-empty string, got "")"));
}

TEST_CASE("config: unreadable or invalid files") {
  const std::string missing =
    (fs::temp_directory_path() / "coffeeshop-config-test-missing.json").string();
  require_single_error(load(missing),
                       "config: " + missing + ": cannot read: No such file or directory");

  const std::string dir = fs::temp_directory_path().string();
  config_result d = load(dir);
  CHECK_FALSE(d.value);
  REQUIRE(d.errors.size() == 1);
  CHECK(d.errors[0].rfind("config: " + dir + ": cannot read: ", 0) == 0);

  temp_file bad("{\n  \"http\": {\n    \"threads\": 8,,\n  }\n}\n");
  config_result b = load(bad.path());
  CHECK_FALSE(b.value);
  REQUIRE(b.errors.size() == 1);
  CHECK(b.errors[0].rfind("config: " + bad.path() + ": invalid JSON at line 3: ", 0) == 0);

  temp_file truncated("{\n  \"http\": {\n");
  config_result t = load(truncated.path());
  REQUIRE(t.errors.size() == 1);
  CHECK(t.errors[0].rfind("config: " + truncated.path() + ": invalid JSON at line ", 0) == 0);

  temp_file empty("");
  config_result e = load(empty.path());
  REQUIRE(e.errors.size() == 1);
  CHECK(e.errors[0].rfind("config: " + empty.path() + ": invalid JSON at line 1: ", 0) == 0);

  temp_file trailing("{}\n{}\n");
  config_result tr = load(trailing.path());
  REQUIRE(tr.errors.size() == 1);
  CHECK(tr.errors[0].rfind("config: " + trailing.path() + ": invalid JSON at line 2: ", 0) == 0);

  temp_file array("[1, 2]");
  require_single_error(load(array.path()),
                       "config: " + array.path() +
                         ": expected a JSON object at the top level, got [1,2]");

  // A broken file does not hide the problems of the overrides.
  config_result both = load(missing, {"http.threads=0"});
  CHECK(both.errors.size() == 2);
  CHECK(has_error(both, "config: http.threads: must be in 1..4096, got 0"));
}

TEST_CASE("config: malformed --set arguments") {
  require_single_error(load(std::nullopt, {"http.threads"}),
                       R"(config: --set "http.threads": expected KEY=VALUE)");
  require_single_error(load(std::nullopt, {"=5"}), R"(config: --set "=5": expected KEY=VALUE)");
  require_single_error(load(std::nullopt, {"http..threads=5"}),
                       "config: http..threads: invalid key path");
  require_single_error(load(std::nullopt, {".http=5"}), "config: .http: invalid key path");
}

TEST_CASE("config: print_config masks the token and round-trips through load") {
  config_result r = load(std::nullopt, {"admin.token=s3cret", "http.listen=0.0.0.0:9090",
                                        "http.threads=16", "http.max_inflight_orders=8",
                                        "services.payment.url=https://pay.example/p",
                                        "services.payment.format=trio",
                                        "services.payment.circuit_breaker.failure_ratio=0.25",
                                        "services.notification.retry.jitter=equal",
                                        "supervision.strategy=rest_for_one", "logging.format=text",
                                        "logging.level=warn", "simulator.profile=flaky",
                                        "menu=/etc/menu.json", "dapr.enabled=true"});
  INFO(joined(r));
  REQUIRE(r.value);
  const std::string printed = print_config(*r.value);
  CHECK(printed.find("s3cret") == std::string::npos);
  CHECK(printed.find(R"("token": "***")") != std::string::npos);
  CHECK(printed.find(R"("listen": "0.0.0.0:9090")") != std::string::npos);
  CHECK(printed.find(R"("failure_ratio": 0.25)") != std::string::npos);
  CHECK(printed.rfind("{\n  \"http\": {\n    \"listen\"", 0) == 0); // 2-space indent

  // print -> file -> load gives the same effective config (the token reads back as "***").
  temp_file f(printed);
  config_result again = load(f.path());
  INFO(joined(again));
  REQUIRE(again.value);
  CHECK(print_config(*again.value) == printed);
  CHECK(again.value->admin_token == std::optional<std::string>("***"));
  config expected = *r.value;
  expected.admin_token = "***";
  CHECK(same_config(*again.value, expected));
  CHECK(again.value->payment.circuit_breaker.failure_ratio == Approx(0.25));
  CHECK(again.value->supervision.strategy == restart_strategy::rest_for_one);

  // Without a token it stays null.
  CHECK(print_config(config::defaults()).find(R"("token": null)") != std::string::npos);

  // A round trip of the defaults is exact.
  temp_file g(print_config(config::defaults()));
  config_result d = load(g.path());
  REQUIRE(d.value);
  CHECK(same_config(*d.value, config::defaults()));
}

TEST_CASE("config: $COFFEESHOP_CONFIG is used when there is no --config") {
  temp_file env_file(R"({"http": {"threads": 8, "max_inflight_orders": 2}})");
  temp_file cli_file(R"({"http": {"threads": 12, "max_inflight_orders": 2}})");
  {
    env_guard env(env_file.path().c_str());
    config_result r = load_config(std::nullopt, {});
    INFO(joined(r));
    REQUIRE(r.value);
    CHECK(r.value->http.threads == 8);

    config_result with_set = load_config(std::nullopt, {"http.threads=9"});
    REQUIRE(with_set.value);
    CHECK(with_set.value->http.threads == 9);

    config_result explicit_file = load_config(cli_file.path(), {});
    REQUIRE(explicit_file.value);
    CHECK(explicit_file.value->http.threads == 12);
  }
  {
    const std::string missing =
      (fs::temp_directory_path() / "coffeeshop-config-test-nope.json").string();
    env_guard env(missing.c_str());
    config_result r = load_config(std::nullopt, {});
    require_single_error(r, "config: " + missing + ": cannot read: No such file or directory");
  }
  {
    env_guard env(""); // set but empty: as if unset
    config_result r = load_config(std::nullopt, {});
    REQUIRE(r.value);
    CHECK(same_config(*r.value, config::defaults()));
  }
}

TEST_CASE("config: parse_cli") {
  std::string error;
  SECTION("no arguments") {
    auto o = cli({}, error);
    REQUIRE(o);
    CHECK_FALSE(o->config_file);
    CHECK(o->overrides.empty());
    CHECK_FALSE(o->check_config);
    CHECK_FALSE(o->print_config);
    CHECK_FALSE(o->version);
    CHECK_FALSE(o->help);
  }
  SECTION("every option, both spellings") {
    auto o = cli({"--config", "a.json", "--set", "http.threads=4", "--set=http.listen=1.2.3.4:5",
                  "--check-config", "--print-config", "--version", "--help"},
                 error);
    INFO(error);
    REQUIRE(o);
    CHECK(o->config_file == std::optional<std::string>("a.json"));
    CHECK(o->overrides == std::vector<std::string>{"http.threads=4", "http.listen=1.2.3.4:5"});
    CHECK(o->check_config);
    CHECK(o->print_config);
    CHECK(o->version);
    CHECK(o->help);
  }
  SECTION("--config=FILE") {
    auto o = cli({"--config=/etc/coffeeshop/production.json"}, error);
    REQUIRE(o);
    CHECK(o->config_file == std::optional<std::string>("/etc/coffeeshop/production.json"));
  }
  SECTION("-h is --help") {
    auto o = cli({"-h"}, error);
    REQUIRE(o);
    CHECK(o->help);
  }
  SECTION("unknown option") {
    CHECK_FALSE(cli({"--foo"}, error));
    CHECK(error == "unknown option --foo");
    CHECK_FALSE(cli({"--foo=1"}, error));
    CHECK(error == "unknown option --foo");
    CHECK_FALSE(cli({"-x"}, error));
    CHECK(error == "unknown option -x");
  }
  SECTION("missing or malformed arguments") {
    CHECK_FALSE(cli({"--set"}, error));
    CHECK(error == "--set needs KEY=VALUE");
    CHECK_FALSE(cli({"--set", "http.threads"}, error));
    CHECK(error == "--set needs KEY=VALUE");
    CHECK_FALSE(cli({"--set="}, error));
    CHECK(error == "--set needs KEY=VALUE");
    CHECK_FALSE(cli({"--config"}, error));
    CHECK(error == "--config needs FILE");
    CHECK_FALSE(cli({"--config="}, error));
    CHECK(error == "--config needs FILE");
    CHECK_FALSE(cli({"--config", "--check-config"}, error));
    CHECK(error == "--config needs FILE");
    CHECK_FALSE(cli({"--config", "a", "--config", "b"}, error));
    CHECK(error == "--config given more than once");
    CHECK_FALSE(cli({"--check-config=yes"}, error));
    CHECK(error == "--check-config takes no value");
    CHECK_FALSE(cli({"extra"}, error));
    CHECK(error == "unexpected argument extra");
  }
  SECTION("--set VALUE may be empty or contain '='") {
    auto o = cli({"--set", "admin.token=a=b", "--set", "store.path="}, error);
    REQUIRE(o);
    CHECK(o->overrides == std::vector<std::string>{"admin.token=a=b", "store.path="});
  }
}

TEST_CASE("config: help_text documents options, lookup order and exit codes") {
  const std::string h = help_text();
  CHECK(h.rfind("Usage: coffeeshopd", 0) == 0);
  for (const char* needle :
       {"--config FILE", "--set KEY=VALUE", "--check-config", "--print-config", "--version",
        "--help", "COFFEESHOP_CONFIG", "config/coffeeshop.json", "0  clean shutdown",
        "1  fatal runtime error", "2  usage or config error"}) {
    INFO(needle);
    CHECK(h.find(needle) != std::string::npos);
  }
}

TEST_CASE("config: connection and head limits (issue 12)") {
  require_single_error(load(std::nullopt, {"http.threads=8", "http.max_inflight_orders=4",
                                           "http.max_connections=8"}),
                       "config: http.max_connections: must be below http.threads (8), got 8");
  require_single_error(load(std::nullopt, {"http.max_headers=0"}),
                       "config: http.max_headers: must be in 1..10000, got 0");
  require_single_error(load(std::nullopt, {"http.max_header_bytes=100"}),
                       "config: http.max_header_bytes: must be in 1024..1048576, got 100");
  require_single_error(load(std::nullopt, {"http.read_timeout_ms=0"}),
                       "config: http.read_timeout_ms: expected a positive integer, got 0");
  config_result ok = load(std::nullopt, {"http.threads=8", "http.max_inflight_orders=4",
                                         "http.max_connections=6"});
  REQUIRE(ok.value);
  CHECK(connection_cap(ok.value->http) == 6);
  // 0: threads minus a reserve of threads/16, at least one.
  http_settings h;
  CHECK(connection_cap(h) == 120);
  h.threads = 8;
  CHECK(connection_cap(h) == 7);
  h.threads = 1;
  CHECK(connection_cap(h) == 1);
}

TEST_CASE("config: circuit_breaker.max_break_ms defaults to five breaks") {
  config_result d = load(std::nullopt, {});
  REQUIRE(d.value);
  CHECK_FALSE(d.value->payment.circuit_breaker.max_break_ms);
  CHECK(max_break(d.value->payment.circuit_breaker) == 150000);
  config_result set = load(std::nullopt, {"services.payment.circuit_breaker.max_break_ms=60000"});
  REQUIRE(set.value);
  CHECK(max_break(set.value->payment.circuit_breaker) == 60000);
  require_single_error(
    load(std::nullopt, {"services.payment.circuit_breaker.max_break_ms=86400001"}),
    "config: services.payment.circuit_breaker.max_break_ms: must be in 1..86400000, got "
    "86400001");
  config_result null_again =
    load(std::nullopt, {"services.payment.circuit_breaker.max_break_ms=60000",
                        "services.payment.circuit_breaker.max_break_ms=null"});
  REQUIRE(null_again.value);
  CHECK_FALSE(null_again.value->payment.circuit_breaker.max_break_ms);
}

TEST_CASE("config: store.url, store.pool_size and instance.*") {
  SECTION("the postgres backend needs a URL, which a bad value is not echoed back as") {
    require_single_error(load(std::nullopt, {"store.backend=postgres"}),
                         R"(config: store.url: required when store.backend is "postgres")");
    require_single_error(
      load(std::nullopt, {"store.url=mysql://app:s3cret@db/x"}),
      "config: store.url: expected null or a URI starting with postgresql:// or postgres://");
    require_single_error(
      load(std::nullopt, {"store.url=5"}),
      "config: store.url: expected null or a URI starting with postgresql:// or postgres://");
    require_single_error(
      load(std::nullopt, {R"(store.url="postgresql://a b@db/x")"}),
      "config: store.url: expected null or a URI starting with postgresql:// or postgres://");
  }
  SECTION("ranges") {
    require_single_error(load(std::nullopt, {"store.pool_size=1"}),
                         "config: store.pool_size: must be in 2..64, got 1");
    require_single_error(load(std::nullopt, {"store.pool_size=65"}),
                         "config: store.pool_size: must be in 2..64, got 65");
    require_single_error(load(std::nullopt, {"instance.lease_ms=299"}),
                         "config: instance.lease_ms: must be in 300..86400000, got 299");
    require_single_error(load(std::nullopt, {R"(instance.id="")"}),
                         R"(config: instance.id: expected null or a non-empty string, got "")");
  }
  SECTION("a valid set, printed without the password and loaded back") {
    config_result r =
      load(std::nullopt, {"store.backend=postgres",
                          "store.url=postgresql://app:s3cret@db.example:5432/shop?sslmode=require",
                          "store.pool_size=8", "instance.id=shop-1", "instance.lease_ms=5000"});
    INFO(joined(r));
    REQUIRE(r.value);
    CHECK(r.value->store.backend == store_backend::postgres);
    CHECK(r.value->store.url == "postgresql://app:s3cret@db.example:5432/shop?sslmode=require");
    CHECK(r.value->store.pool_size == 8);
    CHECK(r.value->instance.id == "shop-1");
    CHECK(r.value->instance.lease_ms == 5000);
    const std::string printed = print_config(*r.value);
    CHECK(printed.find("s3cret") == std::string::npos);
    CHECK(printed.find(R"("url": "postgresql://app:***@db.example:5432/shop?sslmode=require")") !=
          std::string::npos);
    temp_file f(printed);
    config_result again = load(f.path());
    INFO(joined(again));
    REQUIRE(again.value);
    CHECK(again.value->instance.id == "shop-1");
  }
  SECTION("defaults") {
    const config d = config::defaults();
    CHECK_FALSE(d.store.url);
    CHECK(d.store.pool_size == 4);
    CHECK_FALSE(d.instance.id);
    CHECK(d.instance.lease_ms == 15000);
  }
}
