// Several daemons on one PostgreSQL database (CONTRACT §8, §3.5): each case
// gets a fresh schema on the fixture's server (tests/pg/pg_test_db.hpp) and
// starts its daemons on it, all pointed at one standalone coffeeshop-sim
// ("fast") whose ledger shows what was charged per Idempotency-Key. Tagged
// [pg-server]: ctest runs them with the PostgreSQL fixture.

#include "harness.hpp"
#include "pg_test_db.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop::e2e;
using coffeeshop::testing::pg_test_schema;
namespace json = boost::json;

namespace {

daemon_process instance_on(const sim_process& sim, const pg_test_schema& schema,
                           const std::string& id) {
  return daemon_for(sim, {"store.backend=postgres", "store.url=" + schema.url(),
                          "store.pool_size=3", "instance.id=" + id, "instance.lease_ms=1500"});
}

std::set<std::string> instance_ids(const daemon_process& d) {
  auto r = d.get("/api/v1/instances");
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 200);
  std::set<std::string> ids;
  for (const auto& i : r.json.at("instances").as_array())
    ids.insert(str(i, "id"));
  return ids;
}

/// Two daemons, shop-a and shop-b, on a fresh schema and one simulator.
struct two_shops {
  pg_test_schema schema;
  sim_process sim = start_sim("fast");
  daemon_process a = instance_on(sim, schema, "shop-a");
  daemon_process b = instance_on(sim, schema, "shop-b");
};

std::string created_id(const http_result& r) {
  INFO(r.status << " " << r.body);
  REQUIRE(r.status == 201);
  return str(r.json, "id");
}

} // namespace

TEST_CASE("several instances: an order made on one is read, listed and moved on another",
          "[e2e][pg-server]") {
  two_shops shops;
  auto& a = shops.a;
  auto& b = shops.b;
  auto c = instance_on(shops.sim, shops.schema, "shop-c");

  const auto id = created_id(a.create_order(order_body()));
  auto read = b.get_order(id);
  REQUIRE(read.status == 200);
  CHECK(str(read.json, "status") == "waiting");
  auto list = b.get("/api/v1/orders?limit=10");
  REQUIRE(list.status == 200);
  REQUIRE(list.json.at("orders").as_array().size() == 1);
  CHECK(str(list.json.at("orders").as_array()[0], "id") == id);

  auto moved = c.set_status(id, "preparation");
  INFO(moved.body);
  CHECK(moved.status == 200);
  CHECK(str(a.get_order(id).json, "status") == "preparation");
  CHECK(str(b.get_order(id).json, "status") == "preparation");
  // Its notification went out once, from whichever daemon took the order's work.
  CHECK(eventually([&] {
    auto o = b.get_order(id).json;
    const auto& ns = o.at("notifications").as_array();
    return ns.size() == 1 && str(ns[0], "state") == "sent";
  }));
  CHECK(eventually([&] {
    std::size_t n = 0;
    for (const auto& rq : shops.sim.requests("notification"))
      n += notification_of(rq).first == id ? 1 : 0;
    return n == 1;
  }));
  auto wrong = a.set_status(id, "waiting");
  check_problem(wrong, 409, "conflict");
  CHECK(str(wrong.json, "currentStatus") == "preparation");

  // Each daemon names itself in its logs and events.
  auto evs = events_with(c, "orderId=" + id, "order_status_changed");
  REQUIRE_FALSE(evs.empty());
  CHECK(str(evs.back().at("metadata"), "instance") == "shop-c");
  bool named = false;
  for (const auto& line : a.proc.log_lines("listening"))
    named = named || str(line, "instance") == "shop-a";
  CHECK(named);
}

TEST_CASE("several instances: /api/v1/instances lists the live ones and drops a dead one",
          "[e2e][pg-server]") {
  two_shops shops;
  auto& a = shops.a;
  auto& b = shops.b;
  CHECK(eventually([&] { return instance_ids(a) == std::set<std::string>{"shop-a", "shop-b"}; }));
  auto r = a.get("/api/v1/instances");
  for (const auto& i : r.json.at("instances").as_array()) {
    CHECK(str(i, "version").size() > 0);
    CHECK(str(i, "address").rfind("127.0.0.1:", 0) == 0);
    CHECK(str(i, "startedAt").size() == 24);
    CHECK(str(i, "heartbeatAt").size() == 24);
  }
  // kill -9 leaves its row: it drops out once its lease (1.5 s) passes.
  b.proc.signal(SIGKILL);
  b.proc.wait_exit(5s);
  CHECK(eventually([&] { return instance_ids(a) == std::set<std::string>{"shop-a"}; }, 10s));
}

TEST_CASE("several instances: one Idempotency-Key sent to two at once makes one order and one "
          "payment",
          "[e2e][pg-server]") {
  two_shops shops;
  auto& sim = shops.sim;
  auto& a = shops.a;
  auto& b = shops.b;
  sim.set_behavior({{"service", "payment"}, {"latencyMs", json::array{300, 300}}});

  std::mutex mtx;
  std::map<int, int> codes;
  std::set<std::string> ids;
  std::string replies;
  std::vector<std::thread> threads;
  join_guard guard{threads};
  for (int i = 0; i < 10; ++i)
    threads.emplace_back([&, i] {
      const auto& d = i % 2 == 0 ? a : b;
      auto r = d.create_order(order_body(), {{"Idempotency-Key", "race-1"}});
      std::lock_guard lock(mtx);
      ++codes[r.status];
      replies += std::to_string(r.status) + " " + r.body + "\n";
      if (r.json.is_object())
        ids.insert(r.status == 409 ? str(r.json, "orderId") : str(r.json, "id"));
    });
  for (auto& t : threads)
    t.join();
  INFO("201: " << codes[201] << " 200: " << codes[200] << " 409: " << codes[409] << "\n"
               << replies);
  CHECK(codes[201] == 1);
  CHECK(codes[201] + codes[200] + codes[409] == 10);
  ids.erase("");
  CHECK(ids.size() == 1);
  // After the race, both replay the one order.
  auto again_a = a.create_order(order_body(), {{"Idempotency-Key", "race-1"}});
  auto again_b = b.create_order(order_body(), {{"Idempotency-Key", "race-1"}});
  CHECK(again_a.status == 200);
  CHECK(again_b.status == 200);
  CHECK(str(again_a.json, "id") == str(again_b.json, "id"));
  CHECK(again_b.header("Idempotency-Replayed") == "true");
  auto list = a.get("/api/v1/orders?limit=50");
  CHECK(list.json.at("orders").as_array().size() == 1);
  auto ledger = sim.ledger();
  CHECK(ledger.at("payments").as_array().size() == 1);
  CHECK(num(ledger.at("charges")) == 1);
}

TEST_CASE("several instances: concurrent status changes of one order, one wins every time",
          "[e2e][pg-server]") {
  two_shops shops;
  auto& a = shops.a;
  auto& b = shops.b;
  for (int round = 0; round < 10; ++round) {
    const auto id = created_id(a.create_order(order_body()));
    http_result ra, rb;
    {
      std::vector<std::thread> threads;
      join_guard guard{threads};
      threads.emplace_back([&] { ra = a.set_status(id, "preparation"); });
      threads.emplace_back([&] { rb = b.set_status(id, "canceled"); });
    }
    INFO("round " << round << ": " << ra.status << " " << ra.body << " / " << rb.status << " "
                  << rb.body);
    REQUIRE(((ra.status == 200 && rb.status == 409) || (ra.status == 409 && rb.status == 200)));
    const auto& loser = ra.status == 409 ? ra : rb;
    const std::string winner_status = ra.status == 200 ? "preparation" : "canceled";
    check_problem(loser, 409, "conflict");
    CHECK(str(loser.json, "currentStatus") == winner_status);
    CHECK(str(b.get_order(id).json, "status") == winner_status);
    // The winner's notification only: the loser queued none.
    auto order = a.get_order(id);
    CHECK(order.json.at("notifications").as_array().size() == 1);
  }
}

namespace {

/// A PostgreSQL server of the test's own (tests/pg/pg_server.sh), so that it
/// can be halted without touching the fixture's; stopped and removed when the
/// test ends, however it ends.
class own_pg_server {
public:
  own_pg_server() : state_(dir_.path() + "/pg") {
    script("start");
    std::ifstream in(state_ + ".url");
    std::getline(in, url_);
  }
  own_pg_server(const own_pg_server&) = delete;
  own_pg_server& operator=(const own_pg_server&) = delete;
  ~own_pg_server() {
    try {
      script("stop");
    } catch (...) {
    }
  }
  const std::string& url() const { return url_; }
  /// pg_ctl stop -m immediate: the server is gone as in a crash.
  void halt() { script("halt"); }
  void resume() { script("resume"); }

private:
  void script(const std::string& cmd) {
    // Durable: the test counts what was acknowledged before the crash.
    process p(std::string(source_dir()) + "/tests/pg/pg_server.sh", {cmd, state_},
              {{"COFFEESHOP_PG_DURABLE", "1"}});
    auto status = p.wait_exit(90s);
    if (status != 0)
      throw std::runtime_error("pg_server.sh " + cmd + " failed: " + p.output());
  }

  temp_dir dir_;
  std::string state_;
  std::string url_;
};

} // namespace

TEST_CASE("several instances: the database going away answers 503 and recovers, losing nothing",
          "[e2e][pg-server]") {
  own_pg_server pg;
  auto sim = start_sim("fast");
  auto d = daemon_for(sim,
                      {"store.backend=postgres", "store.url=" + pg.url(), "store.pool_size=3"});

  std::mutex mtx;
  std::vector<std::string> acknowledged; // ids of the 201s
  std::map<std::string, int> problems;   // errorType of each non-201
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  join_guard guard{threads, [&] { done = true; }};
  for (int t = 0; t < 2; ++t)
    threads.emplace_back([&] {
      while (!done) {
        auto r = d.create_order(order_body());
        std::lock_guard lock(mtx);
        if (r.status == 201)
          acknowledged.push_back(str(r.json, "id"));
        else
          ++problems[r.status == 503 ? str(r.json, "errorType") : std::to_string(r.status)];
      }
    });
  auto count_acked = [&] {
    std::lock_guard lock(mtx);
    return acknowledged.size();
  };
  REQUIRE(eventually([&] { return count_acked() >= 20; }));

  pg.halt();
  CHECK(eventually([&] { return d.get("/readyz").status == 503; }));
  auto refused = d.create_order(order_body());
  check_problem(refused, 503, "store_unavailable");
  CHECK_FALSE(refused.header("Retry-After").empty());

  pg.resume();
  CHECK(eventually([&] { return d.get("/readyz").status == 200; }, 20s));
  const auto before = count_acked();
  CHECK(eventually([&] { return count_acked() >= before + 20; }));
  done = true;
  for (auto& t : threads)
    t.join();

  INFO("acknowledged " << acknowledged.size() << ", store_unavailable "
                       << problems["store_unavailable"]);
  CHECK(problems["store_unavailable"] > 0);
  for (const auto& [type, n] : problems)
    CHECK((type == "store_unavailable" || n == 0));
  // Every 201 is there after the outage (and is read as such, not as a 404
  // from a connection the server dropped).
  for (const auto& id : acknowledged) {
    auto r = d.get_order(id);
    INFO(id << ": " << r.body);
    CHECK(r.status == 200);
  }
  CHECK(events_with(d, "", "store_recovered").size() > 0);
}

TEST_CASE("several instances: kill -9 with a payment in flight and notifications claimed: "
          "another instance finishes them after the lease in status order",
          "[e2e][pg-server]") {
  pg_test_schema schema;
  auto sim = start_sim("fast");
  auto a = instance_on(sim, schema, "shop-a");
  auto b = instance_on(sim, schema, "shop-b");

  // On a: a paid order whose first notification hangs upstream, two queued behind it.
  const auto notified = created_id(a.create_order(order_body()));
  sim.set_behavior({{"service", "notification"}, {"hang", true}});
  for (const char* s : {"preparation", "ready", "delivered"})
    REQUIRE(a.set_status(notified, s).status == 200);
  auto calls_for = [&](const std::string& id) {
    std::vector<std::pair<std::string, std::string>> calls; // (status, Idempotency-Key)
    for (const auto& rq : sim.requests("notification"))
      if (auto [oid, status] = notification_of(rq); oid == id)
        calls.emplace_back(status, header_of(rq, "Idempotency-Key"));
    return calls;
  };
  REQUIRE(eventually([&] { return !calls_for(notified).empty(); }, 5s));

  // ... and an order whose payment hangs upstream.
  sim.set_behavior({{"service", "payment"}, {"hang", true}});
  std::vector<std::thread> threads;
  join_guard guard{threads};
  const int port_a = a.port;
  threads.emplace_back([port_a] { post_order_held(port_a); });
  std::string paying;
  REQUIRE(eventually([&] {
    auto r = b.get("/api/v1/orders?status=pending_payment");
    if (r.status != 200 || r.json.at("orders").as_array().size() != 1)
      return false;
    paying = str(r.json.at("orders").as_array()[0], "id");
    return sim.requests("payment").size() >= 2;
  }));

  a.proc.signal(SIGKILL);
  const auto killed_at = std::chrono::steady_clock::now();
  REQUIRE(a.proc.wait_exit(5s));
  sim.reset_behavior("fast");

  auto since_kill_ms = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 killed_at)
      .count();
  };
  json::value last;
  REQUIRE(eventually(
    [&] {
      auto r = b.get_order(paying);
      last = r.json;
      return r.status == 200 && str(r.json, "status") == "waiting";
    },
    15s));
  const auto paid_ms = since_kill_ms();
  INFO("paying order after the kill: " << json::serialize(last));
  REQUIRE(eventually(
    [&] {
      auto r = b.get_order(notified);
      last = r.json;
      return notifications_settled(r.json, 3);
    },
    15s));
  const auto notified_ms = since_kill_ms();
  WARN("takeover after kill -9 (lease 1500 ms): payment finished after "
       << paid_ms << " ms, three notifications sent after " << notified_ms << " ms");
  // a renewed its leases every 500 ms until the kill: b must not have taken
  // them before they ran out, a second after the kill at the earliest.
  CHECK(paid_ms >= 1000);

  // One charge per order: the payment taken over went out under its key again.
  auto ledger = sim.ledger();
  INFO(json::serialize(ledger));
  CHECK(num(ledger.at("charges")) == 2);
  auto evs = events_with(b, "orderId=" + paying, "order_recovered");
  REQUIRE(count_events(evs, "order_recovered") == 1);
  for (const auto& e : evs)
    if (str(e, "eventType") == "order_recovered")
      CHECK(str(e.at("metadata"), "instance") == "shop-b");

  // Status order held across the daemons; only the status a had in flight
  // went out twice, under the same key.
  auto calls = calls_for(notified);
  std::string trace;
  for (const auto& [s, k] : calls)
    trace += s + "[" + k + "] ";
  INFO("notification calls: " << trace);
  std::vector<std::string> statuses;
  for (const auto& [s, k] : calls) {
    CHECK(k == notified + ":" + s);
    if (statuses.empty() || statuses.back() != s)
      statuses.push_back(s);
  }
  CHECK(statuses == std::vector<std::string>{"preparation", "ready", "delivered"});
  CHECK(calls.size() <= 4);
}
