// The instance registry of one process and the heartbeat loop (the
// PostgreSQL registry is in postgres_store_test.cpp).

#include "coffeeshop/store/instance_registry.hpp"
#include "coffeeshop/util/clock.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <thread>

TEST_CASE("instances: the local registry lists this daemon while its beat is fresh") {
  auto r = coffeeshop::make_local_instance_registry();
  CHECK(r->live(1000, 500).empty());
  REQUIRE(r->heartbeat({"me", "127.0.0.1:1", "0.1.0", 100, 1000}));
  CHECK(r->live(1400, 500).size() == 1);
  CHECK(r->live(1600, 500).empty());
  r->leave("someone-else");
  CHECK(r->live(1400, 500).size() == 1);
  r->leave("me");
  CHECK(r->live(1400, 500).empty());
}

TEST_CASE("instances: the heartbeat loop beats at once and leaves on stop") {
  std::shared_ptr<coffeeshop::instance_registry> r = coffeeshop::make_local_instance_registry();
  coffeeshop::heartbeat_loop beat(r, {"me", "127.0.0.1:1", "0.1.0", 100, 0}, 60'000);
  // The first beat is written when the loop starts, not after an interval.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (r->live(coffeeshop::now_ms(), 60'000).empty() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  REQUIRE(r->live(coffeeshop::now_ms(), 60'000).size() == 1);
  beat.stop(); // wakes the loop out of its minute-long wait
  CHECK(r->live(coffeeshop::now_ms(), 60'000).empty());
  beat.stop(); // idempotent
}
