// End-to-end tests of the HTTP API and the command line (CONTRACT §1, §3.1-§3.6, §4).
// Each TEST_CASE starts its own daemon (and simulator where the upstream matters).

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <regex>
#include <set>
#include <thread>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

/// Money as integer cents (the wire carries JSON numbers).
long long cents(const json::value& v) { return std::llround(num(v) * 100.0); }

const std::regex rfc3339_ms{R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)"};
const std::regex hex32{"[0-9a-f]{32}"};

daemon_process fast_daemon(std::vector<std::string> extra = {}) {
  std::vector<std::string> sets{"simulator.profile=fast"};
  for (auto& s : extra)
    sets.push_back(std::move(s));
  return start_daemon(std::move(sets));
}

json::value created(const daemon_process& d, const std::string& body = order_body(),
                    httplib::Headers headers = {}) {
  auto r = d.create_order(body, std::move(headers));
  INFO("create: " << r.status << " " << r.error << " " << r.body);
  REQUIRE(r.status == 201);
  REQUIRE(r.json.is_object());
  return r.json;
}

std::string id_of(const json::value& order) { return str(order, "id"); }

/// The notification entry of an order for `status`, or nullptr.
const json::object* notification_for(const json::value& order, const std::string& status) {
  const auto* list = order.as_object().if_contains("notifications");
  if (!list || !list->is_array())
    return nullptr;
  for (const auto& n : list->get_array())
    if (n.is_object() && str(n, "status") == status)
      return &n.get_object();
  return nullptr;
}

std::vector<std::string> error_fields(const http_result& r) {
  std::vector<std::string> out;
  if (!r.json.is_object())
    return out;
  const auto* errors = r.json.get_object().if_contains("errors");
  if (!errors || !errors->is_array())
    return out;
  for (const auto& e : errors->get_array()) {
    out.push_back(str(e, "field"));
    CHECK(!str(e, "message").empty());
  }
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

json::array events_of(const daemon_process& d, const std::string& query = "") {
  auto r = d.get("/api/v1/events" + query);
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.json.is_object());
  REQUIRE(r.json.as_object().contains("events"));
  return r.json.at("events").as_array();
}

bool has_event(const json::array& events, const std::string& type, const std::string& order_id) {
  for (const auto& e : events) {
    if (str(e, "eventType") != type)
      continue;
    const auto* meta = e.as_object().if_contains("metadata");
    if (meta && str(*meta, "orderId") == order_id)
      return true;
  }
  return false;
}

/// Switches the simulator's payment service to hang and starts POST /api/v1/orders (with
/// `headers`) in the background; returns once the simulator holds that payment call.
/// Answer it with sim.set_behavior({{"service", "payment"}, {"hang", false}}).
std::future<http_result> order_held_upstream(const daemon_process& d, const sim_process& sim,
                                             httplib::Headers headers = {}) {
  sim.set_behavior({{"service", "payment"}, {"hang", true}});
  auto first = std::async(std::launch::async,
                          [&d, headers] { return d.create_order(order_body(), headers); });
  REQUIRE(eventually([&] { return sim.requests("payment").size() == 1; }));
  return first;
}

/// Runs coffeeshopd with `args` to completion (for CLI checks).
struct finished {
  int status = -1;
  std::string out;
  std::string err;
};

finished run_cli(std::vector<std::string> args,
                 std::vector<std::pair<std::string, std::string>> env = {},
                 std::chrono::milliseconds timeout = 20s) {
  process p(daemon_bin(), std::move(args), std::move(env));
  auto st = p.wait_exit(timeout);
  INFO("output: " << p.output());
  REQUIRE(st.has_value());
  return finished{*st, p.stdout_text(), p.stderr_text()};
}

const char* valid_traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const char* valid_trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
const char* valid_span_id = "00f067aa0ba902b7";

} // namespace

// -- §3.1 menu --------------------------------------------------------------------

TEST_CASE("api: menu lists the built-in catalogue with prices", "[e2e][api]") {
  auto d = fast_daemon();
  auto r = d.get("/api/v1/menu");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").rfind("application/json", 0) == 0);
  REQUIRE(r.json.is_object());
  CHECK(str(r.json, "currency") == "USD");
  REQUIRE(r.json.at("products").is_array());

  // name -> (price cents, {variation -> delta cents})
  std::map<std::string, std::pair<long long, std::map<std::string, long long>>> expected{
    {"Latte", {400, {{"Pumpkin Spice", 50}, {"Vanilla", 30}, {"Hazelnut", 40}}}},
    {"Espresso", {250, {{"Single Shot", 0}, {"Double Shot", 100}}}},
    {"Macchiato", {400, {{"Caramel", 50}, {"Vanilla", 30}}}},
    {"Iced Coffee", {350, {{"Regular", 0}, {"Sweetened", 30}, {"Extra Ice", 20}}}},
    {"Donuts", {200, {{"Glazed", 0}, {"Jelly", 30}, {"Boston Cream", 50}}}},
  };
  std::map<std::string, std::pair<long long, std::map<std::string, long long>>> actual;
  for (const auto& p : r.json.at("products").as_array()) {
    REQUIRE(p.is_object());
    auto& entry = actual[str(p, "name")];
    entry.first = cents(p.at("price"));
    REQUIRE(p.at("variations").is_array());
    for (const auto& v : p.at("variations").as_array())
      entry.second[str(v, "name")] = cents(v.at("priceDelta"));
  }
  CHECK(actual == expected);
}

// -- §3.2 create ------------------------------------------------------------------

TEST_CASE("api: create order answers 201 with Location and the priced order", "[e2e][api]") {
  auto d = fast_daemon();
  auto r = d.create_order(order_body("Latte", "Vanilla", 2));
  INFO(r.body);
  REQUIRE(r.status == 201);
  CHECK(r.header("Content-Type").rfind("application/json", 0) == 0);
  const auto& o = r.json;
  REQUIRE(o.is_object());
  auto id = id_of(o);
  REQUIRE(!id.empty());
  CHECK(r.header("Location") == "/api/v1/orders/" + id);
  CHECK(str(o, "status") == "waiting");
  CHECK(cents(o.at("total")) == 860);
  CHECK(str(o, "currency") == "USD");
  CHECK(str(o, "customerEmail") == "ana@example.com");
  CHECK(str(o, "paymentMethod") == "credit_card");
  REQUIRE(o.at("items").as_array().size() == 1);
  const auto& item = o.at("items").as_array()[0];
  CHECK(str(item, "product") == "Latte");
  CHECK(str(item, "variation") == "Vanilla");
  CHECK(num(item.at("quantity")) == 2);
  CHECK(cents(item.at("unitPrice")) == 430);
  CHECK(cents(item.at("lineTotal")) == 860);
  const auto& pay = o.at("payment");
  CHECK(num(pay.at("attempts")) == 1);
  CHECK(!str(pay, "reference").empty());
  CHECK(!str(pay, "status").empty());
  CHECK(o.at("notifications").is_array());
  CHECK(std::regex_match(str(o, "createdAt"), rfc3339_ms));
  CHECK(std::regex_match(str(o, "updatedAt"), rfc3339_ms));
  CHECK(std::regex_match(str(o, "traceId"), hex32));
  CHECK(trace_id_of(r.header("traceparent")) == str(o, "traceId"));
}

TEST_CASE(
  "api: create order prices several lines in integer cents, defaults and case-insensitive names",
  "[e2e][api]") {
  auto d = fast_daemon();
  // 3 x Espresso Double Shot (3.50) + 1 x Donuts Glazed (2.00) + 7 x Iced Coffee Extra Ice (3.70)
  // = 10.50 + 2.00 + 25.90 = 38.40; no paymentMethod/currency: the defaults apply.
  auto body = R"({"customerEmail":"bo@example.com","items":[
      {"product":"espresso","variation":"DOUBLE SHOT","quantity":3},
      {"product":"Donuts","variation":"Glazed","quantity":1},
      {"product":"Iced Coffee","variation":"extra ice","quantity":7}]})";
  auto o = created(d, body);
  CHECK(cents(o.at("total")) == 3840);
  CHECK(str(o, "paymentMethod") == "credit_card");
  CHECK(str(o, "currency") == "USD");
  const auto& items = o.at("items").as_array();
  REQUIRE(items.size() == 3);
  CHECK(str(items[0], "product") == "Espresso");
  CHECK(str(items[0], "variation") == "Double Shot");
  CHECK(cents(items[0].at("unitPrice")) == 350);
  CHECK(cents(items[0].at("lineTotal")) == 1050);
  CHECK(cents(items[2].at("lineTotal")) == 2590);
}

// -- §3.3 read --------------------------------------------------------------------

TEST_CASE("api: get order by id, unknown id is 404", "[e2e][api]") {
  auto d = fast_daemon();
  auto o = created(d);
  auto r = d.get_order(id_of(o));
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(id_of(r.json) == id_of(o));
  CHECK(cents(r.json.at("total")) == cents(o.at("total")));
  CHECK(str(r.json, "createdAt") == str(o, "createdAt"));

  check_problem(d.get_order("ord_does_not_exist"), 404, "not_found");
}

TEST_CASE("api: list orders pages oldest first through next", "[e2e][api]") {
  auto d = fast_daemon();
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(id_of(created(d, order_body("Latte", "Vanilla", i + 1))));

  std::vector<std::string> seen;
  std::string query = "/api/v1/orders?limit=2";
  for (int page = 0; page < 10; ++page) {
    auto r = d.get(query);
    INFO(query << " -> " << r.body);
    REQUIRE(r.status == 200);
    REQUIRE(r.json.is_object());
    const auto& orders = r.json.at("orders").as_array();
    CHECK(orders.size() <= 2);
    for (const auto& o : orders)
      seen.push_back(id_of(o));
    const auto& next = r.json.at("next");
    if (next.is_null())
      break;
    REQUIRE(next.is_string());
    query = "/api/v1/orders?limit=2&after=" + std::string(next.get_string());
  }
  CHECK(seen == ids);

  auto all = d.get("/api/v1/orders");
  REQUIRE(all.status == 200);
  CHECK(all.json.at("orders").as_array().size() == 5);
  CHECK(all.json.at("next").is_null());

  auto max = d.get("/api/v1/orders?limit=500");
  CHECK(max.status == 200);
}

TEST_CASE("api: list orders filters by status and validates its parameters", "[e2e][api]") {
  auto d = fast_daemon();
  auto a = id_of(created(d));
  auto b = id_of(created(d));
  auto c = id_of(created(d));
  REQUIRE(d.set_status(b, "preparation").status == 200);

  auto prep = d.get("/api/v1/orders?status=preparation");
  INFO(prep.body);
  REQUIRE(prep.status == 200);
  REQUIRE(prep.json.at("orders").as_array().size() == 1);
  CHECK(id_of(prep.json.at("orders").as_array()[0]) == b);

  auto waiting = d.get("/api/v1/orders?status=waiting");
  REQUIRE(waiting.status == 200);
  std::vector<std::string> w;
  for (const auto& o : waiting.json.at("orders").as_array())
    w.push_back(id_of(o));
  CHECK(w == std::vector<std::string>{a, c});

  auto none = d.get("/api/v1/orders?status=delivered");
  REQUIRE(none.status == 200);
  CHECK(none.json.at("orders").as_array().empty());

  for (const char* bad : {"0", "501", "x", "-1", "2.5"}) {
    INFO("limit=" << bad);
    auto r = d.get(std::string("/api/v1/orders?limit=") + bad);
    check_problem(r, 422, "validation");
    CHECK(contains(error_fields(r), "limit"));
  }
  auto r = d.get("/api/v1/orders?status=brewing");
  check_problem(r, 422, "validation");
  CHECK(contains(error_fields(r), "status"));
}

// -- §3.4 status ------------------------------------------------------------------

TEST_CASE("api: status walks waiting-preparation-ready-delivered and each notification is sent",
          "[e2e][api]") {
  auto d = fast_daemon();
  auto id = id_of(created(d));
  for (const char* s : {"preparation", "ready", "delivered"}) {
    INFO("to " << s);
    auto r = d.set_status(id, s);
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(str(r.json, "status") == s);
    CHECK(id_of(r.json) == id);
    CHECK(notification_for(r.json, s) != nullptr); // queued (pending) or already sent
  }
  // (The initial "waiting" status needs no notification: the customer just placed the order.)
  for (const char* s : {"preparation", "ready", "delivered"}) {
    INFO("notification " << s);
    std::string last;
    bool sent = eventually([&] {
      auto r = d.get_order(id);
      last = r.body;
      auto* n = r.status == 200 ? notification_for(r.json, s) : nullptr;
      return n && str(json::value(*n), "state") == "sent";
    });
    INFO(last);
    CHECK(sent);
  }
  auto final = d.get_order(id);
  CHECK(str(final.json, "status") == "delivered");
}

TEST_CASE("api: a wrong status step is 409 with currentStatus and allowed", "[e2e][api]") {
  auto d = fast_daemon();
  auto id = id_of(created(d));

  auto r = d.set_status(id, "ready");
  check_problem(r, 409, "conflict");
  CHECK(str(r.json, "currentStatus") == "waiting");
  REQUIRE(r.json.as_object().contains("allowed"));
  std::set<std::string> allowed;
  for (const auto& a : r.json.at("allowed").as_array())
    allowed.insert(std::string(a.as_string()));
  CHECK(allowed == std::set<std::string>{"preparation", "canceled"});

  REQUIRE(d.set_status(id, "preparation").status == 200);
  auto back = d.set_status(id, "waiting");
  check_problem(back, 409, "conflict");
  CHECK(str(back.json, "currentStatus") == "preparation");

  // Internal statuses cannot be set by a client.
  auto internal = d.set_status(id, "payment_failed");
  INFO(internal.body);
  CHECK((internal.status == 409 || internal.status == 422));

  REQUIRE(d.set_status(id, "ready").status == 200);
  REQUIRE(d.set_status(id, "delivered").status == 200);
  auto after = d.set_status(id, "canceled");
  check_problem(after, 409, "conflict");
  CHECK(str(after.json, "currentStatus") == "delivered");
  CHECK(after.json.at("allowed").as_array().empty());
}

TEST_CASE("api: status change errors: unknown status 422, unknown order 404, bad bodies",
          "[e2e][api]") {
  auto d = fast_daemon();
  auto id = id_of(created(d));

  auto unknown = d.set_status(id, "brewing");
  check_problem(unknown, 422, "validation");
  CHECK(contains(error_fields(unknown), "status"));

  check_problem(d.set_status("ord_nope", "preparation"), 404, "not_found");

  check_problem(d.patch("/api/v1/orders/" + id + "/status", "{not json"), 400, "malformed_request");
  check_problem(d.request("PATCH", "/api/v1/orders/" + id + "/status", R"({"status":"ready"})", {},
                          "text/plain"),
                415, "unsupported_media_type");
  auto missing = d.patch("/api/v1/orders/" + id + "/status", "{}");
  check_problem(missing, 422, "validation");
  CHECK(contains(error_fields(missing), "status"));

  // The order is untouched by all of that.
  CHECK(str(d.get_order(id).json, "status") == "waiting");
}

TEST_CASE("api: waiting order can be canceled", "[e2e][api]") {
  auto d = fast_daemon();
  auto id = id_of(created(d));
  auto r = d.set_status(id, "canceled");
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(str(r.json, "status") == "canceled");
  CHECK(eventually([&] {
    auto o = d.get_order(id);
    auto* n = notification_for(o.json, "canceled");
    return n && str(json::value(*n), "state") == "sent";
  }));
  check_problem(d.set_status(id, "preparation"), 409, "conflict");
}

// -- errors -----------------------------------------------------------------------

TEST_CASE("api: a body that is not JSON is 400 malformed_request", "[e2e][api]") {
  auto d = fast_daemon();
  for (const char* body : {"{not json", "", "{\"items\": [", "nul"}) {
    INFO("body: " << body);
    check_problem(d.create_order(body), 400, "malformed_request");
  }
  CHECK(d.get("/api/v1/orders").json.at("orders").as_array().empty());
}

TEST_CASE("api: a body that is not application/json is 415", "[e2e][api]") {
  auto d = fast_daemon();
  check_problem(d.request("POST", "/api/v1/orders", order_body(), {}, "text/plain"), 415,
                "unsupported_media_type");
  check_problem(d.request("POST", "/api/v1/orders", order_body(), {}, "application/xml"), 415,
                "unsupported_media_type");
  // No Content-Type at all.
  check_problem(d.request("POST", "/api/v1/orders", order_body(), {}, ""), 415,
                "unsupported_media_type");
  // Parameters and case do not matter.
  CHECK(d.request("POST", "/api/v1/orders", order_body(), {}, "Application/JSON; charset=utf-8")
          .status == 201);
}

TEST_CASE("api: a body over http.max_body_bytes is 413 payload_too_large", "[e2e][api]") {
  auto d = fast_daemon({"http.max_body_bytes=1024"});
  std::string padding(2000, ' ');
  auto big = "{\"customerEmail\":\"ana@example.com\"," + padding +
             "\"items\":[{\"product\":\"Latte\",\"variation\":\"Vanilla\",\"quantity\":1}]}";
  check_problem(d.create_order(big), 413, "payload_too_large", /*require_traceparent=*/false);
  // Just under the limit still works.
  CHECK(d.create_order(order_body()).status == 201);
  CHECK(d.get("/api/v1/orders").json.at("orders").as_array().size() == 1);
}

TEST_CASE("api: invalid order bodies are 422 validation naming the field", "[e2e][api]") {
  auto d = fast_daemon();
  struct bad_case {
    const char* body;
    const char* field;
  };
  const bad_case cases[] = {
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":0}]})",
     "items[0].quantity"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":101}]})",
     "items[0].quantity"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":"two"}]})",
     "items[0].quantity"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla"}]})",
     "items[0].quantity"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Tea","quantity":1}]})",
     "items[0].product"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Mint","quantity":1}]})",
     "items[0].variation"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","quantity":1}]})",
     "items[0].variation"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Donuts","variation":"Glazed","quantity":1},{"product":"Latte","variation":"Vanilla","quantity":-3}]})",
     "items[1].quantity"},
    {R"({"customerEmail":"ana@example.com"})", "items"},
    {R"({"customerEmail":"ana@example.com","items":[]})", "items"},
    {R"({"customerEmail":"ana@example.com","items":"Latte"})", "items"},
    {R"({"items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})", "customerEmail"},
    {R"({"customerEmail":"not-an-email","items":[{"product":"Latte","variation":"Vanilla","quantity":1}]})",
     "customerEmail"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":1}],"currency":"EUR"})",
     "currency"},
    {R"({"customerEmail":"ana@example.com","items":[{"product":"Latte","variation":"Vanilla","quantity":1}],"paymentMethod":"gold"})",
     "paymentMethod"},
  };
  for (const auto& c : cases) {
    INFO("body: " << c.body);
    auto r = d.create_order(c.body);
    check_problem(r, 422, "validation");
    auto fields = error_fields(r);
    INFO("fields: " << r.body);
    CHECK(contains(fields, c.field));
  }

  // 51 items.
  json::array items;
  for (int i = 0; i < 51; ++i)
    items.push_back(json::object{{"product", "Donuts"}, {"variation", "Glazed"}, {"quantity", 1}});
  auto many = d.create_order(
    json::serialize(json::object{{"customerEmail", "ana@example.com"}, {"items", items}}));
  check_problem(many, 422, "validation");
  CHECK(contains(error_fields(many), "items"));

  // Several errors at once are all reported.
  auto multi = d.create_order(
    R"({"customerEmail":"x","items":[{"product":"Latte","variation":"Vanilla","quantity":0}]})");
  check_problem(multi, 422, "validation");
  auto fields = error_fields(multi);
  CHECK(contains(fields, "customerEmail"));
  CHECK(contains(fields, "items[0].quantity"));

  // A JSON value that is not an object.
  check_problem(d.create_order("[1,2]"), 422, "validation");

  // Idempotency-Key longer than 255 characters.
  auto long_key = d.create_order(order_body(), {{"Idempotency-Key", std::string(256, 'k')}});
  check_problem(long_key, 422, "validation");
  CHECK(contains(error_fields(long_key), "Idempotency-Key"));

  // Nothing was created.
  CHECK(d.get("/api/v1/orders").json.at("orders").as_array().empty());
}

TEST_CASE("api: unknown route is 404, wrong method is 405", "[e2e][api]") {
  auto d = fast_daemon();
  check_problem(d.get("/api/v1/nothing-here"), 404, "not_found");
  check_problem(d.get("/index.html"), 404, "not_found");
  check_problem(d.post("/api/v1/unknown", "{}"), 404, "not_found");

  auto del = d.request("DELETE", "/api/v1/orders");
  check_problem(del, 405, "method_not_allowed");
  CHECK(del.header("Allow").find("GET") != std::string::npos);
  CHECK(del.header("Allow").find("POST") != std::string::npos);

  auto put = d.request("PUT", "/api/v1/menu", "{}");
  check_problem(put, 405, "method_not_allowed");
  CHECK(put.header("Allow").find("GET") != std::string::npos);

  check_problem(d.request("POST", "/healthz", "{}"), 405, "method_not_allowed");
}

TEST_CASE("api: replies httplib answers itself (413) carry traceparent too (CONTRACT §3)",
          "[e2e][api]") {
  auto d = fast_daemon({"http.max_body_bytes=1024"});
  auto r = d.create_order(std::string(2000, ' ') + order_body(),
                          {{"traceparent", valid_traceparent}});
  INFO(r.body);
  REQUIRE(r.status == 413);
  CHECK(trace_id_of(r.header("traceparent")) == valid_trace_id);
  CHECK(str(r.json, "traceId") == valid_trace_id);
}

// -- idempotency ------------------------------------------------------------------

TEST_CASE("api: idempotent replay returns the same order and charges once", "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  httplib::Headers key{{"Idempotency-Key", "key-123"}};

  auto first = d.create_order(order_body(), key);
  INFO(first.body);
  REQUIRE(first.status == 201);
  CHECK(!first.has_header("Idempotency-Replayed"));
  auto id = id_of(first.json);

  auto again = d.create_order(order_body(), key);
  INFO(again.body);
  REQUIRE(again.status == 200);
  CHECK(again.header("Idempotency-Replayed") == "true");
  CHECK(id_of(again.json) == id);
  CHECK(str(again.json, "status") == "waiting");

  auto ledger = sim.ledger();
  INFO(json::serialize(ledger));
  CHECK(num(ledger.at("charges")) == 1);
  CHECK(num(ledger.at("duplicates")) == 0);
  REQUIRE(ledger.at("payments").as_array().size() == 1);
  CHECK(str(ledger.at("payments").as_array()[0], "idempotencyKey") == id);
  CHECK(sim.requests("payment").size() == 1);

  // Same key, another body.
  auto other = d.create_order(order_body("Espresso", "Single Shot", 1), key);
  check_problem(other, 422, "validation");
  CHECK(contains(error_fields(other), "Idempotency-Key"));
  CHECK(sim.requests("payment").size() == 1);

  // Another key is another order.
  auto second = d.create_order(order_body(), {{"Idempotency-Key", "key-456"}});
  REQUIRE(second.status == 201);
  CHECK(id_of(second.json) != id);
  CHECK(num(sim.ledger().at("charges")) == 2);
}

TEST_CASE("api: after a failed payment the same idempotency key retries the same order",
          "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  httplib::Headers key{{"Idempotency-Key", "retry-me"}};

  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 402}});
  auto declined = d.create_order(order_body(), key);
  check_problem(declined, 402, "payment_declined");
  auto id = str(declined.json, "orderId");
  REQUIRE(!id.empty());
  CHECK(str(d.get_order(id).json, "status") == "payment_failed");

  sim.reset_behavior("fast");
  auto retried = d.create_order(order_body(), key);
  INFO(retried.body);
  REQUIRE(retried.status == 201);
  CHECK(id_of(retried.json) == id);
  CHECK(str(retried.json, "status") == "waiting");
  CHECK(num(retried.json.at("payment").at("attempts")) >= 1);
  CHECK(num(sim.ledger().at("charges")) == 1);
  auto payments = sim.requests("payment");
  REQUIRE(payments.size() == 2);
  for (const auto& p : payments)
    CHECK(header_of(p, "Idempotency-Key") == id);

  // And now it replays.
  auto replay = d.create_order(order_body(), key);
  CHECK(replay.status == 200);
  CHECK(replay.header("Idempotency-Replayed") == "true");
  CHECK(id_of(replay.json) == id);
  CHECK(d.get("/api/v1/orders").json.at("orders").as_array().size() == 1);
}

TEST_CASE("api: the same idempotency key while the first request runs is 409 conflict",
          "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  httplib::Headers key{{"Idempotency-Key", "busy-key"}};
  auto first = order_held_upstream(d, sim, key);

  auto busy = d.create_order(order_body(), key);
  sim.set_behavior({{"service", "payment"}, {"hang", false}});
  auto f = first.get();
  check_problem(busy, 409, "conflict");
  INFO(f.body);
  REQUIRE(f.status == 201);
  CHECK(str(busy.json, "orderId") == id_of(f.json));
  CHECK(sim.requests("payment").size() == 1);

  auto replay = d.create_order(order_body(), key);
  CHECK(replay.status == 200);
  CHECK(id_of(replay.json) == id_of(f.json));
}

// -- payment failures -------------------------------------------------------------

TEST_CASE("api: a declined payment (402 upstream) is 402 payment_declined, not retried",
          "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 402}});
  auto r = d.create_order(order_body());
  check_problem(r, 402, "payment_declined");
  auto id = str(r.json, "orderId");
  REQUIRE(!id.empty());
  auto o = d.get_order(id);
  REQUIRE(o.status == 200);
  CHECK(str(o.json, "status") == "payment_failed");
  CHECK(sim.requests("payment").size() == 1);
  CHECK(num(sim.ledger().at("charges")) == 0);
}

TEST_CASE("api: upstream 500 with no retries is 502 upstream_error", "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"services.payment.retry.max_retries=0"});
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 500}});
  auto r = d.create_order(order_body());
  check_problem(r, 502, "upstream_error");
  auto id = str(r.json, "orderId");
  REQUIRE(!id.empty());
  CHECK(str(d.get_order(id).json, "status") == "payment_failed");
  CHECK(sim.requests("payment").size() == 1);
}

TEST_CASE("api: a spent total payment budget is 504 upstream_timeout", "[e2e][api]") {
  auto sim = start_sim("fast");
  // The first attempt fails; the retry (2 s later) would not fit in the 1 s budget.
  auto d = daemon_for(sim, {"services.payment.timeout_ms=500",
                            "services.payment.total_timeout_ms=1000"});
  sim.set_behavior({{"service", "payment"}, {"fixedStatus", 503}});
  auto r = d.create_order(order_body());
  check_problem(r, 504, "upstream_timeout");
  auto id = str(r.json, "orderId");
  REQUIRE(!id.empty());
  CHECK(str(d.get_order(id).json, "status") == "payment_failed");
}

TEST_CASE("api: max_inflight_orders reached is 503 overloaded with Retry-After", "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"http.max_inflight_orders=1", "http.threads=8"});
  auto first = order_held_upstream(d, sim);

  auto r = d.create_order(order_body("Donuts", "Jelly", 1));
  check_problem(r, 503, "overloaded");
  // Reads are still served while the order thread is held.
  CHECK(d.get("/healthz").status == 200);
  sim.set_behavior({{"service", "payment"}, {"hang", false}});
  auto f = first.get();
  INFO(f.body);
  CHECK(f.status == 201);
}

TEST_CASE(
  "api: an overloaded reply carries orderId and the order is payment_failed (CONTRACT §3.2)",
  "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"http.max_inflight_orders=1", "http.threads=8"});
  auto first = order_held_upstream(d, sim);
  auto r = d.create_order(order_body("Donuts", "Jelly", 1));
  sim.set_behavior({{"service", "payment"}, {"hang", false}});
  first.get();
  check_problem(r, 503, "overloaded");
  auto id = str(r.json, "orderId");
  CHECK(!id.empty());
  if (!id.empty())
    CHECK(str(d.get_order(id).json, "status") == "payment_failed");
}

// -- tracing and wire format ------------------------------------------------------

TEST_CASE("api: traceparent is propagated to the reply, the order and the upstream calls",
          "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  auto r = d.create_order(order_body(), {{"traceparent", valid_traceparent}});
  INFO(r.body);
  REQUIRE(r.status == 201);
  auto id = id_of(r.json);
  auto reply_tp = r.header("traceparent");
  CHECK(trace_id_of(reply_tp) == valid_trace_id);
  CHECK(span_id_of(reply_tp) != valid_span_id);
  CHECK(str(r.json, "traceId") == valid_trace_id);

  auto payments = sim.requests("payment");
  REQUIRE(payments.size() == 1);
  const auto& p = payments[0];
  INFO(json::serialize(p));
  auto tp = header_of(p, "traceparent");
  CHECK(trace_id_of(tp) == valid_trace_id);
  CHECK(!span_id_of(tp).empty());
  CHECK(span_id_of(tp) != valid_span_id);
  CHECK(header_of(p, "Idempotency-Key") == id);
  CHECK(header_of(p, "Content-Type").rfind("application/json", 0) == 0);
  CHECK(str(p, "method") == "POST");
  CHECK(str(p, "path") == "/api/v1/payment");
  // Seed wire format (CONTRACT §4).
  auto body = parse_json(str(p, "body"));
  REQUIRE(body.is_object());
  CHECK(str(body, "orderId") == id);
  CHECK(cents(body.at("amount")) == 860);
  CHECK(str(body, "currency") == "USD");
  CHECK(str(body, "paymentMethod") == "credit_card");

  // A status change with the same trace: its notification carries the trace id too.
  auto patched = d.patch("/api/v1/orders/" + id + "/status", R"({"status":"preparation"})",
                         {{"traceparent", valid_traceparent}});
  REQUIRE(patched.status == 200);
  CHECK(trace_id_of(patched.header("traceparent")) == valid_trace_id);
  json::array notes;
  REQUIRE(eventually([&] {
    notes = sim.requests("notification");
    return !notes.empty();
  }));
  const auto& n = notes.back();
  INFO(json::serialize(n));
  CHECK(trace_id_of(header_of(n, "traceparent")) == valid_trace_id);
  CHECK(span_id_of(header_of(n, "traceparent")) != valid_span_id);
  CHECK(header_of(n, "Content-Type").rfind("application/json", 0) == 0);
  auto nb = parse_json(str(n, "body"));
  REQUIRE(nb.is_object());
  CHECK(str(nb, "type") == "order_status");
  CHECK(str(nb, "orderId") == id);
  CHECK(str(nb, "status") == "preparation");
  CHECK(str(nb, "customerEmail") == "ana@example.com");

  // The GET reply continues the caller's trace too.
  auto g = d.get("/api/v1/menu", {{"traceparent", valid_traceparent}});
  CHECK(trace_id_of(g.header("traceparent")) == valid_trace_id);
}

TEST_CASE("api: an invalid or missing traceparent gets a fresh trace id", "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  std::set<std::string> trace_ids;
  for (const char* bad : {"garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""}) {
    INFO("traceparent: '" << bad << "'");
    httplib::Headers h;
    if (*bad)
      h.emplace("traceparent", bad);
    auto r = d.create_order(order_body(), h);
    REQUIRE(r.status == 201);
    auto tid = trace_id_of(r.header("traceparent"));
    CHECK(std::regex_match(tid, hex32));
    CHECK(tid != "00000000000000000000000000000000");
    CHECK(tid != valid_trace_id);
    CHECK(str(r.json, "traceId") == tid);
    trace_ids.insert(tid);
  }
  CHECK(trace_ids.size() == 5);
  // Errors carry it too.
  auto e = d.get("/api/v1/orders/nope", {{"traceparent", "garbage"}});
  check_problem(e, 404, "not_found");
}

TEST_CASE("api: trio wire format sends {\"value\": amount} and {\"status\": s}", "[e2e][api]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"services.payment.format=\"trio\"",
                            "services.notification.format=\"trio\""});
  auto o = created(d);
  auto payments = sim.requests("payment");
  REQUIRE(payments.size() == 1);
  auto body = parse_json(str(payments[0], "body"));
  INFO(json::serialize(payments[0]));
  REQUIRE(body.is_object());
  CHECK(body.as_object().size() == 1);
  REQUIRE(body.as_object().contains("value"));
  CHECK(cents(body.at("value")) == 860);
  CHECK(header_of(payments[0], "Idempotency-Key") == id_of(o));

  REQUIRE(d.set_status(id_of(o), "preparation").status == 200);
  json::array notes;
  REQUIRE(eventually([&] {
    notes = sim.requests("notification");
    return !notes.empty();
  }));
  auto nb = parse_json(str(notes[0], "body"));
  INFO(json::serialize(notes[0]));
  REQUIRE(nb.is_object());
  CHECK(nb.as_object().size() == 1);
  CHECK(str(nb, "status") == "preparation");
}

TEST_CASE("api: outgoing payment amounts are plain decimals, not exponent notation", "[e2e][api]") {
  // Boost.JSON serialises the double 8.6 as 8.6E0; valid JSON, but the daemon's own replies
  // (and the simulator's) avoid it, and a strict upstream may not expect it.
  auto sim = start_sim("fast");
  auto d = daemon_for(sim, {"services.payment.format=\"trio\""});
  created(d);
  auto payments = sim.requests("payment");
  REQUIRE(payments.size() == 1);
  auto body = str(payments[0], "body");
  INFO(body);
  CHECK(body == R"({"value":8.6})");
}

// -- §3.5 operations --------------------------------------------------------------

TEST_CASE("api: healthz and readyz answer 200", "[e2e][api]") {
  auto d = fast_daemon();
  auto h = d.get("/healthz");
  REQUIRE(h.status == 200);
  CHECK(str(h.json, "status") == "ok");
  auto r = d.get("/readyz");
  INFO(r.body);
  CHECK(r.status == 200);
}

TEST_CASE("api: metrics expose the contract families in Prometheus text format", "[e2e][api]") {
  auto d = fast_daemon();
  auto id = id_of(created(d));
  REQUIRE(d.set_status(id, "preparation").status == 200);
  d.get_order("nope");
  REQUIRE(eventually([&] {
    auto o = d.get_order(id);
    auto* n = notification_for(o.json, "preparation");
    return n && str(json::value(*n), "state") == "sent";
  }));

  auto m = d.get("/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.header("Content-Type").rfind("text/plain", 0) == 0);
  CHECK(m.header("Content-Type").find("version=0.0.4") != std::string::npos);
  const auto& text = m.body;
  INFO(text);
  const std::pair<const char*, const char*> families[] = {
    {"coffeeshop_http_requests_total", "counter"},
    {"coffeeshop_http_request_duration_seconds", "histogram"},
    {"coffeeshop_integration_calls_total", "counter"},
    {"coffeeshop_integration_call_duration_seconds", "histogram"},
    {"coffeeshop_integration_retries_total", "counter"},
    {"coffeeshop_circuit_state", "gauge"},
    {"coffeeshop_circuit_transitions_total", "counter"},
    {"coffeeshop_actor_restarts_total", "counter"},
    {"coffeeshop_orders_total", "counter"},
    {"coffeeshop_inflight_orders", "gauge"},
  };
  for (const auto& [name, type] : families) {
    INFO("family " << name);
    CHECK(text.find(std::string("# TYPE ") + name + " " + type + "\n") != std::string::npos);
  }
  // Samples with the contract's labels.
  CHECK(
    std::regex_search(text, std::regex(R"(coffeeshop_http_requests_total\{[^}]*method="POST")")));
  CHECK(std::regex_search(
    text, std::regex(R"(coffeeshop_http_requests_total\{[^}]*route="/api/v1/orders")")));
  CHECK(std::regex_search(text, std::regex(R"(coffeeshop_http_requests_total\{[^}]*code="201")")));
  CHECK(std::regex_search(
    text, std::regex(R"(coffeeshop_http_request_duration_seconds_bucket\{[^}]*route=)")));
  CHECK(
    std::regex_search(text,
                      std::regex(R"(coffeeshop_integration_calls_total\{[^}]*service="payment")")));
  CHECK(
    std::regex_search(text, std::regex(R"(coffeeshop_integration_calls_total\{[^}]*outcome=)")));
  CHECK(std::regex_search(
    text,
    std::regex(R"(coffeeshop_integration_call_duration_seconds_bucket\{[^}]*service="payment")")));
  CHECK(std::regex_search(text, std::regex(R"(coffeeshop_orders_total\{[^}]*status=)")));
  CHECK(std::regex_search(text, std::regex(R"((^|\n)coffeeshop_inflight_orders(\{\})? 0)")));

  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    WARN("promtool not on PATH: skipping `promtool check metrics`");
    return;
  }
  temp_dir dir;
  auto file = dir.write_file("metrics.txt", text);
  auto out = dir.path() + "/promtool.out";
  int rc = std::system(("promtool check metrics < '" + file + "' > '" + out + "' 2>&1").c_str());
  std::string promtool_out;
  if (auto* f = std::fopen(out.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      promtool_out.append(buf, n);
    std::fclose(f);
  }
  INFO("promtool: " << promtool_out);
  CHECK(rc == 0);
}

TEST_CASE("api: integrations report circuit, calls and actor per service", "[e2e][api]") {
  auto d = fast_daemon();
  created(d);
  json::value v;
  REQUIRE(eventually([&] {
    auto r = d.get("/api/v1/integrations");
    v = r.json;
    return r.status == 200 && v.is_object() && v.as_object().contains("payment") &&
           num(v.at("payment").at("calls").at("succeeded")) >= 1;
  }));
  INFO(json::serialize(v));
  for (const char* svc : {"payment", "notification"}) {
    INFO("service " << svc);
    REQUIRE(v.as_object().contains(svc));
    const auto& s = v.at(svc).as_object();
    const auto& circuit = s.at("circuit").as_object();
    CHECK(str(json::value(circuit), "state") == "closed");
    for (const char* k : {"state", "consecutiveFailures", "openedAt", "retryAfterMs"})
      CHECK(circuit.contains(k));
    CHECK(circuit.at("openedAt").is_null());
    const auto& calls = s.at("calls").as_object();
    for (const char* k : {"succeeded", "failed", "rejected", "retries"}) {
      INFO(k);
      REQUIRE(calls.contains(k));
      CHECK(calls.at(k).is_number());
    }
    const auto& actor = s.at("actor").as_object();
    CHECK(actor.contains("restarts"));
    CHECK(actor.contains("lastRestartAt"));
  }
  CHECK(num(v.at("payment").at("calls").at("succeeded")) == 1);
  CHECK(num(v.at("payment").at("calls").at("failed")) == 0);
}

TEST_CASE("api: events list integration events per order and mask e-mail addresses", "[e2e][api]") {
  auto d = fast_daemon();
  auto first = id_of(created(d));
  auto second = id_of(created(d, order_body("Donuts", "Jelly", 1)));
  REQUIRE(d.set_status(first, "preparation").status == 200);

  REQUIRE(eventually([&] {
    auto ev = events_of(d);
    return has_event(ev, "order_created", first) && has_event(ev, "request_succeeded", first) &&
           has_event(ev, "order_created", second) && has_event(ev, "notification_sent", first);
  }));
  auto all = d.get("/api/v1/events");
  INFO(all.body);
  REQUIRE(all.status == 200);
  const auto& events = all.json.at("events").as_array();
  for (const auto& e : events) {
    CHECK(!str(e, "eventId").empty());
    CHECK(!str(e, "serviceName").empty());
    CHECK(!str(e, "eventType").empty());
    CHECK(std::regex_match(str(e, "timestamp"), rfc3339_ms));
    CHECK(e.as_object().contains("payload"));
    CHECK(e.as_object().contains("metadata"));
  }
  // Masked addresses only.
  CHECK(all.body.find("ana@example.com") == std::string::npos);
  CHECK(all.body.find("a***@example.com") != std::string::npos);

  auto filtered = events_of(d, "?orderId=" + first);
  REQUIRE(!filtered.empty());
  CHECK(has_event(filtered, "order_created", first));
  CHECK(has_event(filtered, "request_succeeded", first));
  for (const auto& e : filtered)
    CHECK(str(e.at("metadata"), "orderId") == first);

  auto payment_only = events_of(d, "?service=payment");
  REQUIRE(!payment_only.empty());
  for (const auto& e : payment_only)
    CHECK(str(e, "serviceName") == "payment");

  auto limited = events_of(d, "?limit=2");
  CHECK(limited.size() == 2);
  // The newest two.
  CHECK(str(limited[1], "eventId") == str(events.back(), "eventId"));

  check_problem(d.get("/api/v1/events?limit=0"), 422, "validation");
  check_problem(d.get("/api/v1/events?limit=x"), 422, "validation");

  // The daemon's own logs never show the full address either (CONTRACT §5).
  CHECK(d.proc.output().find("ana@example.com") == std::string::npos);
  CHECK(!d.proc.log_lines("integration_event").empty());
}

// -- §3.6 admin -------------------------------------------------------------------

TEST_CASE("api: admin endpoints are 404 without admin.token", "[e2e][api]") {
  auto d = fast_daemon();
  check_problem(d.post("/api/v1/integrations/payment/circuit", R"({"action":"isolate"})"), 404,
                "not_found");
  check_problem(d.post("/api/v1/integrations/payment/circuit", R"({"action":"isolate"})",
                       {{"Authorization", "Bearer anything"}}),
                404, "not_found");
  check_problem(d.post("/api/v1/admin/actors/payment/crash", ""), 404, "not_found");
  // Orders still work (the breaker was not touched).
  created(d);
}

TEST_CASE("api: admin circuit isolate and reset with a bearer token", "[e2e][api]") {
  auto d = fast_daemon({"admin.token=\"s3cret\""});
  const std::string path = "/api/v1/integrations/payment/circuit";
  const std::string isolate = R"({"action":"isolate"})";

  auto none = d.post(path, isolate);
  check_problem(none, 401, "unauthorized");
  check_problem(d.post(path, isolate, {{"Authorization", "Bearer wrong"}}), 403, "forbidden");
  check_problem(d.post(path, isolate, {{"Authorization", "s3cret"}}), 401, "unauthorized");
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};

  check_problem(d.post(path, R"({"action":"explode"})", auth), 422, "validation");
  check_problem(d.post("/api/v1/integrations/coffee/circuit", isolate, auth), 404, "not_found");

  auto iso = d.post(path, isolate, auth);
  INFO(iso.body);
  REQUIRE(iso.status == 200);
  REQUIRE(iso.json.is_object());
  CHECK(str(iso.json.at("circuit"), "state") == "open");

  auto rejected = d.create_order(order_body());
  check_problem(rejected, 503, "circuit_open");
  CHECK(!rejected.header("Retry-After").empty());
  auto id = str(rejected.json, "orderId");
  REQUIRE(!id.empty());
  CHECK(str(d.get_order(id).json, "status") == "payment_failed");
  // An open breaker does not make the daemon unready.
  CHECK(d.get("/readyz").status == 200);
  auto integ = d.get("/api/v1/integrations");
  CHECK(str(integ.json.at("payment").at("circuit"), "state") == "open");

  auto reset = d.post(path, R"({"action":"reset"})", auth);
  INFO(reset.body);
  REQUIRE(reset.status == 200);
  CHECK(str(reset.json.at("circuit"), "state") == "closed");
  auto ok = created(d);
  CHECK(str(ok, "status") == "waiting");
}

TEST_CASE("api: admin crash rehearsal is 202, unknown actor 404", "[e2e][api]") {
  auto d = fast_daemon({"admin.token=\"s3cret\""});
  httplib::Headers auth{{"Authorization", "Bearer s3cret"}};
  check_problem(d.post("/api/v1/admin/actors/payment/crash", ""), 401, "unauthorized");
  check_problem(d.post("/api/v1/admin/actors/barista/crash", "", auth), 404, "not_found");
  auto r = d.post("/api/v1/admin/actors/event-logger/crash", "", auth);
  INFO(r.body);
  CHECK(r.status == 202);
  // The daemon keeps serving.
  CHECK(eventually([&] { return d.create_order(order_body()).status == 201; }));
}

// -- §1 command line --------------------------------------------------------------

TEST_CASE("api: cli --version and --help", "[e2e][api][cli]") {
  auto v = run_cli({"--version"});
  CHECK(v.status == 0);
  CHECK(v.out.find("coffeeshopd") != std::string::npos);
  CHECK(std::regex_search(v.out, std::regex(R"(\d+\.\d+\.\d+)")));

  auto h = run_cli({"--help"});
  CHECK(h.status == 0);
  CHECK(h.out.find("--config") != std::string::npos);
  CHECK(h.out.find("--set") != std::string::npos);
  CHECK(h.out.find("--check-config") != std::string::npos);

  auto bad = run_cli({"--frobnicate"});
  CHECK(bad.status == 2);
  CHECK(bad.err.find("--frobnicate") != std::string::npos);
}

TEST_CASE("api: cli --check-config", "[e2e][api][cli]") {
  auto ok = run_cli({"--check-config"});
  CHECK(ok.status == 0);
  CHECK(ok.out == "ok\n");

  auto shipped = run_cli(
    {"--check-config", "--config", std::string(source_dir()) + "/config/coffeeshop.json"});
  CHECK(shipped.status == 0);
  auto production = run_cli(
    {"--check-config", "--config", std::string(source_dir()) + "/config/production.json"});
  INFO(production.err);
  CHECK(production.status == 0);

  auto threads = run_cli({"--check-config", "--set", "http.threads=\"x\""});
  CHECK(threads.status == 2);
  CHECK(threads.err.find("http.threads") != std::string::npos);

  auto retries = run_cli({"--check-config", "--set", "services.payment.retry.max_retries=three"});
  CHECK(retries.status == 2);
  CHECK(retries.err.find("services.payment.retry.max_retries") != std::string::npos);

  auto unknown = run_cli({"--check-config", "--set", "http.bogus_key=1"});
  CHECK(unknown.status == 2);
  CHECK(unknown.err.find("http.bogus_key") != std::string::npos);

  // A bad value also stops a normal start with 2.
  auto start = run_cli({"--set", "http.threads=\"x\"", "--set", "http.listen=127.0.0.1:0"});
  CHECK(start.status == 2);
  CHECK(start.err.find("http.threads") != std::string::npos);

  auto missing = run_cli({"--config", "/nonexistent/coffeeshop.json", "--check-config"});
  CHECK(missing.status == 2);
}

TEST_CASE("api: cli --print-config masks the admin token", "[e2e][api][cli]") {
  auto r = run_cli(
    {"--print-config", "--set", "admin.token=\"s3cret\"", "--set", "http.threads=200"});
  INFO(r.out << r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("s3cret") == std::string::npos);
  CHECK(r.out.find("\"***\"") != std::string::npos);
  auto cfg = parse_json(r.out);
  REQUIRE(cfg.is_object());
  CHECK(str(cfg.at("admin"), "token") == "***");
  CHECK(num(cfg.at("http").at("threads")) == 200);
}

TEST_CASE("api: cli $COFFEESHOP_CONFIG is read and a bad value exits 2", "[e2e][api][cli]") {
  temp_dir dir;
  auto bad = dir.write_file("bad.json", R"({"http":{"threads":"many"}})");
  auto r = run_cli({"--set", "http.listen=127.0.0.1:0"}, {{"COFFEESHOP_CONFIG", bad}});
  CHECK(r.status == 2);
  CHECK(r.err.find("http.threads") != std::string::npos);

  auto good = dir.write_file("good.json", R"({"http":{"threads":48,"max_inflight_orders":40}})");
  auto p = run_cli({"--print-config"}, {{"COFFEESHOP_CONFIG", good}});
  REQUIRE(p.status == 0);
  CHECK(num(parse_json(p.out).at("http").at("threads")) == 48);

  // --config wins over the environment.
  auto both = run_cli({"--check-config", "--config", good}, {{"COFFEESHOP_CONFIG", bad}});
  CHECK(both.status == 0);
}

TEST_CASE("api: cli listening on a port in use exits 1", "[e2e][api][cli]") {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  int port = ntohs(addr.sin_port);

  temp_dir dir;
  auto r = run_cli({"--set", "http.listen=127.0.0.1:" + std::to_string(port), "--set",
                    "simulator.profile=fast", "--set", "store.path=" + dir.path() + "/c.db"});
  ::close(fd);
  INFO(r.out << r.err);
  CHECK(r.status == 1);
  CHECK(r.out.find("\"msg\":\"listening\"") == std::string::npos);
}

TEST_CASE("api: cli a second daemon on the port of a running one exits 1", "[e2e][api][cli]") {
  // cpp-httplib sets SO_REUSEPORT by default; a second coffeeshopd would then share the port
  // with the first and silently take half of its traffic instead of failing.
  auto first = fast_daemon();
  process second(daemon_bin(), {"--set", "http.listen=127.0.0.1:" + std::to_string(first.port),
                                "--set", "simulator.profile=fast", "--set",
                                "store.path=" + first.dir.path() + "/second.db"});
  auto st = second.wait_exit(10s);
  INFO(second.output());
  CHECK(st.has_value());
  if (st)
    CHECK(*st == 1);
}

TEST_CASE("api: cli SIGTERM and SIGINT stop the daemon with exit 0", "[e2e][api][cli]") {
  for (int sig : {SIGTERM, SIGINT}) {
    INFO("signal " << sig);
    auto d = fast_daemon();
    created(d);
    d.proc.signal(sig);
    auto st = d.proc.wait_exit(20s);
    INFO(d.proc.output());
    REQUIRE(st.has_value());
    CHECK(*st == 0);
    CHECK(!d.proc.log_lines("stopped").empty());
    for (const auto& line : d.proc.json_lines()) {
      CHECK(line.contains("ts"));
      CHECK(line.contains("level"));
      CHECK(line.contains("msg"));
    }
  }
}

// A POST without Content-Length has no body (RFC 9112 §6.3). cpp-httplib 0.11 would wait
// for one until its read timeout (30 s); the daemon must answer at once instead.
TEST_CASE("api: a POST without Content-Length is answered at once", "[e2e][api]") {
  auto d = fast_daemon({"admin.token=\"t\""});
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(d.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  timeval tv{5, 0}; // a reply after this is the bug
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req = "POST /api/v1/admin/actors/payment/crash HTTP/1.1\r\nHost: localhost\r\n"
                    "Authorization: Bearer t\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  char buf[4096];
  auto got = ::recv(fd, buf, sizeof(buf), 0);
  ::close(fd);
  REQUIRE(got > 0);
  std::string reply(buf, static_cast<size_t>(got));
  INFO(reply);
  CHECK(reply.rfind("HTTP/1.1 202", 0) == 0);
}

// Requests still waiting on a hanging upstream must not hold the daemon past
// shutdown.drain_timeout_ms (CONTRACT §1): it logs the abandoned drain and exits 0. What follows
// the drain (the actors, the store, the built-in simulator) fits in a margin; 1.5 s is a
// correctness bound for a loaded test machine, not a performance target. The drain is 2 s so
// that a second wait as long as the drain (the bug) is clearly past 2 s + 1.5 s. Both scale
// with time_scale(), so that under a slower build the bug still lands past the bound.
TEST_CASE("api: cli SIGTERM leaves after drain_timeout_ms when orders hang", "[e2e][api][cli]") {
  const auto drain = scaled(2000ms);
  auto d = start_daemon(
    {"simulator.profile=hang", "shutdown.drain_timeout_ms=" + std::to_string(drain.count())});
  std::thread order{[port = d.port] { request(port, "POST", "/api/v1/orders", order_body()); }};
  REQUIRE(eventually([&] {
    auto list = d.get("/api/v1/orders?status=pending_payment");
    return list.status == 200 && !list.json.at("orders").as_array().empty();
  }));
  auto t0 = std::chrono::steady_clock::now();
  d.proc.signal(SIGTERM);
  auto st = d.proc.wait_exit(20s);
  auto took = std::chrono::steady_clock::now() - t0;
  order.join();
  INFO(d.proc.output());
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  // One deadline for the drain and the actors' stop (issue 12 item 11): it took twice the
  // drain (about 4 s here) while the actors' stop waited for the same stuck request again.
  CHECK(took < drain + scaled(1500ms));
  CHECK(!d.proc.log_lines("drain timeout: requests still in flight are abandoned").empty());
  CHECK(!d.proc.log_lines("stopped").empty());
}
