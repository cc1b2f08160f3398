// End-to-end durability tests (CONTRACT §7, §4 notification Idempotency-Key): each case owns
// a temporary directory holding the SQLite database and passes store.path=<dir>/coffeeshop.db
// to every daemon it starts (a later --set wins over the harness's own), so a second daemon
// reopens the first one's file. A standalone coffeeshop-sim ("fast") is the upstream: its
// ledger shows what was charged per Idempotency-Key, its request log the notification calls
// with their headers. Nothing sleeps to wait for the daemon (eventually() polls); processes,
// threads, files and SQLite handles are released by RAII even when a check fails.

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop::e2e;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string db_path(const temp_dir& dir) { return dir.path() + "/coffeeshop.db"; }

/// `extra` plus the store.path of `dir` (last, so it wins over the harness's own).
std::vector<std::string> on_store(const temp_dir& dir, std::vector<std::string> extra = {}) {
  extra.push_back("store.path=" + db_path(dir));
  return extra;
}

/// Every order of the daemon, oldest first (paged through `next`).
std::vector<json::value> all_orders(const daemon_process& d, const std::string& status = "") {
  std::vector<json::value> out;
  std::string after;
  for (int page = 0; page < 100; ++page) {
    std::string path = "/api/v1/orders?limit=500";
    if (!status.empty())
      path += "&status=" + status;
    if (!after.empty())
      path += "&after=" + after;
    auto r = d.get(path);
    INFO("GET " << path << " -> " << r.status << " " << r.body.substr(0, 500));
    REQUIRE(r.status == 200);
    REQUIRE(r.json.is_object());
    for (const auto& o : r.json.at("orders").as_array())
      out.push_back(o);
    const auto& next = r.json.at("next");
    if (next.is_null())
      break;
    after = std::string(next.as_string());
  }
  return out;
}

/// The sim ledger's payments: Idempotency-Key -> number of ledger entries (charges) under it.
/// An entry without a key is listed under "<none>".
struct ledger_view {
  std::map<std::string, int> charges_by_key;
  std::map<std::string, int> count_by_key; // the entry's "count" (1 + replays answered)
  long long charges = 0;
  long long duplicates = 0;
  std::size_t entries = 0;
};

ledger_view read_ledger(const sim_process& sim) {
  ledger_view v;
  auto l = sim.ledger();
  v.charges = static_cast<long long>(num(l.at("charges")));
  v.duplicates = static_cast<long long>(num(l.at("duplicates")));
  for (const auto& p : l.at("payments").as_array()) {
    const auto& k = p.at("idempotencyKey");
    std::string key = k.is_string() ? std::string(k.as_string()) : std::string("<none>");
    ++v.charges_by_key[key];
    v.count_by_key[key] += static_cast<int>(num(p.at("count")));
    ++v.entries;
  }
  return v;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string dir_listing(const std::string& dir) {
  std::string out;
  for (const auto& e : fs::directory_iterator(dir))
    out += e.path().filename().string() + " (" +
           std::to_string(e.is_regular_file() ? e.file_size() : 0) + " B) ";
  return out;
}

/// The seed-format notification body of a recorded request: {orderId, status}.

/// A sqlite3 connection opened by the test itself; closed (rolling back what is open) on scope
/// exit.
struct sqlite_handle {
  sqlite3* db = nullptr;
  explicit sqlite_handle(const std::string& path) {
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                             nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
      sqlite3_close(db);
      db = nullptr;
      throw std::runtime_error("sqlite3_open_v2 " + path + ": " + msg);
    }
    sqlite3_busy_timeout(db, 5000);
  }
  ~sqlite_handle() { close(); }
  sqlite_handle(const sqlite_handle&) = delete;
  sqlite_handle& operator=(const sqlite_handle&) = delete;
  /// Runs `sql`; "" on success, else the error message.
  std::string exec(const std::string& sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    std::string msg = rc == SQLITE_OK ? "" : (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    return msg;
  }
  void close() {
    if (!db)
      return;
    if (sqlite3_get_autocommit(db) == 0)
      exec("ROLLBACK");
    sqlite3_close(db);
    db = nullptr;
  }
};

/// Arguments of a daemon started by hand (one that is expected not to come up).
std::vector<std::string> daemon_args(const sim_process& sim, const std::string& store_path) {
  std::vector<std::string> args{"--set", "http.listen=127.0.0.1:0",
                                "--set", "logging.level=info",
                                "--set", "logging.format=json",
                                "--set", "simulator.enabled=false"};
  for (auto& s : sim.daemon_sets()) {
    args.push_back("--set");
    args.push_back(s);
  }
  args.push_back("--set");
  args.push_back("store.path=" + store_path);
  return args;
}

/// The members of an order that a restart must keep as they were.
json::object durable_view(const json::value& o) {
  json::object v;
  for (const char* k : {"id", "status", "items", "total", "currency", "customerEmail",
                        "paymentMethod", "payment", "notifications", "createdAt", "traceId"})
    if (auto* m = o.as_object().if_contains(k))
      v[k] = *m;
  return v;
}


} // namespace

// --------------------------------------------------------------------------------------------

TEST_CASE("durability: SIGTERM and restart keep orders, their order and Idempotency-Keys",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  const std::string body1 = order_body("Latte", "Vanilla", 2);
  const std::string body2 = order_body("Espresso", "Double Shot", 1);
  const std::string body3 = order_body("Donuts", "Glazed", 3);

  std::vector<std::string> ids;
  std::map<std::string, json::value> before;
  {
    auto d = daemon_for(sim, on_store(dir));
    auto r1 = d.create_order(body1, {{"Idempotency-Key", "k1"}});
    INFO("create 1: " << r1.status << " " << r1.body);
    REQUIRE(r1.status == 201);
    auto r2 = d.create_order(body2);
    REQUIRE(r2.status == 201);
    auto r3 = d.create_order(body3);
    REQUIRE(r3.status == 201);
    ids = {str(r1.json, "id"), str(r2.json, "id"), str(r3.json, "id")};

    auto p = d.set_status(ids[1], "preparation");
    INFO("preparation: " << p.body);
    REQUIRE(p.status == 200);
    auto rd = d.set_status(ids[1], "ready");
    INFO("ready: " << rd.body);
    REQUIRE(rd.status == 200);
    // Both notifications delivered before the stop, so the snapshot compared below is final.
    json::value moved;
    CHECK(eventually([&] {
      auto g = d.get_order(ids[1]);
      moved = g.json;
      return g.status == 200 && notifications_settled(g.json, 2);
    }));
    INFO("moved order before stop: " << json::serialize(moved));
    for (const auto& id : ids) {
      auto g = d.get_order(id);
      REQUIRE(g.status == 200);
      before[id] = g.json;
    }
    CHECK(str(before[ids[1]], "status") == "ready");

    auto rc = d.stop();
    INFO("daemon output: " << d.proc.output().substr(0, 3000));
    REQUIRE(rc.has_value());
    CHECK(*rc == 0);
  }
  const auto notification_calls_before = sim.requests("notification").size();

  auto d = daemon_for(sim, on_store(dir));
  for (const auto& id : ids) {
    auto g = d.get_order(id);
    INFO("after restart GET " << id << " -> " << g.status << " " << g.body);
    REQUIRE(g.status == 200);
    CHECK(str(g.json, "status") == str(before[id], "status"));
    CHECK(json::serialize(g.json.at("payment")) == json::serialize(before[id].at("payment")));
    CHECK(json::serialize(g.json.at("items")) == json::serialize(before[id].at("items")));
    CHECK(json::serialize(durable_view(g.json)) == json::serialize(durable_view(before[id])));
  }

  auto listed = all_orders(d);
  std::vector<std::string> listed_ids;
  for (const auto& o : listed)
    listed_ids.push_back(str(o, "id"));
  CHECK(listed_ids == ids);

  auto replay = d.create_order(body1, {{"Idempotency-Key", "k1"}});
  INFO("replay: " << replay.status << " " << replay.body);
  CHECK(replay.status == 200);
  CHECK(replay.header("Idempotency-Replayed") == "true");
  CHECK(str(replay.json, "id") == ids[0]);

  auto ledger = read_ledger(sim);
  CHECK(ledger.charges_by_key[ids[0]] == 1);
  CHECK(ledger.count_by_key[ids[0]] == 1); // not even a replayed payment call
  std::size_t calls_for_k1 = 0;
  for (const auto& rq : sim.requests("payment"))
    if (header_of(rq, "Idempotency-Key") == ids[0])
      ++calls_for_k1;
  CHECK(calls_for_k1 == 1);

  auto other = d.create_order(order_body("Latte", "Hazelnut", 1), {{"Idempotency-Key", "k1"}});
  INFO("k1 with another body: " << other.status << " " << other.body);
  CHECK(other.status == 422);
  CHECK(str(other.json, "errorType") == "validation");
  CHECK(all_orders(d).size() == 3);

  // A notification sent before the stop was not sent again by the new daemon.
  CHECK(sim.requests("notification").size() == notification_calls_before);
}

// --------------------------------------------------------------------------------------------

TEST_CASE("durability: kill -9 during a burst of orders loses no acknowledged order and "
          "charges none twice",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  // A little payment latency keeps several orders between their pending_payment commit and
  // their outcome when the daemon is killed.
  sim.set_behavior({{"service", "payment"}, {"latencyMs", json::array{2, 25}}});

  constexpr int total = 120, clients = 8, kill_after = 60;
  struct attempt {
    std::string key, body;
    int status = -1; // -1: never sent
    std::string id, error;
  };
  std::vector<attempt> attempts(total);
  const std::string nonce = std::to_string(::getpid()) + "-" +
                            std::to_string(
                              std::chrono::steady_clock::now().time_since_epoch().count());
  const char* products[][2] = {{"Latte", "Vanilla"},
                               {"Espresso", "Double Shot"},
                               {"Donuts", "Glazed"},
                               {"Macchiato", "Caramel"}};
  for (int i = 0; i < total; ++i) {
    if (i % 2 == 0)
      attempts[i].key = "burst-" + nonce + "-" + std::to_string(i);
    attempts[i].body = order_body(products[i % 4][0], products[i % 4][1], 1 + i % 5);
  }

  {
    auto d = daemon_for(sim, on_store(dir));
    const pid_t pid = d.proc.pid();
    const int port = d.port;
    std::atomic<int> answered{0};
    std::atomic<bool> killed{false};
    {
      std::vector<std::thread> threads;
      join_guard join_all{threads};
      for (int t = 0; t < clients; ++t)
        threads.emplace_back([&, t] {
          for (int i = t; i < total; i += clients) {
            if (killed)
              break;
            auto& a = attempts[i];
            httplib::Headers h;
            if (!a.key.empty())
              h.emplace("Idempotency-Key", a.key);
            auto r = request(port, "POST", "/api/v1/orders", a.body, h, "application/json", 10s);
            a.status = r.status;
            a.error = r.error;
            if (r.status == 201)
              a.id = str(r.json, "id");
            // The client that saw the 60th answer kills the daemon at once: the process is
            // not reaped before wait_exit below, so the pid is still ours.
            if (r.status != 0 && ++answered == kill_after) {
              killed = true;
              ::kill(pid, SIGKILL);
            }
          }
        });
    }
    REQUIRE(killed);
    auto rc = d.proc.wait_exit(10s);
    REQUIRE(rc.has_value());
    CHECK(*rc == 128 + SIGKILL);
  }

  int sent = 0, acked = 0, transport_failed = 0, other = 0;
  for (const auto& a : attempts) {
    if (a.status == -1)
      continue;
    ++sent;
    if (a.status == 201)
      ++acked;
    else if (a.status == 0)
      ++transport_failed;
    else
      ++other;
  }
  const auto ledger_at_kill = read_ledger(sim);

  auto d = daemon_for(sim, on_store(dir));
  CHECK(eventually([&] { return d.get("/readyz").status == 200; }, 10s));
  bool drained = eventually(
    [&] {
      auto r = d.get("/api/v1/orders?status=pending_payment&limit=500");
      return r.status == 200 && r.json.is_object() && r.json.at("orders").as_array().empty();
    },
    15s);
  CHECK(drained);

  std::map<std::string, std::string> status_of; // order id -> status after restart
  for (const auto& o : all_orders(d))
    status_of[str(o, "id")] = str(o, "status");
  std::map<std::string, int> by_status;
  for (const auto& [id, s] : status_of)
    ++by_status[s];
  auto ledger = read_ledger(sim);
  auto evs = events(d);
  std::size_t recovered = count_events(evs, "order_recovered");

  std::ostringstream numbers;
  numbers << "sent " << sent << " of " << total << ", answered " << (sent - transport_failed)
          << ", acknowledged (201) " << acked << ", transport errors " << transport_failed
          << ", other replies " << other << "; after restart: found " << status_of.size()
          << " orders (";
  for (const auto& [s, n] : by_status)
    numbers << s << " " << n << " ";
  numbers << "), order_recovered events " << recovered << "; ledger at kill: charges "
          << ledger_at_kill.charges << ", after recovery: charges " << ledger.charges
          << ", entries " << ledger.entries << ", duplicates (replayed keys) " << ledger.duplicates;
  WARN("kill -9 burst: " << numbers.str());

  // Every acknowledged order is there, as it was acknowledged.
  for (const auto& a : attempts)
    if (a.status == 201) {
      INFO("acknowledged order " << a.id << " key '" << a.key << "'");
      REQUIRE(status_of.count(a.id) == 1);
      CHECK(status_of[a.id] == "waiting");
    }
  CHECK(status_of.size() >= static_cast<std::size_t>(acked));

  // The ledger and the store agree: a charge belongs to an order that exists and is paid, no
  // order is charged twice, every paid order was charged once.
  auto check_ledger = [&](const ledger_view& l) {
    CHECK(l.charges == static_cast<long long>(l.entries));
    for (const auto& [key, n] : l.charges_by_key) {
      INFO("ledger key " << key << " charged " << n << " time(s)");
      CHECK(n == 1);
      REQUIRE(status_of.count(key) == 1);
      CHECK(status_of[key] != "payment_failed");
    }
    for (const auto& [id, s] : status_of) {
      INFO("order " << id << " status " << s);
      if (s == "waiting")
        CHECK(l.charges_by_key.count(id) == 1);
      if (s == "payment_failed")
        CHECK(l.charges_by_key.count(id) == 0);
    }
  };
  check_ledger(ledger);

  // Each client retries its key: its one order (replayed), or a first order if none existed.
  std::set<std::string> ids_of_keys;
  int replayed = 0, created = 0;
  for (const auto& a : attempts) {
    if (a.key.empty() || a.status == -1)
      continue;
    auto r = d.create_order(a.body, {{"Idempotency-Key", a.key}});
    INFO("retry of key " << a.key << " (first reply " << a.status << " " << a.id << ") -> "
                         << r.status << " " << r.body.substr(0, 300));
    std::string id = str(r.json, "id");
    CHECK(!id.empty());
    CHECK(ids_of_keys.insert(id).second); // one order per key, none shared
    if (a.status == 201) {
      CHECK(r.status == 200);
      CHECK(r.header("Idempotency-Replayed") == "true");
      CHECK(id == a.id);
      ++replayed;
    } else if (r.status == 200) {
      // The order existed (committed before the kill, paid at restart).
      CHECK(r.header("Idempotency-Replayed") == "true");
      CHECK(status_of.count(id) == 1);
      CHECK(status_of[id] == "waiting");
      ++replayed;
    } else {
      CHECK(r.status == 201);
      // Either never committed (a new order) or retried after a failed payment (same id).
      if (status_of.count(id))
        CHECK(status_of[id] == "payment_failed");
      status_of[id] = str(r.json, "status");
      ++created;
    }
  }
  WARN("kill -9 burst: keyed retries replayed " << replayed << ", created " << created);

  // Still one charge per paid order after the retries.
  auto final_ledger = read_ledger(sim);
  status_of.clear();
  for (const auto& o : all_orders(d))
    status_of[str(o, "id")] = str(o, "status");
  check_ledger(final_ledger);
}

// --------------------------------------------------------------------------------------------

TEST_CASE("durability: kill -9 with notifications queued delivers them after restart, in "
          "status order, with Idempotency-Key orderId:status",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  std::string id;
  {
    auto d = daemon_for(sim, on_store(dir));
    auto c = d.create_order(order_body());
    REQUIRE(c.status == 201);
    id = str(c.json, "id");

    // Held upstream: the first notification stays in flight, the next two queued behind it.
    sim.set_behavior({{"service", "notification"}, {"hang", true}});
    for (const char* s : {"preparation", "ready", "delivered"}) {
      auto r = d.set_status(id, s);
      INFO("PATCH " << s << " -> " << r.status << " " << r.body);
      REQUIRE(r.status == 200);
      CHECK(str(r.json, "status") == s);
    }
    auto for_order = [&] {
      std::vector<std::string> statuses;
      for (const auto& rq : sim.requests("notification")) {
        auto [oid, status] = notification_of(rq);
        if (oid == id)
          statuses.push_back(status);
      }
      return statuses;
    };
    CHECK(eventually([&] { return !for_order().empty(); }, 5s));
    auto seen = for_order();
    // Only the first status has reached the upstream: the rest wait behind it.
    CHECK(seen == std::vector<std::string>{"preparation"});
    auto g = d.get_order(id);
    INFO("before kill: " << g.body);
    for (const auto& n : g.json.at("notifications").as_array())
      CHECK(str(n, "state") == "pending");

    d.proc.signal(SIGKILL);
    auto rc = d.proc.wait_exit(10s);
    REQUIRE(rc.has_value());
    CHECK(*rc == 128 + SIGKILL);
  }
  sim.reset_behavior("fast");

  auto d = daemon_for(sim, on_store(dir));
  std::vector<std::pair<std::string, std::string>> calls; // (status, Idempotency-Key)
  auto collect = [&] {
    calls.clear();
    for (const auto& rq : sim.requests("notification")) {
      auto [oid, status] = notification_of(rq);
      if (oid == id)
        calls.emplace_back(status, header_of(rq, "Idempotency-Key"));
    }
  };
  bool all_three = eventually(
    [&] {
      collect();
      std::set<std::string> s;
      for (const auto& c : calls)
        s.insert(c.first);
      return s.count("preparation") && s.count("ready") && s.count("delivered");
    },
    15s);
  std::string trace;
  for (const auto& [s, k] : calls)
    trace += s + "[" + k + "] ";
  INFO("notification calls for " << id << ": " << trace);
  CHECK(all_three);

  auto first_of = [&](const std::string& s) {
    for (std::size_t i = 0; i < calls.size(); ++i)
      if (calls[i].first == s)
        return static_cast<long>(i);
    return -1L;
  };
  CHECK(first_of("preparation") >= 0);
  CHECK(first_of("preparation") < first_of("ready"));
  CHECK(first_of("ready") < first_of("delivered"));
  for (const auto& [s, k] : calls)
    CHECK(k == id + ":" + s);

  json::value last;
  bool settled = eventually(
    [&] {
      auto g = d.get_order(id);
      last = g.json;
      return g.status == 200 && notifications_settled(g.json, 3);
    },
    10s);
  INFO("order after restart: " << json::serialize(last));
  CHECK(settled);
  if (last.is_object() && last.as_object().contains("notifications")) {
    std::vector<std::string> statuses;
    for (const auto& n : last.at("notifications").as_array()) {
      statuses.push_back(str(n, "status"));
      CHECK(str(n, "state") == "sent");
      CHECK(!str(n, "id").empty());
    }
    CHECK(statuses == std::vector<std::string>{"preparation", "ready", "delivered"});
  }
}

TEST_CASE("durability: a payment resumed after kill -9 and the order's notification keep the "
          "traceparent flags 00 of the request that made the order",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::string unsampled = "00-" + trace + "-00f067aa0ba902b7-00";
  const auto flags_of = [](const std::string& tp) { return tp.size() == 55 ? tp.substr(53) : tp; };
  std::vector<std::thread> clients;
  join_guard join{clients};
  std::string id;
  {
    auto d = daemon_for(sim, on_store(dir));
    sim.set_behavior({{"service", "payment"}, {"hang", true}});
    // Its reply never comes: the daemon is killed while the payment hangs.
    clients.emplace_back([port = d.port, unsampled] {
      request(port, "POST", "/api/v1/orders", order_body(), {{"traceparent", unsampled}});
    });
    REQUIRE(eventually([&] { return sim.requests("payment").size() == 1; }));
    const auto first = sim.requests("payment").at(0);
    id = header_of(first, "Idempotency-Key");
    REQUIRE(!id.empty());
    CHECK(flags_of(header_of(first, "traceparent")) == "00");
    d.proc.signal(SIGKILL);
    REQUIRE(d.proc.wait_exit(10s) == 128 + SIGKILL);
  }
  sim.reset_behavior("fast");
  sim.clear();

  auto d = daemon_for(sim, on_store(dir));
  // Resumed at start under the same key, with the flags stored with the order.
  std::string resumed;
  REQUIRE(eventually([&] {
    for (const auto& p : sim.requests("payment"))
      if (header_of(p, "Idempotency-Key") == id)
        resumed = header_of(p, "traceparent");
    return !resumed.empty();
  }));
  INFO("resumed payment traceparent " << resumed);
  CHECK(trace_id_of(resumed) == trace);
  CHECK(flags_of(resumed) == "00");
  REQUIRE(eventually([&] {
    auto g = d.get_order(id);
    return g.status == 200 && str(g.json, "status") == "waiting";
  }));

  // A status change without a traceparent: its notification goes out with the order's flags.
  REQUIRE(d.set_status(id, "preparation").status == 200);
  const auto notified = notification_traceparent(sim, id, "preparation");
  INFO("notification traceparent " << notified);
  CHECK(trace_id_of(notified) == trace);
  CHECK(flags_of(notified) == "00");
}

// --------------------------------------------------------------------------------------------

TEST_CASE("durability: a notification that spent its retries is listed failed by the admin "
          "outbox, put back by its retry endpoint, and survives a restart either way",
          "[e2e][durability][outbox]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  const httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  auto sets = on_store(dir, {"admin.token=s3cret", "services.notification.retry.max_retries=0",
                             "services.notification.circuit_breaker.failure_threshold=100"});
  std::string id, entry_id;
  {
    auto d = daemon_for(sim, sets);
    auto c = d.create_order(order_body());
    REQUIRE(c.status == 201);
    id = str(c.json, "id");
    sim.set_behavior({{"service", "notification"}, {"fixedStatus", 500}});
    REQUIRE(d.set_status(id, "preparation").status == 200);

    json::value listed;
    bool failed = eventually(
      [&] {
        auto r = d.get("/api/v1/admin/outbox?state=failed", auth);
        listed = r.json;
        return r.status == 200 && !r.json.at("entries").as_array().empty();
      },
      10s);
    INFO("failed entries: " << json::serialize(listed));
    REQUIRE(failed);
    const auto& entry = listed.at("entries").as_array().at(0);
    entry_id = str(entry, "id");
    CHECK(str(entry, "orderId") == id);
    CHECK(str(entry, "status") == "preparation");
    CHECK(str(entry, "state") == "failed");
    CHECK(num(entry.at("attempts")) == 1);
    CHECK(!str(entry, "lastError").empty());
    auto pending = d.get("/api/v1/admin/outbox?state=pending", auth);
    REQUIRE(pending.status == 200);
    CHECK(pending.json.at("entries").as_array().empty());
    check_problem(d.get("/api/v1/admin/outbox?state=failed"), 401, "unauthorized");
    CHECK(d.stop() == 0);
  }

  // The failed entry is still failed after a restart, not silently redelivered.
  sim.clear();
  sim.reset_behavior("fast");
  auto d = daemon_for(sim, sets);
  auto after = d.get("/api/v1/admin/outbox?state=failed", auth);
  REQUIRE(after.status == 200);
  REQUIRE(after.json.at("entries").as_array().size() == 1);
  CHECK(str(after.json.at("entries").as_array().at(0), "id") == entry_id);
  CHECK(sim.requests("notification").empty());

  check_problem(d.post("/api/v1/admin/outbox/ntf_unknown/retry", "", auth), 404, "not_found");
  auto retry = d.post("/api/v1/admin/outbox/" + entry_id + "/retry", "", auth);
  INFO("retry: " << retry.status << " " << retry.body);
  REQUIRE(retry.status == 202);
  CHECK(str(retry.json, "state") == "pending");
  CHECK(num(retry.json.at("attempts")) == 0);

  bool sent = eventually(
    [&] {
      auto g = d.get_order(id);
      return g.status == 200 && notifications_settled(g.json, 1);
    },
    10s);
  CHECK(sent);
  auto calls = sim.requests("notification");
  REQUIRE(calls.size() == 1);
  CHECK(header_of(calls[0], "Idempotency-Key") == id + ":preparation");
  CHECK(count_events(events_with(d, "", "outbox_retried"), "outbox_retried") == 1);
  auto again = d.post("/api/v1/admin/outbox/" + entry_id + "/retry", "", auth);
  check_problem(again, 409, "conflict");
}

TEST_CASE("durability: a file that is not the daemon's database is refused and left alone",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");

  auto refused = [&](const std::string& path) {
    const std::string bytes = read_bytes(path);
    REQUIRE(!bytes.empty());
    process p(daemon_bin(), daemon_args(sim, path));
    auto rc = p.wait_exit(10s);
    INFO("daemon output: " << p.output().substr(0, 3000));
    REQUIRE(rc.has_value());
    CHECK(*rc == 1);
    CHECK(p.output().find(path) != std::string::npos);
    INFO("directory: " << dir_listing(fs::path(path).parent_path().string()));
    CHECK(read_bytes(path) == bytes);
    CHECK(!fs::exists(path + "-wal"));
    CHECK(!fs::exists(path + "-journal"));
  };

  SECTION("a text file") {
    auto path = dir.write_file("coffeeshop.db", "this is a shopping list, not a database\n"
                                                "- beans\n- milk\n");
    refused(path);
  }
  SECTION("another application's SQLite database") {
    const std::string path = db_path(dir);
    {
      sqlite_handle db(path);
      REQUIRE(db.exec("PRAGMA application_id=12345; CREATE TABLE t(x); "
                      "INSERT INTO t VALUES ('keep me');") == "");
    }
    refused(path);
  }
}

// --------------------------------------------------------------------------------------------

TEST_CASE("durability: another process holding the database locked gives 503 "
          "store_unavailable, then the daemon recovers by itself",
          "[e2e][durability]") {
  temp_dir dir;
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, on_store(dir));
  auto first = d.create_order(order_body());
  REQUIRE(first.status == 201);
  const std::string first_id = str(first.json, "id");
  REQUIRE(d.get("/readyz").status == 200);

  {
    sqlite_handle lock(db_path(dir));
    REQUIRE(lock.exec("BEGIN EXCLUSIVE") == "");

    auto r = d.create_order(order_body("Espresso", "Single Shot", 1),
                            {{"Idempotency-Key", "locked-key"}});
    INFO("POST while locked: " << r.status << " " << r.body);
    REQUIRE(r.status != 201);
    CHECK(r.status == 503);
    CHECK(str(r.json, "errorType") == "store_unavailable");
    CHECK(r.has_header("Retry-After"));
    auto ready = d.get("/readyz");
    INFO("readyz while locked: " << ready.status << " " << ready.body);
    CHECK(ready.status == 503);
    // Reads still answer from what is readable.
    CHECK(d.get_order(first_id).status == 200);

    REQUIRE(lock.exec("COMMIT") == "");
  }

  CHECK(eventually([&] { return d.get("/readyz").status == 200; }, 10s));
  // Nothing was recorded for the refused create: its key makes a first order now.
  auto again = d.create_order(order_body("Espresso", "Single Shot", 1),
                              {{"Idempotency-Key", "locked-key"}});
  INFO("POST after release: " << again.status << " " << again.body);
  CHECK(again.status == 201);
  std::vector<std::string> listed;
  for (const auto& o : all_orders(d))
    listed.push_back(str(o, "id"));
  CHECK(listed == std::vector<std::string>{first_id, str(again.json, "id")});

  auto evs = events_with(d, "", "store_recovered");
  INFO("events: " << types_of(evs));
  long failed_at = -1, recovered_at = -1;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    auto t = str(evs[i], "eventType");
    if (t == "store_failed" && failed_at < 0)
      failed_at = static_cast<long>(i);
    if (t == "store_recovered" && failed_at >= 0 && recovered_at < 0)
      recovered_at = static_cast<long>(i);
  }
  CHECK(failed_at >= 0);
  CHECK(recovered_at > failed_at);
}
