// Unit tests of what a config reload (SIGHUP) applies at run time and what waits for a
// restart, and of the live settings the HTTP layer and actors read.

#include "coffeeshop/config_reload.hpp"
#include "coffeeshop/live_settings.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

using namespace coffeeshop;

namespace {

config loaded_with(std::vector<std::string> overrides) {
  auto r = load_config(std::nullopt, overrides);
  INFO((r.errors.empty() ? std::string{} : r.errors.front()));
  REQUIRE(r.value);
  return *r.value;
}

} // namespace

TEST_CASE("config reload: run-time keys apply and the rest is named as needing a restart",
          "[config][reload]") {
  auto running = loaded_with({"admin.token=old-token"});
  auto loaded = loaded_with({"logging.level=debug", "admin.token=new-token",
                             "services.payment.retry.max_retries=1",
                             "services.payment.timeout_ms=2500",
                             "services.notification.max_connections=8",
                             "services.notification.circuit_breaker.failure_threshold=7",
                             "services.payment.adaptive_concurrency.enabled=true",
                             "http.threads=200", "store.backend=memory",
                             "services.payment.url=http://127.0.0.1:1/pay"});
  auto plan = plan_reload(running, loaded);
  REQUIRE(plan.errors.empty());
  REQUIRE(plan.next);

  std::vector<std::string> applied = plan.applied, restart = plan.needs_restart;
  std::sort(applied.begin(), applied.end());
  std::sort(restart.begin(), restart.end());
  CHECK(applied == std::vector<std::string>{
                     "admin.token", "logging.level",
                     "services.notification.circuit_breaker.failure_threshold",
                     "services.notification.max_connections",
                     "services.payment.adaptive_concurrency.enabled",
                     "services.payment.retry.max_retries", "services.payment.timeout_ms"});
  CHECK(restart ==
        std::vector<std::string>{"http.threads", "services.payment.url", "store.backend"});

  const config& next = *plan.next;
  CHECK(next.logging.level == "debug");
  CHECK(next.admin_token == std::optional<std::string>{"new-token"});
  CHECK(next.payment.retry.max_retries == 1);
  CHECK(next.payment.timeout_ms == 2500);
  CHECK(next.payment.adaptive_concurrency.enabled);
  CHECK(next.notification.max_connections == 8);
  CHECK(next.notification.circuit_breaker.failure_threshold == 7);
  // What needs a restart keeps its running value.
  CHECK(next.http.threads == running.http.threads);
  CHECK(next.store.backend == running.store.backend);
  CHECK_FALSE(next.payment.url);
}

TEST_CASE("config reload: an unchanged config changes nothing", "[config][reload]") {
  auto running = loaded_with({"services.payment.retry.max_retries=2"});
  auto plan = plan_reload(running, running);
  REQUIRE(plan.next);
  CHECK(plan.applied.empty());
  CHECK(plan.needs_restart.empty());
}

TEST_CASE("config reload: a removed admin token is a change that applies", "[config][reload]") {
  auto plan = plan_reload(loaded_with({"admin.token=secret"}), loaded_with({}));
  REQUIRE(plan.next);
  CHECK(plan.applied == std::vector<std::string>{"admin.token"});
  CHECK_FALSE(plan.next->admin_token);
}

TEST_CASE("live settings: a replacement takes the run-time settings and keeps each service's "
          "address and format",
          "[config][reload]") {
  auto start = loaded_with({"services.payment.url=http://127.0.0.1:1/pay",
                            "services.payment.format=trio", "admin.token=a"});
  live_settings live{start};
  CHECK(live.version() == 0);
  CHECK(live.admin_token() == std::optional<std::string>{"a"});

  auto next = loaded_with({"services.payment.url=http://127.0.0.1:2/other",
                           "services.payment.retry.max_retries=0",
                           "services.notification.timeout_ms=1234"});
  live.replace(next);
  CHECK(live.version() == 1);
  auto pay = live.service(service_kind::payment);
  CHECK(pay.retry.max_retries == 0);
  CHECK(pay.url == std::optional<std::string>{"http://127.0.0.1:1/pay"});
  CHECK(pay.format == wire_format::trio);
  CHECK(live.service(service_kind::notification).timeout_ms == 1234);
  CHECK_FALSE(live.admin_token());
}
