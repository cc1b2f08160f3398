#include "coffeeshop/sim/simulator.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace json = boost::json;
using coffeeshop::sim::simulator;
using coffeeshop::sim::simulator_options;
using namespace std::chrono_literals;

namespace {

// A simulator on a free loopback port, stopped when the test ends.
struct running_sim {
  explicit running_sim(std::string profile = "fast") {
    simulator_options opts;
    opts.profile = std::move(profile);
    opts.seed = 42;
    opts.threads = 8;
    sim = std::make_unique<simulator>(opts);
    std::string error;
    auto p = sim->start("127.0.0.1", 0, error);
    INFO(error);
    REQUIRE(p);
    REQUIRE(*p > 0);
    REQUIRE(sim->port() == p);
    port = *p;
  }

  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(2s);
    c.set_read_timeout(5s);
    return c;
  }

  std::unique_ptr<simulator> sim;
  int port = 0;
};

json::value parse(const std::string& body) {
  json::error_code ec;
  auto v = json::parse(body, ec);
  INFO(body);
  REQUIRE_FALSE(ec);
  return v;
}

httplib::Result post_json(httplib::Client& c, const std::string& path, const std::string& body,
                          httplib::Headers headers = {}) {
  auto r = c.Post(path.c_str(), headers, body, "application/json");
  INFO(path << " -> " << httplib::to_string(r.error()));
  REQUIRE(r);
  return r;
}

json::value put_behavior(httplib::Client& c, const std::string& body, int expect_status = 200) {
  auto r = c.Put("/_sim/behavior", body, "application/json");
  REQUIRE(r);
  INFO(r->body);
  REQUIRE(r->status == expect_status);
  return parse(r->body);
}

json::value get_json(httplib::Client& c, const std::string& path) {
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return parse(r->body);
}

} // namespace

TEST_CASE("simulator: profile names", "[sim]") {
  for (auto name : {"trio", "fast", "down", "hang", "flaky", "slow"})
    CHECK(coffeeshop::sim::is_valid_profile(name));
  CHECK_FALSE(coffeeshop::sim::is_valid_profile("Trio"));
  CHECK_FALSE(coffeeshop::sim::is_valid_profile(""));
  CHECK_THROWS_AS(simulator(simulator_options{"sluggish", 1, 4, std::nullopt, false}), std::invalid_argument);
}

TEST_CASE("simulator: fast profile payment succeeds with a reference", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto r = post_json(
    c, "/api/v1/payment",
    R"({"orderId":"ord_1","amount":12.5,"currency":"USD","paymentMethod":"credit_card"})");
  CHECK(r->status == 200);
  auto body = parse(r->body).as_object();
  CHECK(body.at("success") == true);
  CHECK(body.at("amount").to_number<double>() == Approx(12.5));
  std::string ref(body.at("reference").as_string());
  CHECK(ref.rfind("pay_", 0) == 0);
  CHECK(ref.size() > 4);

  auto n = post_json(
    c, "/api/v1/notification",
    R"({"type":"order_status","orderId":"ord_1","status":"waiting","customerEmail":"a@b.c"})");
  CHECK(n->status == 200);
  CHECK(parse(n->body).at("success") == true);
}

TEST_CASE("simulator: trio-format and query-form bodies", "[sim]") {
  running_sim s;
  auto c = s.client();

  auto r = post_json(c, "/api/v1/payment", R"({"value":7.25})");
  CHECK(r->status == 200);
  CHECK(parse(r->body).at("amount").to_number<double>() == Approx(7.25));

  r = post_json(c, "/api/v1/payment?value=3.5", "");
  CHECK(r->status == 200);
  CHECK(parse(r->body).at("amount").to_number<double>() == Approx(3.5));

  r = post_json(c, "/api/v1/payment?value=abc", "");
  CHECK(r->status == 400);

  r = post_json(c, "/api/v1/notification", R"({"status":"ready"})");
  CHECK(r->status == 200);
  r = post_json(c, "/api/v1/notification?status=delivered", "");
  CHECK(r->status == 200);
  r = post_json(c, "/api/v1/notification?status=lost", "");
  CHECK(r->status == 400);

  auto log = get_json(c, "/_sim/requests").at("requests").as_array();
  REQUIRE(log.size() == 6);
  CHECK(log[1].at("query") == "value=3.5");
  CHECK(log[1].at("path") == "/api/v1/payment");
  CHECK(log[3].at("service") == "notification");
}

TEST_CASE("simulator: dapr invocation path", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto r = post_json(c, "/v1.0/invoke/payment-service/method/process-payment", R"({"value":2.0})");
  CHECK(r->status == 200);
  CHECK(parse(r->body).as_object().contains("reference"));

  // The method name decides before the app id.
  r = post_json(c, "/v1.0/invoke/payment-service/method/send-notification",
                R"({"status":"ready"})");
  CHECK(r->status == 200);
  CHECK_FALSE(parse(r->body).as_object().contains("reference"));

  r = post_json(c, "/v1.0/invoke/notification-service/method/notify", R"({"status":"bogus"})");
  CHECK(r->status == 400);

  r = post_json(c, "/v1.0/invoke/inventory/method/reserve", "{}");
  CHECK(r->status == 404);

  auto log = get_json(c, "/_sim/requests").at("requests").as_array();
  REQUIRE(log.size() == 3);
  CHECK(log[0].at("service") == "payment");
  CHECK(log[1].at("service") == "notification");
  CHECK(log[2].at("service") == "notification");
  CHECK(get_json(c, "/_sim/requests?service=payment").at("requests").as_array().size() == 1);
}

TEST_CASE("simulator: invalid notification status and bad JSON are 400", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto r = post_json(
    c, "/api/v1/notification",
    R"({"type":"order_status","orderId":"o","status":"pending_payment","customerEmail":"a@b.c"})");
  CHECK(r->status == 400);
  auto body = parse(r->body);
  CHECK(body.at("success") == false);
  CHECK(body.at("error") == "invalid status");

  r = post_json(c, "/api/v1/notification", "{not json");
  CHECK(r->status == 400);
  r = post_json(c, "/api/v1/payment", "[1,2]");
  CHECK(r->status == 400);
  r = post_json(c, "/api/v1/payment", R"({"orderId":"o","amount":-1})");
  CHECK(r->status == 400);
}

TEST_CASE("simulator: fixedStatus with retryAfter sends Retry-After", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto state = put_behavior(c, R"({"service":"payment","fixedStatus":503,"retryAfter":2})");
  CHECK(state.at("payment").at("fixedStatus") == 503);
  CHECK(state.at("payment").at("retryAfter") == 2);
  CHECK(state.at("notification").at("fixedStatus").is_null());

  auto r = post_json(c, "/api/v1/payment", R"({"value":1})");
  CHECK(r->status == 503);
  CHECK(r->get_header_value("Retry-After") == "2");
  CHECK(parse(r->body).at("success") == false);

  // Only payment was changed.
  CHECK(post_json(c, "/api/v1/notification", R"({"status":"ready"})")->status == 200);

  put_behavior(c, R"({"fixedStatus":null})");
  r = post_json(c, "/api/v1/payment", R"({"value":1})");
  CHECK(r->status == 200);
  CHECK_FALSE(r->has_header("Retry-After"));
}

TEST_CASE("simulator: random failures use failStatus and failureRate", "[sim]") {
  running_sim s;
  auto c = s.client();
  put_behavior(c, R"({"service":"notification","failureRate":1,"failStatus":429,"retryAfter":3})");
  auto r = post_json(c, "/api/v1/notification", R"({"status":"ready"})");
  CHECK(r->status == 429);
  CHECK(r->get_header_value("Retry-After") == "3");
  // A failed payment is no charge.
  put_behavior(c, R"({"service":"payment","failureRate":1})");
  r = post_json(c, "/api/v1/payment", R"({"value":1})", {{"Idempotency-Key", "k"}});
  CHECK(r->status == 500);
  CHECK_FALSE(r->has_header("Retry-After"));
  CHECK(get_json(c, "/_sim/ledger").at("charges") == 0);

  // Resetting to a profile clears the overrides.
  auto state = put_behavior(c, R"({"profile":"fast"})");
  CHECK(state.at("notification").at("failureRate").to_number<double>() == 0.0);
  CHECK(state.at("notification").at("failStatus") == 500);
  CHECK(post_json(c, "/api/v1/notification", R"({"status":"ready"})")->status == 200);
}

TEST_CASE("simulator: down profile answers 500 at once", "[sim]") {
  running_sim s("down");
  auto c = s.client();
  CHECK(post_json(c, "/api/v1/payment", R"({"value":1})")->status == 500);
  CHECK(post_json(c, "/api/v1/notification", R"({"status":"ready"})")->status == 500);
}

TEST_CASE("simulator: bad behaviour body is 400 naming the member", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto before = get_json(c, "/_sim/behavior");

  auto err = put_behavior(c, R"({"failureRate":1.5})", 400);
  CHECK(err.at("member") == "failureRate");
  CHECK(std::string(err.at("error").as_string()).find("failureRate") != std::string::npos);

  CHECK(put_behavior(c, R"({"latencyMs":[10,5]})", 400).at("member") == "latencyMs");
  CHECK(put_behavior(c, R"({"service":"coffee"})", 400).at("member") == "service");
  CHECK(put_behavior(c, R"({"profile":"sluggish"})", 400).at("member") == "profile");
  CHECK(put_behavior(c, R"({"fixedStatus":"503"})", 400).at("member") == "fixedStatus");
  CHECK(put_behavior(c, R"({"hang":1})", 400).at("member") == "hang");
  CHECK(put_behavior(c, R"({"failurerate":0.5})", 400).at("member") == "failurerate");
  CHECK(put_behavior(c, "not json", 400).at("member") == "body");

  // A rejected update changes nothing, even when its valid members came first.
  put_behavior(c, R"({"failureRate":0.5,"latencyMs":-1})", 400);
  CHECK(get_json(c, "/_sim/behavior") == before);
}

TEST_CASE("simulator: the first bad behaviour member in document order is reported", "[sim]") {
  running_sim s;
  auto c = s.client();
  auto unknown_first = put_behavior(c, R"({"hang":false,"bogus":1,"failureRate":1.5})", 400);
  CHECK(unknown_first.at("member") == "bogus");
  CHECK(unknown_first.at("error") == "bogus: unknown member");
  auto invalid_first = put_behavior(c, R"({"failureRate":1.5,"bogus":1})", 400);
  CHECK(invalid_first.at("member") == "failureRate");
  CHECK(invalid_first.at("error") == "failureRate: expected a number between 0 and 1");
}

TEST_CASE("simulator: ledger counts a charge once and a repeated Idempotency-Key as duplicate",
          "[sim]") {
  running_sim s;
  auto c = s.client();
  const std::string body =
    R"({"orderId":"ord_9","amount":4.5,"currency":"USD","paymentMethod":"credit_card"})";
  auto first = post_json(c, "/api/v1/payment", body, {{"Idempotency-Key", "ord_9"}});
  auto second = post_json(c, "/api/v1/payment", body, {{"Idempotency-Key", "ord_9"}});
  REQUIRE(first->status == 200);
  REQUIRE(second->status == 200);
  CHECK(parse(first->body).at("reference") == parse(second->body).at("reference"));

  // Without a key every success is a charge.
  post_json(c, "/api/v1/payment", R"({"value":1})");
  post_json(c, "/api/v1/payment", R"({"value":1})");

  auto ledger = get_json(c, "/_sim/ledger");
  CHECK(ledger.at("charges") == 3);
  CHECK(ledger.at("duplicates") == 1);
  auto payments = ledger.at("payments").as_array();
  REQUIRE(payments.size() == 3);
  CHECK(payments[0].at("idempotencyKey") == "ord_9");
  CHECK(payments[0].at("count") == 2);
  CHECK(payments[0].at("amount").to_number<double>() == Approx(4.5));
  CHECK(payments[1].at("idempotencyKey").is_null());

  auto del = c.Delete("/_sim/requests");
  REQUIRE(del);
  CHECK(del->status == 204);
  ledger = get_json(c, "/_sim/ledger");
  CHECK(ledger.at("charges") == 0);
  CHECK(ledger.at("payments").as_array().empty());
  CHECK(get_json(c, "/_sim/requests").at("requests").as_array().empty());

  // After a clear the key is new again.
  auto third = post_json(c, "/api/v1/payment", body, {{"Idempotency-Key", "ord_9"}});
  CHECK(parse(third->body).at("reference") != parse(first->body).at("reference"));
}

TEST_CASE("simulator: requests log records headers and body", "[sim]") {
  running_sim s;
  auto c = s.client();
  const std::string tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const std::string body =
    R"({"type":"order_status","orderId":"ord_2","status":"ready","customerEmail":"a@b.c"})";
  post_json(c, "/api/v1/notification", body, {{"traceparent", tp}});

  auto log = get_json(c, "/_sim/requests").at("requests").as_array();
  REQUIRE(log.size() == 1);
  const auto& rec = log[0].as_object();
  CHECK(rec.at("seq") == 1);
  CHECK(rec.at("method") == "POST");
  CHECK(rec.at("path") == "/api/v1/notification");
  CHECK(rec.at("query") == "");
  CHECK(rec.at("body").as_string() == body);
  CHECK(rec.at("service") == "notification");
  CHECK(rec.at("receivedAt").as_string().size() == 24); // 2026-11-24T10:15:30.123Z
  const auto& headers = rec.at("headers").as_object();
  REQUIRE(headers.contains("traceparent"));
  CHECK(headers.at("traceparent").as_string() == tp);
  CHECK(headers.at("Content-Type") == "application/json");
  CHECK_FALSE(headers.contains("REMOTE_ADDR"));
}

TEST_CASE("simulator: a port in use is an error", "[sim]") {
  running_sim s;
  simulator other(simulator_options{"fast", 1, 2, std::nullopt, false});
  std::string error;
  CHECK_FALSE(other.start("127.0.0.1", s.port, error));
  CHECK(error.find(std::to_string(s.port)) != std::string::npos);
  CHECK_FALSE(other.port());

  // And a started simulator cannot start twice.
  CHECK_FALSE(s.sim->start("127.0.0.1", 0, error));
}

namespace {

// Sends one payment from another thread; returns the reply status (or -1 for no reply).
std::future<int> post_async(int port) {
  return std::async(std::launch::async, [port] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(5s);
    auto r = c.Post("/api/v1/payment", R"({"value":1})", "application/json");
    return r ? r->status : -1;
  });
}

// Polls until the simulator has recorded `n` calls, for at most 5 s.
bool wait_for_requests(running_sim& s, std::size_t n) {
  auto c = s.client();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/_sim/requests");
    if (r && r->status == 200 && json::parse(r->body).at("requests").as_array().size() >= n)
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

} // namespace

TEST_CASE("simulator: hang holds a call until the behaviour changes", "[sim]") {
  running_sim s("hang");
  auto pending = post_async(s.port);
  REQUIRE(wait_for_requests(s, 1));
  CHECK(pending.wait_for(50ms) == std::future_status::timeout);

  auto c = s.client();
  put_behavior(c, R"({"profile":"fast"})");
  REQUIRE(pending.wait_for(3s) == std::future_status::ready);
  CHECK(pending.get() == 200);
}

TEST_CASE("simulator: stop() releases a hung call promptly", "[sim]") {
  running_sim s("hang");
  auto pending = post_async(s.port);
  REQUIRE(wait_for_requests(s, 1));

  const auto t0 = std::chrono::steady_clock::now();
  auto stopping = std::async(std::launch::async, [&] { s.sim->stop(); });
  REQUIRE(stopping.wait_for(3s) == std::future_status::ready);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 2s);
  REQUIRE(pending.wait_for(3s) == std::future_status::ready);
  CHECK(pending.get() == 503);

  s.sim->stop(); // idempotent
}

TEST_CASE("simulator: stop() is prompt with an idle keep-alive connection", "[sim]") {
  running_sim s;
  httplib::Client c("127.0.0.1", s.port);
  c.set_keep_alive(true);
  auto r = c.Post("/api/v1/payment", R"({"value":1})", "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);

  const auto t0 = std::chrono::steady_clock::now();
  auto stopping = std::async(std::launch::async, [&] { s.sim->stop(); });
  REQUIRE(stopping.wait_for(10s) == std::future_status::ready);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("simulator: latency is cut short by stop()", "[sim]") {
  running_sim s;
  auto c = s.client();
  put_behavior(c, R"({"service":"payment","latencyMs":[60000,60000]})");
  auto pending = post_async(s.port);
  REQUIRE(wait_for_requests(s, 1));
  auto stopping = std::async(std::launch::async, [&] { s.sim->stop(); });
  REQUIRE(stopping.wait_for(3s) == std::future_status::ready);
  REQUIRE(pending.wait_for(3s) == std::future_status::ready);
  CHECK(pending.get() == 503);
}

TEST_CASE("simulator: keep-alive connections serve many requests, large bodies included", "[sim]") {
  running_sim s;
  httplib::Client c("127.0.0.1", s.port);
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);
  c.set_read_timeout(5s);
  // Larger than the server's 4 KiB read buffer, so the body arrives over several reads.
  const std::string email(20000, 'x');
  const std::string big =
    R"({"type":"order_status","orderId":"o","status":"ready","customerEmail":")" + email + "\"}";
  for (int i = 0; i < 20; ++i) {
    auto r = c.Post("/api/v1/notification", i % 2 ? big : R"({"status":"ready"})",
                    "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  auto log = get_json(c, "/_sim/requests").at("requests").as_array();
  REQUIRE(log.size() == 20);
  CHECK(log[1].at("body").as_string().size() == big.size());
}

TEST_CASE("simulator: concurrent calls are all recorded and charged", "[sim]") {
  running_sim s;
  constexpr int clients = 4;
  constexpr int calls = 50;
  std::vector<std::future<int>> workers;
  for (int w = 0; w < clients; ++w) {
    workers.push_back(std::async(std::launch::async, [port = s.port, w] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_read_timeout(5s);
      int ok = 0;
      for (int i = 0; i < calls; ++i) {
        // Every call uses its own key except the last, which replays this worker's first.
        const std::string key = "w" + std::to_string(w) + "-" +
                                std::to_string(i == calls - 1 ? 0 : i);
        auto r = c.Post("/api/v1/payment", httplib::Headers{{"Idempotency-Key", key}},
                        R"({"value":2.5})", "application/json");
        if (r && r->status == 200)
          ++ok;
      }
      return ok;
    }));
  }
  int ok = 0;
  for (auto& f : workers)
    ok += f.get();
  CHECK(ok == clients * calls);

  auto c = s.client();
  auto ledger = get_json(c, "/_sim/ledger");
  CHECK(ledger.at("charges") == clients * (calls - 1));
  CHECK(ledger.at("duplicates") == clients);
  CHECK(get_json(c, "/_sim/requests").at("requests").as_array().size() ==
        std::size_t(clients * calls));
}

TEST_CASE("simulator: a held call whose caller gave up frees its thread", "[sim]") {
  // Two worker threads only: if held calls kept them after their callers timed out, the
  // control API below could not be served.
  simulator_options opts;
  opts.profile = "hang";
  opts.seed = 1;
  opts.threads = 2;
  simulator sim(opts);
  std::string error;
  auto port = sim.start("127.0.0.1", 0, error);
  REQUIRE(port);

  std::vector<std::future<int>> impatient;
  for (int i = 0; i < 3; ++i) {
    impatient.push_back(std::async(std::launch::async, [p = *port] {
      httplib::Client c("127.0.0.1", p);
      c.set_read_timeout(300ms);
      auto r = c.Post("/api/v1/payment", R"({"value":1})", "application/json");
      return r ? r->status : -1;
    }));
  }
  for (auto& f : impatient)
    CHECK(f.get() == -1); // timed out while held

  httplib::Client c("127.0.0.1", *port);
  c.set_read_timeout(5s);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.Get("/_sim/behavior");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE("simulator: with a control token the control routes need it and e-mails are masked",
          "[sim]") {
  simulator_options opts;
  opts.profile = "fast";
  opts.seed = 42;
  opts.threads = 4;
  opts.control_token = "0123456789abcdef";
  opts.mask_emails = true;
  simulator sim(opts);
  std::string error;
  auto port = sim.start("127.0.0.1", 0, error);
  REQUIRE(port);
  httplib::Client c("127.0.0.1", *port);
  c.set_read_timeout(5s);
  auto n = post_json(
    c, "/api/v1/notification",
    R"({"type":"order_status","orderId":"ord_1","status":"waiting","customerEmail":"ana@example.com"})");
  CHECK(n->status == 200);

  for (const char* path : {"/_sim/requests", "/_sim/ledger", "/_sim/behavior"}) {
    INFO(path);
    auto open = c.Get(path);
    REQUIRE(open);
    CHECK(open->status == 401);
    auto wrong = c.Get(path, {{"Authorization", "Bearer 0123456789abcdeX"}});
    REQUIRE(wrong);
    CHECK(wrong->status == 401);
  }
  auto put = c.Put("/_sim/behavior", R"({"failureRate":1.0})", "application/json");
  REQUIRE(put);
  CHECK(put->status == 401);
  auto del = c.Delete("/_sim/requests");
  REQUIRE(del);
  CHECK(del->status == 401);

  auto logged = c.Get("/_sim/requests", {{"Authorization", "Bearer 0123456789abcdef"}});
  REQUIRE(logged);
  REQUIRE(logged->status == 200);
  CHECK(logged->body.find("ana@example.com") == std::string::npos);
  auto log = parse(logged->body).at("requests").as_array();
  REQUIRE(log.size() == 1);
  auto body = parse(std::string(log[0].at("body").as_string()));
  CHECK(body.at("customerEmail") == "a***@example.com");
  CHECK(body.at("status") == "waiting");
  sim.stop();
}

TEST_CASE("simulator: without a control token the log keeps what was sent", "[sim]") {
  running_sim s;
  auto c = s.client();
  post_json(
    c, "/api/v1/notification",
    R"({"type":"order_status","orderId":"ord_1","status":"ready","customerEmail":"ana@example.com"})");
  auto log = get_json(c, "/_sim/requests").at("requests").as_array();
  REQUIRE(log.size() == 1);
  CHECK(std::string(log[0].at("body").as_string()).find("ana@example.com") != std::string::npos);
}
