// http_api against fake_order_gateway: what each request hands the gateway, how each
// gateway reply maps onto the wire (docs/api.md §3), and which requests never reach it.

#include "fake_order_gateway.hpp"
#include "http_api.hpp"
#include "recording_span_sink.hpp"

#include "coffeeshop/domain/order_json.hpp"
#include "coffeeshop/domain/request_fingerprint.hpp"
#include "coffeeshop/live_settings.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop;
using coffeeshop::testing::fake_order_gateway;

namespace {

const std::string orders_path = "/api/v1/orders";
const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string traceparent = "00-" + trace_id + "-00f067aa0ba902b7-01";
const std::string admin_token = "s3cret";
const std::string valid_order =
  R"({"customerEmail":"ana@example.com",)"
  R"("items":[{"product":"Latte","variation":"Vanilla","quantity":2}],)"
  R"("paymentMethod":"credit_card","currency":"USD"})";

/// http_api on 127.0.0.1 (an ephemeral port) in front of a fake gateway and an in-memory
/// store, with a client to it. Teardown releases held gateway calls before it stops the
/// server, so a failed check cannot leave a request (and stop()) waiting forever.
class api_fixture {
public:
  /// `live`, when given, is what the daemon's reload replaces (services.live).
  explicit api_fixture(const std::function<void(config&)>& tweak = {},
                       std::shared_ptr<live_settings> live = nullptr)
    : cfg(config::defaults()) {
    cfg.http.listen_host = "127.0.0.1";
    cfg.http.listen_port = 0;
    // Default 128 threads per fixture is needless start-up work for a unit test.
    cfg.http.threads = 8;
    if (tweak)
      tweak(cfg);
    services.log = std::make_shared<logger>(log_level::error, log_format::json);
    services.stats = std::make_shared<metrics>();
    services.board = std::make_shared<integration_board>(cfg.payment.circuit_breaker,
                                                         cfg.notification.circuit_breaker);
    services.journal = std::make_shared<event_journal>();
    services.store = make_memory_order_store();
    services.spans = spans;
    services.live = std::move(live);
    api = std::make_unique<http_api>(cfg, menu::built_in(), services, fake, life);
    std::string error;
    port = api->bind(error);
    INFO(error);
    REQUIRE(port > 0);
    REQUIRE(api->start());
    client = make_client();
    // httplib's stop() does nothing until the accept loop runs, so stopping right after
    // start() could hang teardown; an answered request proves the loop is running.
    auto up = client->Get("/healthz");
    REQUIRE(up);
    REQUIRE(up->status == 200);
  }

  ~api_fixture() {
    fake.release();
    for (auto& f : background_)
      f.wait();
  }

  api_fixture(const api_fixture&) = delete;
  api_fixture& operator=(const api_fixture&) = delete;

  std::unique_ptr<httplib::Client> make_client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
    c->set_connection_timeout(2);
    c->set_read_timeout(5);
    return c;
  }

  httplib::Result post_order(const std::string& body, httplib::Headers headers = {}) {
    return client->Post(orders_path.c_str(), headers, body, "application/json");
  }

  /// POSTs an order from another thread (and its own client: clients are not thread-safe).
  std::shared_future<httplib::Result> post_order_in_background(const std::string& body) {
    auto f = std::async(std::launch::async, [this, body] {
               return make_client()->Post(orders_path.c_str(), body, "application/json");
             }).share();
    background_.push_back(f);
    return f;
  }

  httplib::Result patch_status(const std::string& id, const std::string& body) {
    return client->Patch((orders_path + "/" + id + "/status").c_str(),
                         {{"traceparent", traceparent}}, body, "application/json");
  }

  httplib::Result admin_post(const std::string& path, const std::string& body,
                             const std::string& authorization) {
    httplib::Headers headers;
    if (!authorization.empty())
      headers.emplace("Authorization", authorization);
    return client->Post(path.c_str(), headers, body, "application/json");
  }

  config cfg;
  fake_order_gateway fake;
  std::shared_ptr<lifecycle> life = std::make_shared<lifecycle>();
  std::shared_ptr<coffeeshop::testing::recording_span_sink> spans =
    std::make_shared<coffeeshop::testing::recording_span_sink>();
  shared_services services;
  std::unique_ptr<http_api> api;
  int port = -1;
  std::unique_ptr<httplib::Client> client;

private:
  std::vector<std::shared_future<httplib::Result>> background_;
};

void with_admin_token(config& c) { c.admin_token = admin_token; }

// -- reading replies ----------------------------------------------------------------

boost::json::object object_of(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  INFO(body);
  REQUIRE(!ec);
  REQUIRE(v.is_object());
  return v.get_object();
}

/// A string member, or a marker that cannot match a real value.
std::string text(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string{v->get_string()}
                             : "<no string " + std::string{key} + ">";
}

/// An integer member, or -1.
std::int64_t number(const boost::json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->get_int64() : -1;
}

bool is_lower_hex(const std::string& s, std::size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
           return std::isdigit(ch) || (ch >= 'a' && ch <= 'f');
         });
}

/// Checks what every problem reply carries (docs/api.md §3.0) and returns its body.
boost::json::object expect_problem(const httplib::Result& res, int status,
                                   const std::string& error_type, const std::string& path) {
  REQUIRE(res);
  INFO(res->body);
  CHECK(res->status == status);
  CHECK(res->get_header_value("Content-Type") == "application/problem+json");
  auto body = object_of(res->body);
  CHECK(text(body, "type") == "https://coffeeshop.dev/problems/" + error_type);
  CHECK(text(body, "errorType") == error_type);
  CHECK(number(body, "status") == status);
  CHECK(text(body, "instance") == path);
  CHECK(is_lower_hex(text(body, "traceId"), 32));
  return body;
}

/// The first entry of a problem's `errors`, or an empty object.
boost::json::object first_error(const boost::json::object& problem) {
  auto* errors = problem.if_contains("errors");
  if (!errors || !errors->is_array() || errors->get_array().empty() ||
      !errors->get_array()[0].is_object())
    return {};
  return errors->get_array()[0].get_object();
}

/// An order's wire form as it comes back from a parse, to compare with a reply body.
boost::json::value wire_form(const order& o) {
  return boost::json::parse(to_json_text(to_json(o)));
}

// -- scripted replies ---------------------------------------------------------------

order sample_order(const std::string& id, order_status status) {
  order o;
  o.id = id;
  o.status = status;
  o.items = {order_line{"Latte", "Vanilla", 2, 430, 860}};
  o.total = 860;
  o.customer_email = "ana@example.com";
  o.payment = payment_record{"succeeded", 1, std::string{"pay_1"}};
  o.created_at_ms = 1'700'000'000'000;
  o.updated_at_ms = 1'700'000'001'000;
  o.trace_id = trace_id;
  return o;
}

create_order_reply create_reply(create_result result, const std::string& id = "ord_1") {
  create_order_reply r;
  r.result = result;
  r.placed = sample_order(id, result == create_result::payment_failed ? order_status::payment_failed
                                                                      : order_status::waiting);
  return r;
}

create_order_reply payment_failure(call_result result, int attempts, millis retry_after,
                                   std::string detail) {
  auto r = create_reply(create_result::payment_failed);
  r.payment.result = result;
  r.payment.attempts = attempts;
  r.payment.retry_after = retry_after;
  r.payment.detail = std::move(detail);
  return r;
}

} // namespace

// -- POST /api/v1/orders ------------------------------------------------------------

TEST_CASE("http_api: a valid create reaches the gateway as a priced command", "[http_api]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::created));

  auto res = f.post_order(valid_order,
                          {{"Idempotency-Key", "key-1"}, {"traceparent", traceparent}});
  REQUIRE(res);
  CHECK(res->status == 201);

  auto creates = f.fake.creates();
  REQUIRE(creates.size() == 1);
  const auto& cmd = creates[0].cmd;
  CHECK(cmd.request.customer_email == "ana@example.com");
  CHECK(cmd.request.payment_method == "credit_card");
  CHECK(cmd.request.currency == "USD");
  REQUIRE(cmd.request.items.size() == 1);
  CHECK(cmd.request.items[0].product == "Latte");
  CHECK(cmd.request.items[0].variation == "Vanilla");
  CHECK(cmd.request.items[0].quantity == 2);
  CHECK(cmd.request.items[0].unit_price == 430);
  CHECK(cmd.request.items[0].line_total == 860);
  CHECK(cmd.request.total == 860);
  CHECK(cmd.idempotency_key == std::optional<std::string>{"key-1"});
  CHECK(is_lower_hex(cmd.fingerprint, 16));
  CHECK(cmd.fingerprint == request_fingerprint(cmd.request));
  CHECK_FALSE(cmd.shed);
  CHECK(cmd.trace_id == trace_id);
  // docs/api.md §2: a create waits max(request_timeout_ms, payment total_timeout_ms + 5000),
  // so the HTTP layer never gives up before the payment's own budget has run out.
  CHECK(creates[0].timeout >= millis{f.cfg.payment.total_timeout_ms});
  CHECK(creates[0].timeout == std::max(millis{f.cfg.http.request_timeout_ms},
                                       millis{f.cfg.payment.total_timeout_ms + 5000}));
}

TEST_CASE("http_api: a create waits for the payment budget a reload raised", "[http_api][reload]") {
  auto c = config::defaults();
  c.payment.total_timeout_ms = 1000;
  auto live = std::make_shared<live_settings>(c);
  api_fixture f{[](config& cfg) { cfg.payment.total_timeout_ms = 1000; }, live};
  f.fake.reply_create(create_reply(create_result::created));
  f.fake.reply_create(create_reply(create_result::created));

  REQUIRE(f.post_order(valid_order));
  c.payment.total_timeout_ms = 90000;
  live->replace(c);
  REQUIRE(f.post_order(valid_order));

  auto creates = f.fake.creates();
  REQUIRE(creates.size() == 2);
  CHECK(creates[0].timeout == millis{f.cfg.http.request_timeout_ms});
  CHECK(creates[1].timeout == millis{95000});
}

TEST_CASE("http_api: a create without Idempotency-Key hands the gateway no key", "[http_api]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::created));

  auto res = f.post_order(valid_order);
  REQUIRE(res);
  CHECK(res->status == 201);
  auto creates = f.fake.creates();
  REQUIRE(creates.size() == 1);
  CHECK_FALSE(creates[0].cmd.idempotency_key.has_value());
  // Without a traceparent the daemon starts a trace of its own.
  CHECK(is_lower_hex(creates[0].cmd.trace_id, 32));
  CHECK(creates[0].cmd.trace_id != trace_id);
}

TEST_CASE("http_api: created answers 201 with Location and the order", "[http_api]") {
  api_fixture f;
  auto reply = create_reply(create_result::created, "ord_created");
  f.fake.reply_create(reply);

  auto res = f.post_order(valid_order, {{"traceparent", traceparent}});
  REQUIRE(res);
  CHECK(res->status == 201);
  CHECK(res->get_header_value("Location") == "/api/v1/orders/ord_created");
  CHECK(res->get_header_value("Content-Type") == "application/json");
  CHECK_FALSE(res->has_header("Idempotency-Replayed"));
  // The reply continues the caller's trace with a span of its own.
  auto tp = res->get_header_value("traceparent");
  CHECK(tp.rfind("00-" + trace_id + "-", 0) == 0);
  CHECK(tp != traceparent);
  CHECK(boost::json::parse(res->body) == wire_form(reply.placed));
}

TEST_CASE("http_api: replayed answers 200 with Idempotency-Replayed", "[http_api]") {
  api_fixture f;
  auto reply = create_reply(create_result::replayed, "ord_replayed");
  f.fake.reply_create(reply);

  auto res = f.post_order(valid_order, {{"Idempotency-Key", "key-1"}});
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Idempotency-Replayed") == "true");
  CHECK(res->get_header_value("Location") == "/api/v1/orders/ord_replayed");
  CHECK(boost::json::parse(res->body) == wire_form(reply.placed));
}

TEST_CASE("http_api: in_progress answers 409 conflict with orderId", "[http_api]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::in_progress, "ord_running"));

  auto res = f.post_order(valid_order,
                          {{"Idempotency-Key", "key-1"}, {"traceparent", traceparent}});
  auto problem = expect_problem(res, 409, "conflict", orders_path);
  CHECK(text(problem, "title") == "Request in progress");
  CHECK(text(problem, "orderId") == "ord_running");
  CHECK(text(problem, "traceId") == trace_id);
}

TEST_CASE("http_api: key_mismatch answers 422 on Idempotency-Key with orderId", "[http_api]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::key_mismatch, "ord_first"));

  auto res = f.post_order(valid_order, {{"Idempotency-Key", "key-1"}});
  auto problem = expect_problem(res, 422, "validation", orders_path);
  CHECK(text(problem, "title") == "Idempotency-Key reused");
  CHECK(text(first_error(problem), "field") == "Idempotency-Key");
  CHECK(text(problem, "orderId") == "ord_first");
}

TEST_CASE("http_api: a failed payment maps onto its status code", "[http_api]") {
  struct row {
    call_result result;
    millis retry_after;
    int status;
    std::string error_type;
    std::string title;
    std::string retry_after_header; // empty: no header
  };
  auto r = GENERATE(values<row>({
    {call_result::declined, millis{0}, 402, "payment_declined", "Payment declined", ""},
    {call_result::exhausted, millis{0}, 502, "upstream_error", "Payment service error", ""},
    {call_result::timed_out, millis{0}, 504, "upstream_timeout", "Payment service timeout", ""},
    // Retry-After is whole seconds rounded up, so a client never comes back too early.
    {call_result::circuit_open, millis{1500}, 503, "circuit_open", "Payment circuit open", "2"},
    {call_result::circuit_open, millis{2000}, 503, "circuit_open", "Payment circuit open", "2"},
    {call_result::overloaded, millis{200}, 503, "overloaded", "Payment service overloaded", "1"},
  }));
  INFO("expected " << r.status << " " << r.error_type);
  api_fixture f;
  f.fake.reply_create(payment_failure(r.result, 3, r.retry_after, "why it failed"));

  auto res = f.post_order(valid_order);
  auto problem = expect_problem(res, r.status, r.error_type, orders_path);
  CHECK(text(problem, "title") == r.title);
  CHECK(text(problem, "detail") == "why it failed");
  CHECK(text(problem, "orderId") == "ord_1");
  CHECK(number(problem, "attempts") == 3);
  CHECK(res->has_header("Retry-After") == !r.retry_after_header.empty());
  CHECK(res->get_header_value("Retry-After") == r.retry_after_header);
}

TEST_CASE("http_api: a gateway without a reply answers 503 overloaded", "[http_api]") {
  api_fixture f{with_admin_token};
  f.fake.fail_all("the coordinator is restarting");

  auto expect_unavailable = [&f](const httplib::Result& res, const std::string& path) {
    auto problem = expect_problem(res, 503, "overloaded", path);
    CHECK(text(problem, "title") == "Service unavailable");
    CHECK(text(problem, "detail").find("the coordinator is restarting") != std::string::npos);
    CHECK(res->get_header_value("Retry-After") == "1");
    CHECK(f.fake.total_calls() == 1);
  };
  SECTION("create") { expect_unavailable(f.post_order(valid_order), orders_path); }
  SECTION("status change") {
    expect_unavailable(f.patch_status("ord_1", R"({"status":"preparation"})"),
                       orders_path + "/ord_1/status");
  }
  SECTION("circuit admin") {
    auto path = std::string{"/api/v1/integrations/payment/circuit"};
    expect_unavailable(f.admin_post(path, R"({"action":"reset"})", "Bearer " + admin_token), path);
  }
}

TEST_CASE("http_api: an invalid create never reaches the gateway", "[http_api]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::created));

  SECTION("a body that is not JSON answers 400") {
    auto problem = expect_problem(f.post_order(R"({"customerEmail":)"), 400, "malformed_request",
                                  orders_path);
    CHECK(text(problem, "title") == "Malformed request");
  }
  SECTION("a body that is not application/json answers 415") {
    auto res = f.client->Post(orders_path.c_str(), valid_order, "text/plain");
    auto problem = expect_problem(res, 415, "unsupported_media_type", orders_path);
    CHECK(text(problem, "detail").find("'text/plain'") != std::string::npos);
  }
  SECTION("an unknown product answers 422 with the field") {
    auto body =
      R"({"customerEmail":"ana@example.com","items":[{"product":"Flat White","quantity":1}]})";
    auto problem = expect_problem(f.post_order(body), 422, "validation", orders_path);
    CHECK(text(problem, "title") == "Validation failed");
    auto error = first_error(problem);
    CHECK(text(error, "field") == "items[0].product");
    CHECK(text(error, "message").find("Flat White") != std::string::npos);
  }
  SECTION("an Idempotency-Key longer than 255 characters answers 422") {
    auto res = f.post_order(valid_order, {{"Idempotency-Key", std::string(256, 'k')}});
    auto problem = expect_problem(res, 422, "validation", orders_path);
    CHECK(text(first_error(problem), "field") == "Idempotency-Key");
  }
  CHECK(f.fake.total_calls() == 0);
}

TEST_CASE("http_api: a create over the bulkhead reaches the gateway shed", "[http_api]") {
  api_fixture f{[](config& c) { c.http.max_inflight_orders = 1; }};
  // The admitted create waits in the gateway until released, so it holds the only place in
  // the bulkhead; a shed create answers at once, as the coordinator does.
  f.fake.hold();
  f.fake.on_create([&fake = f.fake](const create_order_command& cmd) {
    if (cmd.shed)
      return gateway_result<create_order_reply>::ok(
        payment_failure(call_result::overloaded, 0, millis{1000}, "ingress bulkhead full"));
    fake.wait_while_held();
    return gateway_result<create_order_reply>::ok(create_reply(create_result::created));
  });

  auto first = f.post_order_in_background(valid_order);
  REQUIRE(f.fake.wait_for_creates(1));

  auto second = f.post_order(valid_order);
  expect_problem(second, 503, "overloaded", orders_path);
  CHECK(second->get_header_value("Retry-After") == "1");

  f.fake.release();
  const auto& first_res = first.get();
  REQUIRE(first_res);
  CHECK(first_res->status == 201);

  // The first pass has left the bulkhead once its reply is sent: the next create is admitted.
  auto third = f.post_order(valid_order);
  REQUIRE(third);
  CHECK(third->status == 201);

  auto creates = f.fake.creates();
  REQUIRE(creates.size() == 3);
  CHECK_FALSE(creates[0].cmd.shed);
  CHECK(creates[1].cmd.shed);
  CHECK_FALSE(creates[2].cmd.shed);
}

// -- PATCH /api/v1/orders/{id}/status -----------------------------------------------

TEST_CASE("http_api: a status change reaches the gateway and answers 200", "[http_api]") {
  api_fixture f;
  auto changed = sample_order("ord_1", order_status::preparation);
  f.fake.reply_change_status({change_result::changed, changed});

  auto res = f.patch_status("ord_1", R"({"status":"preparation"})");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(boost::json::parse(res->body) == wire_form(changed));

  auto calls = f.fake.status_changes();
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].cmd.order_id == "ord_1");
  CHECK(calls[0].cmd.target == order_status::preparation);
  CHECK(calls[0].cmd.trace_id == trace_id);
  // docs/api.md §2: request_timeout_ms is how long a status change waits for the coordinator.
  CHECK(calls[0].timeout == millis{f.cfg.http.request_timeout_ms});
}

TEST_CASE("http_api: a status change of an unknown order answers 404", "[http_api]") {
  api_fixture f;
  f.fake.reply_change_status({change_result::not_found, {}});

  auto problem = expect_problem(f.patch_status("ord_missing", R"({"status":"ready"})"), 404,
                                "not_found", orders_path + "/ord_missing/status");
  CHECK(text(problem, "title") == "Order not found");
  CHECK(text(problem, "traceId") == trace_id);
  CHECK(f.fake.status_changes().size() == 1);
}

TEST_CASE("http_api: a disallowed status change answers 409 with currentStatus and allowed",
          "[http_api]") {
  auto current = GENERATE(order_status::waiting, order_status::delivered);
  INFO("current status " << to_string(current));
  api_fixture f;
  f.fake.reply_change_status({change_result::conflict, sample_order("ord_1", current)});

  auto problem = expect_problem(f.patch_status("ord_1", R"({"status":"ready"})"), 409, "conflict",
                                orders_path + "/ord_1/status");
  CHECK(text(problem, "title") == "Status change not allowed");
  CHECK(text(problem, "currentStatus") == std::string{to_string(current)});
  boost::json::array expected;
  for (auto s : allowed_next(current))
    expected.push_back(boost::json::string{to_string(s)});
  auto* allowed = problem.if_contains("allowed");
  REQUIRE(allowed);
  CHECK(*allowed == boost::json::value(expected));
}

TEST_CASE("http_api: an invalid status body never reaches the gateway", "[http_api]") {
  api_fixture f;
  f.fake.reply_change_status({change_result::changed, sample_order("ord_1", order_status::ready)});

  std::string body = GENERATE(as<std::string>{}, R"({"status":"brewing"})", R"({"state":"ready"})",
                              R"(["ready"])");
  INFO("body " << body);
  auto problem = expect_problem(f.patch_status("ord_1", body), 422, "validation",
                                orders_path + "/ord_1/status");
  CHECK_FALSE(first_error(problem).empty());
  CHECK(f.fake.total_calls() == 0);
}

// -- admin --------------------------------------------------------------------------

TEST_CASE("http_api: admin endpoints answer 404 without admin.token", "[http_api]") {
  api_fixture f;
  f.fake.on_crash([](std::string_view) { return true; });

  std::string path = GENERATE(as<std::string>{}, "/api/v1/integrations/payment/circuit",
                              "/api/v1/admin/actors/payment/crash");
  auto problem = expect_problem(f.admin_post(path, R"({"action":"isolate"})", "Bearer anything"),
                                404, "not_found", path);
  CHECK(text(problem, "detail").find("admin.token") != std::string::npos);
  CHECK(f.fake.total_calls() == 0);
}

TEST_CASE("http_api: admin endpoints need the right bearer token", "[http_api]") {
  api_fixture f{with_admin_token};
  f.fake.on_crash([](std::string_view) { return true; });

  std::string path = GENERATE(as<std::string>{}, "/api/v1/integrations/payment/circuit",
                              "/api/v1/admin/actors/payment/crash");
  SECTION("no Authorization answers 401 with WWW-Authenticate") {
    auto res = f.admin_post(path, R"({"action":"isolate"})", "");
    expect_problem(res, 401, "unauthorized", path);
    CHECK(res->get_header_value("WWW-Authenticate") == "Bearer");
  }
  SECTION("another scheme answers 401") {
    auto res = f.admin_post(path, R"({"action":"isolate"})", "Basic " + admin_token);
    expect_problem(res, 401, "unauthorized", path);
    CHECK(res->get_header_value("WWW-Authenticate") == "Bearer");
  }
  SECTION("a wrong token answers 403") {
    auto res = f.admin_post(path, R"({"action":"isolate"})", "Bearer not-" + admin_token);
    expect_problem(res, 403, "forbidden", path);
    CHECK_FALSE(res->has_header("WWW-Authenticate"));
  }
  CHECK(f.fake.total_calls() == 0);
}

TEST_CASE("http_api: circuit admin hands the gateway service and action", "[http_api]") {
  api_fixture f{with_admin_token};
  f.fake.on_circuit([](service_kind s, circuit_action a) {
    boost::json::object view{{"circuit",
                              {{"state", a == circuit_action::isolate ? "open" : "closed"},
                               {"isolated", a == circuit_action::isolate}}},
                             {"service", to_string(s)}};
    return gateway_result<integration_view>::ok({view});
  });
  auto bearer = "Bearer " + admin_token;

  auto isolated = f.admin_post("/api/v1/integrations/payment/circuit", R"({"action":"isolate"})",
                               bearer);
  REQUIRE(isolated);
  CHECK(isolated->status == 200);
  CHECK(isolated->get_header_value("Content-Type") == "application/json");
  CHECK(boost::json::parse(isolated->body) ==
        boost::json::parse(R"({"circuit":{"state":"open","isolated":true},"service":"payment"})"));

  auto reset = f.admin_post("/api/v1/integrations/notification/circuit", R"({"action":"reset"})",
                            bearer);
  REQUIRE(reset);
  CHECK(reset->status == 200);
  CHECK(boost::json::parse(reset->body) ==
        boost::json::parse(
          R"({"circuit":{"state":"closed","isolated":false},"service":"notification"})"));

  auto calls = f.fake.circuits();
  REQUIRE(calls.size() == 2);
  CHECK(calls[0].service == service_kind::payment);
  CHECK(calls[0].action == circuit_action::isolate);
  CHECK(calls[1].service == service_kind::notification);
  CHECK(calls[1].action == circuit_action::reset);
}

TEST_CASE("http_api: circuit admin rejects an unknown integration and a bad action", "[http_api]") {
  api_fixture f{with_admin_token};
  f.fake.on_circuit(
    [](service_kind, circuit_action) { return gateway_result<integration_view>::ok({}); });
  auto bearer = "Bearer " + admin_token;

  SECTION("an unknown integration answers 404") {
    auto path = std::string{"/api/v1/integrations/billing/circuit"};
    auto problem = expect_problem(f.admin_post(path, R"({"action":"isolate"})", bearer), 404,
                                  "not_found", path);
    CHECK(text(problem, "title") == "Unknown integration");
  }
  SECTION("another action answers 422 on action") {
    auto path = std::string{"/api/v1/integrations/payment/circuit"};
    std::string body = GENERATE(as<std::string>{}, R"({"action":"open"})", R"({"action":1})",
                                R"({})");
    INFO("body " << body);
    auto problem = expect_problem(f.admin_post(path, body, bearer), 422, "validation", path);
    CHECK(text(first_error(problem), "field") == "action");
  }
  CHECK(f.fake.total_calls() == 0);
}

TEST_CASE("http_api: crash admin answers 202 for an actor the gateway crashes, 404 otherwise",
          "[http_api]") {
  api_fixture f{with_admin_token};
  f.fake.on_crash([](std::string_view name) { return name == "payment"; });
  auto bearer = "Bearer " + admin_token;

  auto crashed = f.admin_post("/api/v1/admin/actors/payment/crash", "", bearer);
  REQUIRE(crashed);
  CHECK(crashed->status == 202);
  CHECK(boost::json::parse(crashed->body) ==
        boost::json::parse(R"({"actor":"payment","status":"crash requested"})"));

  auto path = std::string{"/api/v1/admin/actors/barista/crash"};
  auto problem = expect_problem(f.admin_post(path, "", bearer), 404, "not_found", path);
  CHECK(text(problem, "title") == "Unknown actor");

  CHECK(f.fake.crashes() == std::vector<std::string>{"payment", "barista"});
}

// -- reads and readiness ------------------------------------------------------------

TEST_CASE("http_api: reads come from the store, not the gateway", "[http_api]") {
  api_fixture f;
  auto stored = sample_order("ord_stored", order_status::ready);
  put_order(*f.services.store, stored);

  auto found = f.client->Get("/api/v1/orders/ord_stored");
  REQUIRE(found);
  CHECK(found->status == 200);
  CHECK(boost::json::parse(found->body) == wire_form(stored));

  auto path = std::string{"/api/v1/orders/ord_unknown"};
  auto problem = expect_problem(f.client->Get(path.c_str()), 404, "not_found", path);
  CHECK(text(problem, "title") == "Order not found");

  CHECK(f.fake.total_calls() == 0);
}

TEST_CASE("http_api: metrics show the in-flight limit and whether the store is up", "[http_api]") {
  api_fixture f{[](config& c) { c.http.max_inflight_orders = 5; }};
  auto scrape = [&] {
    auto res = f.client->Get("/metrics");
    REQUIRE(res);
    REQUIRE(res->status == 200);
    return res->body;
  };
  auto up = scrape();
  CHECK(up.find("\ncoffeeshop_inflight_orders_limit 5\n") != std::string::npos);
  CHECK(up.find("\ncoffeeshop_store_up 1\n") != std::string::npos);
  f.services.store_state->ok = false;
  CHECK(scrape().find("\ncoffeeshop_store_up 0\n") != std::string::npos);
}

TEST_CASE("http_api: readyz follows the lifecycle", "[http_api]") {
  api_fixture f;

  auto starting = f.client->Get("/readyz");
  auto problem = expect_problem(starting, 503, "overloaded", "/readyz");
  CHECK(text(problem, "title") == "Not ready");
  CHECK(text(problem, "detail") == "the daemon is starting");
  CHECK(starting->get_header_value("Retry-After") == "1");

  f.life->ready = true;
  auto ready = f.client->Get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(boost::json::parse(ready->body) == boost::json::parse(R"({"status":"ready"})"));

  f.life->draining = true;
  auto draining = f.client->Get("/readyz");
  problem = expect_problem(draining, 503, "overloaded", "/readyz");
  CHECK(text(problem, "detail") == "the daemon is draining");
  CHECK(draining->get_header_value("Retry-After") == "1");
}

TEST_CASE("http_api: a stop right after start ends the server", "[http_api]") {
  // httplib's stop() was lost when it came before the accept loop ran, and the
  // serving thread (and stop's join) then waited forever.
  auto cfg = config::defaults();
  cfg.http.listen_host = "127.0.0.1";
  cfg.http.listen_port = 0;
  cfg.http.threads = 2;
  shared_services services;
  services.log = std::make_shared<logger>(log_level::error, log_format::json);
  services.stats = std::make_shared<metrics>();
  services.board = std::make_shared<integration_board>();
  services.journal = std::make_shared<event_journal>();
  services.store = make_memory_order_store();
  fake_order_gateway fake;
  for (int round = 0; round < 20; ++round) {
    auto api = std::make_shared<http_api>(cfg, menu::built_in(), services, fake,
                                          std::make_shared<lifecycle>());
    std::string error;
    REQUIRE(api->bind(error) > 0);
    REQUIRE(api->start());
    std::promise<void> stopped;
    auto done = stopped.get_future();
    // Detached, holding the api: a regression must fail this test, not hang it.
    std::thread{[api, p = std::move(stopped)]() mutable {
      api->stop();
      p.set_value();
    }}.detach();
    INFO("round " << round);
    REQUIRE(done.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  }
}

TEST_CASE("http_api: the admin outbox lists open entries and retries through the gateway",
          "[http_api]") {
  api_fixture f{with_admin_token};
  auto entry = [](std::string id, outbox_state state, int64_t created) {
    outbox_entry e;
    e.id = std::move(id);
    e.order_id = "ord_1";
    e.status = "ready";
    e.state = state;
    e.attempts = state == outbox_state::failed ? 4 : 0;
    e.last_error = state == outbox_state::failed ? "notification service answered HTTP 400" : "";
    e.created_at_ms = created;
    return e;
  };
  store_write w;
  w.outbox = {entry("ntf_failed", outbox_state::failed, 1000),
              entry("ntf_sent", outbox_state::sent, 2000),
              entry("ntf_pending", outbox_state::pending, 3000)};
  REQUIRE(f.services.store->commit({&w}).ok);
  httplib::Headers auth{{"Authorization", "Bearer " + admin_token}};

  SECTION("without a state: pending and failed, oldest first, never sent") {
    auto res = f.client->Get("/api/v1/admin/outbox", auth);
    REQUIRE(res);
    CHECK(res->status == 200);
    auto entries = object_of(res->body).at("entries").as_array();
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].at("id") == "ntf_failed");
    CHECK(entries[0].at("state") == "failed");
    CHECK(entries[0].at("attempts") == 4);
    CHECK(entries[0].at("lastError") == "notification service answered HTTP 400");
    CHECK(entries[1].at("id") == "ntf_pending");
    CHECK(entries[1].at("lastError").is_null());
    CHECK(entries[1].at("nextAttemptAt").is_null());
  }
  SECTION("a state filters, the limit bounds, sent is not a listable state") {
    auto failed = f.client->Get("/api/v1/admin/outbox?state=failed", auth);
    REQUIRE(failed);
    CHECK(object_of(failed->body).at("entries").as_array().size() == 1);
    auto one = f.client->Get("/api/v1/admin/outbox?limit=1", auth);
    REQUIRE(one);
    CHECK(object_of(one->body).at("entries").as_array().size() == 1);
    expect_problem(f.client->Get("/api/v1/admin/outbox?state=sent", auth), 422, "validation",
                   "/api/v1/admin/outbox");
  }
  SECTION("retry answers 202, 404 or 409 as the gateway says") {
    f.fake.on_requeue([&](const std::string& id) {
      requeue_reply r;
      r.entry = entry(id, outbox_state::pending, 1000);
      r.result = id == "ntf_failed" ? requeue_result::requeued
                 : id == "ntf_sent" ? requeue_result::not_failed
                                    : requeue_result::not_found;
      if (r.result == requeue_result::not_failed)
        r.entry.state = outbox_state::sent;
      return gateway_result<requeue_reply>::ok(r);
    });
    auto ok = f.admin_post("/api/v1/admin/outbox/ntf_failed/retry", "", "Bearer " + admin_token);
    REQUIRE(ok);
    CHECK(ok->status == 202);
    CHECK(object_of(ok->body).at("state") == "pending");
    auto sent = f.admin_post("/api/v1/admin/outbox/ntf_sent/retry", "", "Bearer " + admin_token);
    CHECK(expect_problem(sent, 409, "conflict", "/api/v1/admin/outbox/ntf_sent/retry")
            .at("currentStatus") == "sent");
    expect_problem(f.admin_post("/api/v1/admin/outbox/nope/retry", "", "Bearer " + admin_token),
                   404, "not_found", "/api/v1/admin/outbox/nope/retry");
    CHECK(f.fake.requeues() == std::vector<std::string>{"ntf_failed", "ntf_sent", "nope"});
  }
  SECTION("without the token nothing is read or retried") {
    CHECK(f.client->Get("/api/v1/admin/outbox")->status == 401);
    CHECK(f.admin_post("/api/v1/admin/outbox/ntf_failed/retry", "", "")->status == 401);
    CHECK(f.fake.total_calls() == 0);
  }
}

// -- server spans (CONTRACT §9) -----------------------------------------------------

namespace {

/// The spans of requests to `path`.
std::vector<span> spans_for(const api_fixture& f, const std::string& path) {
  std::vector<span> out;
  for (auto& s : f.spans->spans())
    for (const auto& a : s.attributes)
      if (a.key == "url.path" && std::get<std::string>(a.value) == path)
        out.push_back(s);
  return out;
}

attribute_value attr_value(const span& s, const std::string& key) {
  for (const auto& a : s.attributes)
    if (a.key == key)
      return a.value;
  FAIL("no attribute " << key);
  return {};
}

} // namespace

TEST_CASE("http_api: the server span is the reply's traceparent, child of the caller's",
          "[http_api][spans]") {
  api_fixture f;
  f.fake.reply_create(create_reply(create_result::created));
  auto res = f.post_order(valid_order, {{"traceparent", traceparent}});
  REQUIRE(res);
  auto tp = res->get_header_value("traceparent");
  auto spans = spans_for(f, orders_path);
  REQUIRE(spans.size() == 1);
  const auto& s = spans[0];
  CHECK(tp == "00-" + trace_id + "-" + s.span_id + "-01");
  CHECK(s.trace_id == trace_id);
  CHECK(s.parent_span_id == "00f067aa0ba902b7");
  CHECK(s.kind == span_kind::server);
  CHECK(s.name == "POST /api/v1/orders");
  CHECK(std::get<std::string>(attr_value(s, "http.request.method")) == "POST");
  CHECK(std::get<std::string>(attr_value(s, "http.route")) == "/api/v1/orders");
  CHECK(std::get<int64_t>(attr_value(s, "http.response.status_code")) == 201);
  CHECK(s.status == span_status::unset);
  CHECK(s.start_ns > 0);
  CHECK(s.end_ns >= s.start_ns);
  // The payment call's span hangs under this one.
  auto creates = f.fake.creates();
  REQUIRE(creates.size() == 1);
  CHECK(creates[0].cmd.span_id == s.span_id);
}

TEST_CASE("http_api: without a valid traceparent the server span is a root", "[http_api][spans]") {
  api_fixture f;
  auto res = f.client->Get("/api/v1/orders/ord_missing",
                           {{"traceparent",
                             "00-" + std::string(32, '0') + "-00f067aa0ba902b7-01"}});
  REQUIRE(res);
  auto spans = spans_for(f, "/api/v1/orders/ord_missing");
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].parent_span_id.empty());
  CHECK(spans[0].trace_id != std::string(32, '0'));
  CHECK(spans[0].name == "GET /api/v1/orders/{id}");
  CHECK(std::get<int64_t>(attr_value(spans[0], "http.response.status_code")) == 404);
  CHECK(spans[0].status == span_status::unset); // a 4xx is the client's fault
}

TEST_CASE("http_api: a 5xx reply makes the server span an error", "[http_api][spans]") {
  api_fixture f;
  f.fake.fail_all("actor system is stopping");
  auto res = f.post_order(valid_order);
  REQUIRE(res);
  REQUIRE(res->status == 503);
  auto spans = spans_for(f, orders_path);
  REQUIRE(spans.size() == 1);
  CHECK(spans[0].status == span_status::error);
  CHECK(std::get<std::string>(attr_value(spans[0], "error.type")) == "503");
}

// -- GET /api/v1/openapi.json -------------------------------------------------------

namespace {

std::string read_text_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  INFO(path);
  REQUIRE(in);
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

const std::string openapi_source = std::string{COFFEESHOP_TEST_FIXTURES} +
                                   "/../../../docs/openapi.json";

} // namespace

TEST_CASE("http_api: GET /api/v1/openapi.json serves docs/openapi.json as built", "[http_api]") {
  api_fixture f;
  auto res = f.client->Get("/api/v1/openapi.json");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "application/json");
  CHECK(res->body == read_text_file(openapi_source));
  CHECK(text(object_of(res->body), "openapi") == "3.1.0");
}

TEST_CASE("http_api: the OpenAPI document describes every route and nothing unrouted",
          "[http_api]") {
  api_fixture f;
  auto doc = object_of(read_text_file(openapi_source));
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto& path : doc.at("paths").as_object())
    for (const auto& member : path.value().as_object()) {
      std::string method{member.key()};
      if (method == "parameters")
        continue;
      std::transform(method.begin(), method.end(), method.begin(), ::toupper);
      documented.emplace(method, std::string{path.key()});
    }
  std::set<std::pair<std::string, std::string>> routed;
  for (const auto& route : f.api->routes()) {
    INFO(route.first << " " << route.second);
    CHECK(documented.count(route) == 1);
    routed.insert(route);
    // Every GET route answers HEAD too (the dispatcher's rule), so the document has it.
    if (route.first == "GET") {
      CHECK(documented.count({"HEAD", route.second}) == 1);
      routed.emplace("HEAD", route.second);
    }
  }
  for (const auto& op : documented) {
    INFO(op.first << " " << op.second);
    CHECK(routed.count(op) == 1);
  }
  // ... and does: a documented HEAD is never 405, and never has a body.
  for (const auto& [method, path] : documented) {
    if (method != "HEAD")
      continue;
    std::string concrete = path;
    for (auto open = concrete.find('{'); open != std::string::npos; open = concrete.find('{'))
      concrete.replace(open, concrete.find('}', open) - open + 1, "x");
    auto res = f.client->Head(concrete.c_str());
    INFO("HEAD " << concrete);
    REQUIRE(res);
    CHECK(res->status != 405);
    CHECK(res->body.empty());
  }
}

// -- the operator page (CONTRACT §9) ------------------------------------------------

TEST_CASE("http_api: GET / serves the self-contained operator page", "[http_api][page]") {
  api_fixture f;
  auto res = f.client->Get("/");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == "text/html; charset=utf-8");
  // The browser itself refuses anything from another origin.
  CHECK(res->get_header_value("Content-Security-Policy").find("default-src 'none'") !=
        std::string::npos);
  const auto& page = res->body;
  CHECK(page.rfind("<!doctype html>", 0) == 0);
  CHECK(page.find("</html>") != std::string::npos);
  // Nothing is loaded from elsewhere: no external script, stylesheet, font or image.
  for (const char* ref : {"src=\"http", "href=\"http", "url(http", "@import", "<link"})
    CHECK(page.find(ref) == std::string::npos);
  // It reads what CONTRACT §9 lists from the daemon's own APIs.
  for (const char* api : {"/api/v1/integrations", "/metrics", "/api/v1/events"})
    CHECK(page.find(api) != std::string::npos);
  CHECK(f.client->Post("/", "", "application/json")->status == 405);
}
