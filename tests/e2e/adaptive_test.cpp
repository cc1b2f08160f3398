// The retry budget and the adaptive concurrency limit against real simulator processes,
// counting the requests the simulator saw with each feature off and on.

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

/// The value of the metric line that starts with `series` (0 when absent).
double metric(const daemon_process& d, const std::string& series) {
  auto body = d.get("/metrics").body;
  auto at = body.find("\n" + series + " ");
  return at == std::string::npos ? 0.0 : std::stod(body.substr(at + series.size() + 2));
}

} // namespace

TEST_CASE("adaptive: on a flaky payment service the retry budget caps the retries the "
          "simulator sees",
          "[e2e][adaptive]") {
  auto sim = start_sim("flaky"); // payment: 50 % of attempts fail with 500
  std::vector<std::string> quick = {"services.payment.retry.base_delay_ms=10",
                                    "services.payment.retry.max_delay_ms=40",
                                    "services.payment.circuit_breaker.failure_threshold=1000"};
  struct run {
    std::size_t requests = 0;
    int failed_orders = 0;
    json::object view; // /api/v1/integrations .payment
    double suppressed_metric = 0;
    std::size_t suppressed_events = 0;
  };
  auto run_orders = [&](std::vector<std::string> sets) {
    sim.clear();
    sets.insert(sets.end(), quick.begin(), quick.end());
    auto d = daemon_for(sim, sets);
    run out;
    for (int i = 0; i < 40; ++i) {
      auto r = d.create_order(order_body());
      INFO(r.status << " " << r.body);
      REQUIRE((r.status == 201 || r.status == 502));
      out.failed_orders += r.status == 502;
    }
    out.requests = sim.requests("payment").size();
    out.view = d.get("/api/v1/integrations").json.at("payment").as_object();
    out.suppressed_metric =
      metric(d, R"(coffeeshop_integration_retries_suppressed_total{service="payment"})");
    out.suppressed_events = count_events(events_with(d, "service=payment", "retry_suppressed"),
                                         "retry_suppressed");
    return out;
  };

  auto off = run_orders({});
  auto on = run_orders(
    {"services.payment.retry.budget.ratio=0.2", "services.payment.retry.budget.min_per_second=0"});
  INFO("without a budget: " << off.requests << " requests, " << off.failed_orders
                            << " failed orders; with 0.2: " << on.requests << " requests, "
                            << on.failed_orders << " failed orders");
  // Off: 40 first attempts and up to 3 retries for each failed one (~75 in all).
  CHECK(off.requests > 48);
  CHECK(off.view.at("calls").at("retriesSuppressed").as_int64() == 0);
  CHECK_FALSE(off.view.at("retryBudget").at("enabled").as_bool());
  // On: 40 first attempts allow 8 retries, and there is no floor.
  CHECK(on.requests >= 40);
  CHECK(on.requests <= 48);
  auto suppressed = on.view.at("calls").at("retriesSuppressed").as_int64();
  CHECK(suppressed > 0);
  CHECK(suppressed <= on.failed_orders); // each suppressed retry ended its order
  CHECK(on.view.at("retryBudget").at("enabled").as_bool());
  CHECK(on.suppressed_metric == static_cast<double>(suppressed));
  CHECK(on.suppressed_events == static_cast<std::size_t>(suppressed));
}

TEST_CASE("adaptive: on a slow payment service the adaptive limit lowers the concurrency and "
          "the requests the simulator sees",
          "[e2e][adaptive]") {
  // profile "slow": 50-100 ms, plus 10 ms for every other payment call in flight.
  auto sim = start_sim("slow", 96);
  auto load = [&](bool adaptive) {
    sim.clear();
    auto d = daemon_for(sim, {"services.payment.retry.max_retries=0",
                              "services.payment.max_connections=32",
                              std::string{"services.payment.adaptive_concurrency.enabled="} +
                                (adaptive ? "true" : "false")});
    auto limit_now = [&] {
      return d.get("/api/v1/integrations").json.at("payment").at("concurrency").at("limit")
        .as_int64();
    };
    // 48 clients, 8 orders each: more than the 32 connections, for a bounded time.
    std::atomic<int> overloaded{0};
    std::atomic<int> clients_left{48};
    std::vector<std::thread> clients;
    for (int c = 0; c < 48; ++c)
      clients.emplace_back([&] {
        for (int i = 0; i < 8; ++i)
          overloaded += post_order_held(d.port).status == 503;
        --clients_left;
      });
    // The lowest limit while the load lasts: once it ends, latency falls and the limit
    // grows back, so its value after the load says little.
    int64_t lowest = limit_now();
    while (clients_left > 0) {
      lowest = std::min(lowest, limit_now());
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    for (auto& t : clients)
      t.join();
    return std::tuple{sim.requests("payment").size(), overloaded.load(), lowest};
  };
  auto [off_requests, off_overloaded, off_limit] = load(false);
  auto [on_requests, on_overloaded, on_limit] = load(true);
  INFO("off: " << off_requests << " requests, " << off_overloaded << " overloaded, lowest limit "
               << off_limit);
  INFO("on: " << on_requests << " requests, " << on_overloaded << " overloaded, lowest limit "
              << on_limit);
  CHECK(off_limit == 32);
  // Learned from the latency the load caused (16-18 of 32 seen here on 2 busy cores; the
  // value after the load was back at 32 in 2 of 5 runs on a quiet machine).
  CHECK(on_limit < off_limit);
  CHECK(on_requests < off_requests);
  CHECK(on_overloaded > off_overloaded);
}
