// End-to-end trace export (CONTRACT §9, issue 14): the daemon exports OTLP/HTTP JSON to a
// capturing collector in this process, and its payment upstream is a scripted server here
// too (first attempt 500, then 200), so one order with one retry yields a known span tree
// whose ids can be held against the traceparent headers the upstream saw.

#include "harness.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <map>
#include <mutex>
#include <thread>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

/// A loopback server on a port chosen at run time: POST /v1/traces is a collector keeping
/// every span it receives; POST /pay fails its first call with 500 and succeeds after;
/// POST /notify succeeds. Stopped and joined in the destructor, also when a check failed.
class capture_server {
public:
  capture_server() {
    server_.Post("/v1/traces", [this](const httplib::Request& req, httplib::Response& res) {
      auto doc = json::parse(req.body).as_object();
      std::lock_guard<std::mutex> lk(mtx_);
      for (auto& rs : doc.at("resourceSpans").as_array()) {
        resources_.push_back(rs.at("resource").as_object());
        for (auto& ss : rs.at("scopeSpans").as_array())
          for (auto& s : ss.at("spans").as_array())
            spans_.push_back(s.as_object());
      }
      res.set_content("{}", "application/json");
    });
    server_.Post("/pay", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lk(mtx_);
      payment_traceparents_.push_back(req.get_header_value("traceparent"));
      if (payment_traceparents_.size() == 1) {
        res.status = 500;
        res.set_content(R"({"success":false})", "application/json");
      } else {
        res.set_content(R"({"success":true,"reference":"pay_1"})", "application/json");
      }
    });
    server_.Post("/notify", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"success":true})", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }

  ~capture_server() {
    server_.stop();
    thread_.join();
  }

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  std::vector<json::object> spans() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return spans_;
  }
  std::vector<json::object> resources() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return resources_;
  }
  std::vector<std::string> payment_traceparents() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return payment_traceparents_;
  }

private:
  httplib::Server server_;
  int port_ = -1;
  std::thread thread_;
  mutable std::mutex mtx_;
  std::vector<json::object> spans_;
  std::vector<json::object> resources_;
  std::vector<std::string> payment_traceparents_;
};

/// The value object of attribute `key`; an empty object when absent.
json::object attr(const json::object& s, const std::string& key) {
  for (const auto& a : s.at("attributes").as_array())
    if (a.at("key").as_string() == key)
      return a.at("value").as_object();
  return {};
}

std::string str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string{v->get_string()} : std::string{};
}

/// The span id of a traceparent header.
std::string span_of(const std::string& traceparent) { return traceparent.substr(36, 16); }

const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string caller_span = "00f067aa0ba902b7";

} // namespace

TEST_CASE("telemetry: one retried order exports the span tree its traceparents name",
          "[e2e][telemetry]") {
  capture_server up;
  auto d = start_daemon(
    {"simulator.enabled=false", "services.payment.url=" + up.base_url() + "/pay",
     "services.notification.url=" + up.base_url() + "/notify",
     "services.payment.retry.base_delay_ms=50", "telemetry.otlp_endpoint=" + up.base_url(),
     "telemetry.service_name=coffeeshopd-e2e"});
  auto r = d.create_order(order_body(),
                          {{"traceparent", "00-" + trace + "-" + caller_span + "-01"}});
  REQUIRE(r.status == 201);
  auto reply_span = span_of(r.header("traceparent"));

  // The order's spans: the server span, the payment call and its two attempts.
  auto of_trace = [&] {
    std::vector<json::object> out;
    for (auto& s : up.spans())
      if (str(s, "traceId") == trace && str(s, "name") != "GET /api/v1/orders/{id}")
        out.push_back(s);
    return out;
  };
  REQUIRE(eventually([&] { return of_trace().size() >= 4; }));
  std::map<std::string, std::vector<json::object>> by_name;
  for (auto& s : of_trace())
    by_name[str(s, "name")].push_back(s);
  INFO(json::serialize(json::value_from(of_trace())));
  REQUIRE(by_name["POST /api/v1/orders"].size() == 1);
  REQUIRE(by_name["payment call"].size() == 1);
  REQUIRE(by_name["POST"].size() == 2);
  const auto& server = by_name["POST /api/v1/orders"][0];
  const auto& call = by_name["payment call"][0];
  auto clients = by_name["POST"];
  if (attr(clients[0], "coffeeshop.attempt").at("intValue") != "1")
    std::swap(clients[0], clients[1]);

  // Server span: the caller's child, and the one the reply's traceparent names.
  CHECK(server.at("kind") == 2);
  CHECK(str(server, "parentSpanId") == caller_span);
  CHECK(str(server, "spanId") == reply_span);
  CHECK(attr(server, "http.response.status_code").at("intValue") == "201");
  CHECK(attr(server, "http.route").at("stringValue") == "/api/v1/orders");
  // The payment call: internal, under the server span, with the retry as an event.
  CHECK(call.at("kind") == 1);
  CHECK(str(call, "parentSpanId") == reply_span);
  CHECK(attr(call, "coffeeshop.attempts").at("intValue") == "2");
  const auto& events = call.at("events").as_array();
  REQUIRE(events.size() == 1);
  CHECK(events[0].at("name") == "retry_scheduled");
  // One client span per attempt, under the call span, with exactly the span ids the
  // upstream received in its traceparent headers.
  auto seen = up.payment_traceparents();
  REQUIRE(seen.size() == 2);
  for (int i = 0; i < 2; ++i) {
    INFO("attempt " << i + 1);
    const auto& c = clients[static_cast<std::size_t>(i)];
    CHECK(c.at("kind") == 3);
    CHECK(str(c, "parentSpanId") == str(call, "spanId"));
    CHECK(seen[static_cast<std::size_t>(i)] == "00-" + trace + "-" + str(c, "spanId") + "-01");
    CHECK(attr(c, "http.request.method").at("stringValue") == "POST");
    CHECK(str(attr(c, "url.full"), "stringValue") == up.base_url() + "/pay");
    CHECK(attr(c, "coffeeshop.circuit.state").at("stringValue") == "closed");
  }
  CHECK(attr(clients[0], "http.response.status_code").at("intValue") == "500");
  CHECK(attr(clients[0], "error.type").at("stringValue") == "500");
  CHECK(clients[0].at("status").at("code") == 2);
  CHECK(attr(clients[1], "http.response.status_code").at("intValue") == "200");
  CHECK(attr(clients[1], "error.type").empty());
  // Time runs forward down the tree: the call inside the request, the attempts inside it.
  auto ns = [](const json::object& s, const char* k) { return std::stoll(str(s, k)); };
  CHECK(ns(server, "startTimeUnixNano") <= ns(call, "startTimeUnixNano"));
  CHECK(ns(call, "endTimeUnixNano") <= ns(server, "endTimeUnixNano"));
  CHECK(ns(clients[0], "endTimeUnixNano") <= ns(clients[1], "startTimeUnixNano"));

  auto res = up.resources().at(0);
  CHECK(attr(res, "service.name").at("stringValue") == "coffeeshopd-e2e");
  CHECK_FALSE(str(attr(res, "service.version"), "stringValue").empty());
  CHECK_FALSE(str(attr(res, "service.instance.id"), "stringValue").empty());
  auto metrics = d.get("/metrics");
  CHECK(metrics.body.find("coffeeshop_telemetry_spans_dropped_total 0") != std::string::npos);
}

TEST_CASE("telemetry: an unreachable collector costs dropped spans, never an order",
          "[e2e][telemetry]") {
  // A port that was free a moment ago: nothing listens there.
  int dead_port = 0;
  {
    httplib::Server probe;
    dead_port = probe.bind_to_any_port("127.0.0.1");
  }
  REQUIRE(dead_port > 0);
  auto d = start_daemon({"simulator.profile=fast",
                         "telemetry.otlp_endpoint=http://127.0.0.1:" + std::to_string(dead_port)});
  for (int i = 0; i < 3; ++i)
    REQUIRE(d.create_order(order_body()).status == 201);
  auto dropped = [&] {
    const std::string series = "\ncoffeeshop_telemetry_spans_dropped_total ";
    auto body = d.get("/metrics").body;
    auto at = body.find(series);
    return at == std::string::npos ? 0.0 : std::stod(body.substr(at + series.size()));
  };
  // At least the three orders' server, call and attempt spans.
  CHECK(eventually([&] { return dropped() >= 9; }));
}
