// Self-checks of the e2e harness (process control, output capture, failure reporting).

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

using namespace coffeeshop::e2e;

TEST_CASE("harness: process captures stdout and stderr and reports the exit status",
          "[e2e][harness]") {
  process p("/bin/sh",
            {"-c", "echo '{\"msg\":\"hello\",\"n\":1}'; echo plain; echo oops >&2; exit 3"});
  auto st = p.wait_exit(10s);
  REQUIRE(st.has_value());
  CHECK(*st == 3);
  CHECK(p.stdout_text() == "{\"msg\":\"hello\",\"n\":1}\nplain\n");
  CHECK(p.stderr_text() == "oops\n");
  CHECK(p.output().find("oops") != std::string::npos);
  auto lines = p.json_lines();
  REQUIRE(lines.size() == 1);
  CHECK(p.log_lines("hello").size() == 1);
  CHECK(p.wait_exit(1ms) == st); // stays reaped
}

TEST_CASE("harness: wait_exit times out on a running process and signals and env work",
          "[e2e][harness]") {
  process p("/bin/sh",
            {"-c", "echo \"$E2E_HARNESS_VAR${COFFEESHOP_CONFIG:-unset}\"; exec sleep 30"},
            {{"E2E_HARNESS_VAR", "v-"}});
  CHECK(eventually([&] { return p.stdout_text() == "v-unset\n"; }));
  CHECK(!p.wait_exit(50ms).has_value());
  CHECK(p.running());
  p.signal(SIGTERM);
  auto st = p.wait_exit(10s);
  REQUIRE(st.has_value());
  CHECK(*st == 128 + SIGTERM);
  CHECK(!p.running());
}

TEST_CASE("harness: a missing executable exits 127 and wait_listening reports early exits",
          "[e2e][harness]") {
  process missing("/nonexistent/binary", {});
  auto st = missing.wait_exit(10s);
  REQUIRE(st.has_value());
  CHECK(*st == 127);

  process quits("/bin/sh", {"-c", "echo not listening; exit 1"});
  CHECK_THROWS_WITH(quits.wait_listening(10s), Catch::Contains("not listening"));

  process silent("/bin/sh", {"-c", "exec sleep 30"});
  CHECK_THROWS_WITH(silent.wait_listening(100ms), Catch::Contains("did not log"));
}

TEST_CASE("harness: start_daemon reports a config error with the daemon's output",
          "[e2e][harness]") {
  CHECK_THROWS_WITH(start_daemon({"http.threads=\"x\""}), Catch::Contains("http.threads"));
}

TEST_CASE("harness: simulator control helpers", "[e2e][harness]") {
  auto sim = start_sim("fast");
  CHECK(sim.port > 0);
  auto r =
    request(sim.port, "POST", "/api/v1/payment",
            R"({"orderId":"o1","amount":4.5,"currency":"USD","paymentMethod":"credit_card"})",
            {{"Idempotency-Key", "o1"}});
  CHECK(r.status == 200);
  CHECK(sim.requests("payment").size() == 1);
  CHECK(sim.requests("notification").empty());
  CHECK(num(sim.ledger().at("charges")) == 1);
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 503}, {"retryAfter", 2}});
  auto failed = request(sim.port, "POST", "/api/v1/payment", R"({"value":1})");
  CHECK(failed.status == 503);
  CHECK(failed.header("retry-after") == "2");
  sim.reset_behavior();
  CHECK(request(sim.port, "POST", "/api/v1/payment", R"({"value":1})").status == 200);
  sim.clear();
  CHECK(sim.requests().empty());
  CHECK_THROWS(sim.set_behavior({{"bogus", 1}}));
  // A request to a closed port reports a transport error, not an exception.
  auto port = sim.port;
  sim.proc.signal(SIGTERM);
  REQUIRE(sim.proc.wait_exit(10s) == 0);
  auto gone = request(port, "GET", "/_sim/ledger");
  CHECK(gone.status == 0);
  CHECK(!gone.error.empty());
}
