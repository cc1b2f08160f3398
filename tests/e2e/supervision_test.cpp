// End-to-end supervision tests (issue 4, CONTRACT §1 exit status, §3.5, §3.6): crash
// rehearsals through POST /api/v1/admin/actors/{name}/crash against a running daemon and a
// standalone coffeeshop-sim upstream. Nothing sleeps to wait for the daemon (eventually()).

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <thread>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

const std::string token = "t";

/// A daemon pointed at `sim` (see daemon_for) with admin.token "t", then `extra` sets.
daemon_process admin_daemon_for(const sim_process& sim, std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), "admin.token=\"" + token + "\"");
  return daemon_for(sim, std::move(extra));
}

/// POST /api/v1/admin/actors/{name}/crash with an empty body (Content-Length: 0).
http_result crash(const daemon_process& d, const std::string& name,
                  const std::string& bearer = token) {
  httplib::Headers h;
  if (!bearer.empty())
    h.emplace("Authorization", "Bearer " + bearer);
  return d.request("POST", "/api/v1/admin/actors/" + name + "/crash", "", std::move(h), "");
}

double restarts_of(const daemon_process& d, const std::string& service = "payment") {
  auto r = d.get("/api/v1/integrations");
  if (r.status != 200 || !r.json.is_object())
    return -1;
  auto* s = r.json.as_object().if_contains(service);
  if (!s || !s->is_object())
    return -1;
  auto* a = s->as_object().if_contains("actor");
  if (!a || !a->is_object() || !a->as_object().contains("restarts"))
    return -1;
  return num(a->as_object().at("restarts"));
}

/// "eventType/error/status x count" over the payment events (for INFO on failure).
std::string failure_digest(const daemon_process& d) {
  auto r = d.get("/api/v1/events?limit=2000&service=payment");
  if (r.status != 200 || !r.json.is_object())
    return "(events unavailable)";
  std::map<std::string, int> by;
  for (const auto& e : r.json.at("events").as_array()) {
    auto type = str(e, "eventType");
    if (type != "request_failed" && type != "circuit_opened" && type != "call_rejected")
      continue;
    const auto& p = e.at("payload");
    std::string key = type + "/" + str(p, "error") + "/" + str(p, "reason");
    if (auto* st = p.as_object().if_contains("status"); st && st->is_number())
      key += "/" + std::to_string(static_cast<int>(num(*st)));
    if (auto* ms = p.as_object().if_contains("durationMs"); ms && ms->is_number())
      key += "/~" + std::to_string(static_cast<int>(num(*ms)) / 100 * 100) + "ms";
    ++by[key];
  }
  std::string out;
  for (const auto& [k, n] : by)
    out += k + " x" + std::to_string(n) + "; ";
  return out;
}

} // namespace

TEST_CASE("supervision: crashing the payment actor with 50 orders in flight - all paid once, "
          "none hangs",
          "[e2e][supervision]") {
  auto sim = start_sim("fast", 256);
  sim.set_behavior({{"service", "payment"}, {"latencyMs", {2000, 3000}}});
  auto d = admin_daemon_for(sim, {"services.payment.max_connections=64",
                                  "services.payment.retry.base_delay_ms=50",
                                  "services.payment.timeout_ms=5000",
                                  "services.payment.total_timeout_ms=20000"});

  constexpr int n = 50;
  std::vector<http_result> results(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  join_guard join_all{threads};
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&results, port = d.port, i] { results[i] = post_order_held(port); });
  // All 50 in flight: each has reached the simulator, none can be answered before 2 s.
  REQUIRE(
    eventually([&] { return sim.requests("payment").size() >= static_cast<std::size_t>(n); }, 20s));

  // Crash while calls are held by the simulator's latency.
  auto in_flight_at_crash = sim.requests("payment").size();
  auto c = crash(d, "payment");
  INFO("crash: " << c.status << " " << c.body);
  CHECK(c.status == 202);
  INFO("payment requests when crashing: " << in_flight_at_crash);

  for (auto& t : threads)
    t.join();

  auto digest = failure_digest(d);
  INFO("payment failures: " << digest);
  std::map<std::string, json::value> orders;
  for (int i = 0; i < n; ++i) {
    const auto& r = results[i];
    INFO("order " << i << ": " << r.status << " " << r.error << " " << r.body);
    CHECK(r.status == 201);
    if (r.status == 201) {
      CHECK(str(r.json, "status") == "waiting");
      orders[str(r.json, "id")] = r.json;
    }
  }
  REQUIRE(orders.size() == n);

  // The crash hit calls in flight: some payments went out again to the successor.
  auto reqs = sim.requests("payment");
  INFO("payment requests seen by the simulator: " << reqs.size());
  CHECK(reqs.size() > static_cast<std::size_t>(n));
  for (const auto& rq : reqs) {
    auto key = header_of(rq, "Idempotency-Key");
    CHECK(orders.count(key) == 1);
    CHECK(str(parse_json(str(rq, "body")), "orderId") == key);
  }

  // No double charge: one ledger entry per order; a re-issued attempt whose predecessor had
  // already been charged is answered from the ledger (a "duplicate" = a replay, not a charge).
  auto ledger = sim.ledger();
  INFO("ledger " << json::serialize(ledger));
  CHECK(num(ledger.at("charges")) == n);
  std::set<std::string> keys;
  double replays = 0;
  for (const auto& p : ledger.at("payments").as_array()) {
    auto key = str(p, "idempotencyKey");
    CHECK(keys.insert(key).second);
    REQUIRE(orders.count(key) == 1);
    CHECK(str(orders[key].at("payment"), "reference") == str(p, "reference"));
    replays += num(p.at("count")) - 1;
  }
  CHECK(keys.size() == static_cast<std::size_t>(n));
  CHECK(num(ledger.at("duplicates")) == replays);

  CHECK(eventually([&] { return restarts_of(d) >= 1; }, 10s));
  auto pay = integration(d);
  INFO("payment integration " << json::serialize(pay));
  CHECK(num(pay.at("actor").at("restarts")) >= 1);
  CHECK(!str(pay.at("actor"), "lastRestartAt").empty());
  auto evs = events_with(d, "service=supervisor", "actor_restarted");
  INFO("supervisor events: " << types_of(evs));
  CHECK(count_events(evs, "actor_restarted", "payment") >= 1);
}

TEST_CASE("supervision: events keep flowing after the event-logger crashes and restarts",
          "[e2e][supervision]") {
  auto sim = start_sim("fast", 64);
  auto d = admin_daemon_for(sim);
  auto first = d.create_order(order_body());
  REQUIRE(first.status == 201);

  auto c = crash(d, "event-logger");
  INFO("crash: " << c.status << " " << c.body);
  REQUIRE(c.status == 202);
  CHECK(str(c.json, "actor") == "event-logger");

  // The restart is itself an event, delivered to the successor.
  CHECK(eventually([&] { return count_events(events(d), "actor_restarted", "event-logger") >= 1; },
                   10s));

  auto second = d.create_order(order_body());
  REQUIRE(second.status == 201);
  auto id = str(second.json, "id");
  auto has_created = [&] {
    for (const auto& e : events(d, "orderId=" + id))
      if (str(e, "eventType") == "order_created")
        return true;
    return false;
  };
  CHECK(eventually(has_created, 10s));
  // ...and its log line too.
  CHECK(eventually(
    [&] {
      for (const auto& line : d.proc.log_lines("integration_event"))
        if (str(line, "eventType") == "order_created" && line.contains("metadata") &&
            str(line.at("metadata"), "orderId") == id)
          return true;
      return false;
    },
    10s));
  CHECK(d.proc.running());
}

TEST_CASE("supervision: an open breaker stays open across a payment actor crash",
          "[e2e][supervision]") {
  auto sim = start_sim("fast", 64);
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 500}});
  auto d = admin_daemon_for(sim, {"services.payment.retry.max_retries=0",
                                  "services.payment.circuit_breaker.failure_threshold=3",
                                  "services.payment.circuit_breaker.break_duration_ms=30000"});
  for (int i = 0; i < 3; ++i) {
    auto r = d.create_order(order_body());
    check_problem(r, 502, "upstream_error");
  }
  REQUIRE(str(integration(d).at("circuit"), "state") == "open");

  auto c = crash(d, "payment");
  REQUIRE(c.status == 202);
  REQUIRE(eventually([&] { return restarts_of(d) >= 1; }, 10s));

  auto before = sim.requests("payment").size();
  auto r = d.create_order(order_body());
  check_problem(r, 503, "circuit_open");
  CHECK(!str(r.json, "orderId").empty());
  CHECK(sim.requests("payment").size() == before);
  auto pay = integration(d);
  INFO("payment integration " << json::serialize(pay));
  CHECK(str(pay.at("circuit"), "state") == "open");
  CHECK(num(pay.at("circuit").at("retryAfterMs")) > 0);
}

TEST_CASE("supervision: the crash endpoint needs the admin token and a known actor",
          "[e2e][supervision]") {
  auto sim = start_sim("fast", 64);
  {
    auto d = daemon_for(sim); // admin.token null
    check_problem(crash(d, "payment", ""), 404, "not_found");
    check_problem(crash(d, "payment", "t"), 404, "not_found");
    CHECK(restarts_of(d) == 0);
  }
  auto d = admin_daemon_for(sim);
  check_problem(crash(d, "payment", ""), 401, "unauthorized");
  check_problem(crash(d, "payment", "wrong"), 403, "forbidden");
  check_problem(crash(d, "nobody", token), 404, "not_found");
  check_problem(crash(d, "order_coordinator", token), 404, "not_found");
  CHECK(restarts_of(d) == 0);
  CHECK(restarts_of(d, "notification") == 0);
  // The daemon is unharmed by the refused requests.
  auto r = d.create_order(order_body());
  CHECK(r.status == 201);
}

TEST_CASE("supervision: when the root supervisor gives up the daemon logs fatal and exits 1",
          "[e2e][supervision]") {
  auto sim = start_sim("fast", 64);
  auto d = admin_daemon_for(sim, {"supervision.max_restarts=0"});
  auto c = crash(d, "event-logger");
  // The daemon may exit before the 202 is written; a lost reply is acceptable here.
  INFO("crash: " << c.status << " " << c.error << " " << c.body);
  CHECK((c.status == 202 || c.status == 0));

  auto status = d.proc.wait_exit(15s);
  INFO("daemon output:\n" << d.proc.output());
  REQUIRE(status.has_value());
  CHECK(*status == 1);
  bool fatal = false;
  for (const auto& line : d.proc.json_lines())
    if (str(line, "level") == "fatal")
      fatal = true;
  CHECK(fatal);
  CHECK(!d.proc.log_lines("actor_escalated").empty());
}
