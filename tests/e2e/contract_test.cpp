// The API against its OpenAPI document (docs/openapi.json), checked by a tool we did not
// write: the scenarios below run through Stoplight Prism as a validating proxy in front
// of a real daemon, so every request and every reply is checked against the document.
//
// Two proxies: `--errors` for requests the document allows (a reply that breaks the
// document becomes Prism's own 500, a request that breaks it Prism's own 422), and one
// without it for requests the document forbids (wrong media type, out-of-range fields,
// no token): Prism forwards those and reports every violation in `sl-violations`,
// so the daemon's error reply is validated too. Prism comes from tests/contract
// (.ci/install-deps --test runs npm ci there).

#include "harness.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <stdexcept>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

const std::string admin_token = "s3cret";
const std::string coffeeshop_problem = "https://coffeeshop.dev/problems/";
const std::string prism_problem = "https://stoplight.io/prism/errors#";

std::string prism_bin() {
  return std::string{source_dir()} + "/tests/contract/node_modules/.bin/prism";
}
std::string openapi_path() { return std::string{source_dir()} + "/docs/openapi.json"; }

/// A loopback port that was free a moment ago: Prism takes a port number, not 0.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  if (port <= 0)
    throw std::runtime_error("no free loopback port");
  return port;
}

/// `prism proxy DOC UPSTREAM` on a loopback port; killed with the process object.
struct prism_proxy {
  process proc;
  int port;
};

prism_proxy start_prism(const std::string& document, const daemon_process& upstream, bool errors) {
  auto bin = prism_bin();
  if (::access(bin.c_str(), X_OK) != 0)
    throw std::runtime_error(bin + " is missing: run .ci/install-deps --test");
  int port = free_port();
  std::vector<std::string> args{"proxy",     document, upstream.base_url(), "--host",
                                "127.0.0.1", "--port", std::to_string(port)};
  if (errors)
    args.push_back("--errors");
  return prism_proxy{process{bin, args}, port};
}

/// Waits until the proxy answers /healthz from the daemon (Node takes seconds to start).
void wait_ready(prism_proxy& p) {
  bool up = eventually(
    [&] {
      return !p.proc.running() || request(p.port, "GET", "/healthz", "", {}, "", 2s).status == 200;
    },
    60s);
  INFO(p.proc.output());
  REQUIRE(p.proc.running());
  REQUIRE(up);
}

/// A scenario's daemon: its own simulator, an admin token, and a payment policy short
/// enough that every failure status is reached in well under a second.
struct contract_fixture {
  sim_process sim = start_sim("fast");
  daemon_process daemon = daemon_for(
    sim, {"admin.token=\"" + admin_token + "\"", "services.payment.retry.max_retries=1",
          "services.payment.retry.base_delay_ms=100", "services.payment.retry.max_delay_ms=100",
          "services.payment.timeout_ms=300", "services.payment.total_timeout_ms=350",
          "services.payment.circuit_breaker.failure_threshold=3"});
};

std::string violations(const http_result& r) { return r.header("sl-violations"); }

/// The daemon answered `status` and Prism found nothing wrong with the exchange.
void check_conforms(const http_result& r, int status, const prism_proxy& p) {
  INFO("reply " << r.status << " " << r.error << ": " << r.body.substr(0, 2000));
  INFO("violations: " << violations(r));
  INFO("prism: " << p.proc.output().substr(0, 4000));
  CHECK(r.status == status);
  CHECK_FALSE(r.has_header("sl-violations"));
  if (r.json.is_object() && r.json.get_object().contains("type"))
    CHECK(str(r.json, "type").rfind(prism_problem, 0) == std::string::npos);
}

void check_conforms_problem(const http_result& r, int status, const std::string& error_type,
                            const prism_proxy& p) {
  check_conforms(r, status, p);
  CHECK(str(r.json, "errorType") == error_type);
}

/// Through the reporting proxy: the daemon answered `status`/`error_type`, Prism found
/// the request against the document when `request_breaks_document`, and nothing wrong
/// with the reply either way.
void check_refused(const http_result& r, int status, const std::string& error_type,
                   bool request_breaks_document) {
  INFO("reply " << r.status << " " << r.error << ": " << r.body.substr(0, 2000));
  INFO("violations: " << violations(r));
  REQUIRE(r.status == status);
  CHECK(str(r.json, "type") == coffeeshop_problem + error_type);
  auto found = violations(r);
  if (request_breaks_document)
    CHECK(!found.empty());
  auto list = parse_json(found);
  if (!found.empty())
    REQUIRE(list.is_array());
  if (list.is_array())
    for (const auto& v : list.get_array()) {
      INFO(json::serialize(v));
      const auto* location = v.is_object() ? v.get_object().if_contains("location") : nullptr;
      REQUIRE((location && location->is_array() && !location->get_array().empty()));
      CHECK(location->get_array()[0] == "request");
    }
}

httplib::Headers admin() { return {{"Authorization", "Bearer " + admin_token}}; }

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

} // namespace

TEST_CASE("contract: the API scenarios conform to docs/openapi.json through prism --errors",
          "[e2e][contract]") {
  contract_fixture f;
  auto p = start_prism(openapi_path(), f.daemon, true);
  wait_ready(p);
  auto call = [&](const std::string& method, const std::string& path, const std::string& body = "",
                  httplib::Headers headers = {}) {
    return request(p.port, method, path, body, std::move(headers));
  };

  // Reads and operations.
  for (const char* path : {"/api/v1/menu", "/healthz", "/readyz", "/metrics",
                           "/api/v1/integrations", "/api/v1/openapi.json"})
    check_conforms(call("GET", path), 200, p);
  // Not here: HEAD. Prism 5.16's proxy parses the (empty) body of a HEAD reply whose
  // Content-Type is application/json and answers its own 500 ("invalid json response body");
  // unit:http_api checks the document's HEAD operations against the router instead.

  // Create, replay, a reused key, reads of the order.
  auto body = order_body();
  auto created = call("POST", "/api/v1/orders", body, {{"Idempotency-Key", "contract-1"}});
  check_conforms(created, 201, p);
  auto id = str(created.json, "id");
  REQUIRE(!id.empty());
  check_conforms(call("POST", "/api/v1/orders", body, {{"Idempotency-Key", "contract-1"}}), 200, p);
  check_conforms_problem(call("POST", "/api/v1/orders", order_body("Donuts", "Glazed", 1),
                              {{"Idempotency-Key", "contract-1"}}),
                         422, "validation", p);
  check_conforms(call("GET", "/api/v1/orders/" + id), 200, p);
  check_conforms(call("GET", "/api/v1/orders?status=waiting&limit=2"), 200, p);
  check_conforms_problem(call("GET", "/api/v1/orders/ord_unknown"), 404, "not_found", p);
  // Well-formed requests the menu refuses.
  check_conforms_problem(call("POST", "/api/v1/orders", order_body("Tea", "", 1)), 422,
                         "validation", p);
  check_conforms_problem(call("POST", "/api/v1/orders", order_body("Latte", "Mint", 1)), 422,
                         "validation", p);

  // Status changes, a wrong step, an unknown order.
  check_conforms(call("PATCH", "/api/v1/orders/" + id + "/status", R"({"status":"preparation"})"),
                 200, p);
  auto conflict = call("PATCH", "/api/v1/orders/" + id + "/status", R"({"status":"delivered"})");
  check_conforms_problem(conflict, 409, "conflict", p);
  CHECK(str(conflict.json, "currentStatus") == "preparation");
  check_conforms_problem(call("PATCH", "/api/v1/orders/ord_unknown/status",
                              R"({"status":"preparation"})"),
                         404, "not_found", p);
  check_conforms(call("GET", "/api/v1/events?orderId=" + id + "&limit=50"), 200, p);

  // Every failed payment: declined, a timeout, exhausted retries, then the breaker.
  f.sim.set_behavior({{"service", "payment"}, {"fixedStatus", 402}});
  check_conforms_problem(call("POST", "/api/v1/orders", body), 402, "payment_declined", p);
  f.sim.set_behavior({{"service", "payment"}, {"fixedStatus", nullptr}, {"hang", true}});
  check_conforms_problem(call("POST", "/api/v1/orders", body), 504, "upstream_timeout", p);
  f.sim.set_behavior({{"service", "payment"}, {"hang", false}, {"fixedStatus", 500}});
  check_conforms_problem(call("POST", "/api/v1/orders", body), 502, "upstream_error", p);
  // Its 3rd failed attempt opened the breaker: the next create is refused at once.
  auto open = call("POST", "/api/v1/orders", body);
  check_conforms_problem(open, 503, "circuit_open", p);
  CHECK(!open.header("Retry-After").empty());
  f.sim.reset_behavior();

  // Admin: the breaker, the outbox, a crash rehearsal, a wrong token, unknown names.
  auto circuit = "/api/v1/integrations/payment/circuit";
  check_conforms(call("POST", circuit, R"({"action":"reset"})", admin()), 200, p);
  check_conforms(call("POST", circuit, R"({"action":"isolate"})", admin()), 200, p);
  check_conforms(call("POST", circuit, R"({"action":"reset"})", admin()), 200, p);
  check_conforms_problem(call("POST", "/api/v1/integrations/nope/circuit", R"({"action":"reset"})",
                              admin()),
                         404, "not_found", p);
  check_conforms_problem(call("POST", circuit, R"({"action":"reset"})",
                              {{"Authorization", "Bearer not-" + admin_token}}),
                         403, "forbidden", p);
  check_conforms(call("GET", "/api/v1/admin/outbox", "", admin()), 200, p);
  check_conforms(call("GET", "/api/v1/admin/outbox?state=failed&limit=10", "", admin()), 200, p);
  auto order = call("GET", "/api/v1/orders/" + id);
  auto entry = str(order.json.at("notifications").at(0), "id");
  REQUIRE(!entry.empty());
  check_conforms_problem(call("POST", "/api/v1/admin/outbox/" + entry + "/retry", "", admin()), 409,
                         "conflict", p);
  check_conforms_problem(call("POST", "/api/v1/admin/outbox/nope/retry", "", admin()), 404,
                         "not_found", p);
  check_conforms(call("POST", "/api/v1/admin/actors/notification/crash", "", admin()), 202, p);
  check_conforms_problem(call("POST", "/api/v1/admin/actors/nope/crash", "", admin()), 404,
                         "not_found", p);

  check_conforms(call("GET", "/api/v1/instances"), 200, p);
  check_conforms(call("GET", "/"), 200, p);

  // A request the document forbids never reaches the daemon through --errors.
  auto refused = call("POST", "/api/v1/orders", order_body("Latte", "Vanilla", 0));
  CHECK(refused.status == 422);
  CHECK(str(refused.json, "type").rfind(prism_problem, 0) == 0);
}

TEST_CASE("contract: error replies to requests the document forbids conform to it too",
          "[e2e][contract]") {
  contract_fixture f;
  auto p = start_prism(openapi_path(), f.daemon, false);
  wait_ready(p);
  auto call = [&](const std::string& method, const std::string& path, const std::string& body,
                  httplib::Headers headers = {},
                  const std::string& content_type = "application/json") {
    return request(p.port, method, path, body, std::move(headers), content_type);
  };

  // Not here: a body that is not JSON (400). Prism 5.16 never answers a request whose
  // JSON body does not parse, so that reply is checked by api_test.cpp alone.
  check_refused(call("POST", "/api/v1/orders", order_body(), {}, "text/plain"), 415,
                "unsupported_media_type", true);
  check_refused(call("POST", "/api/v1/orders", order_body("Latte", "Vanilla", 0)), 422,
                "validation", true);
  check_refused(call("POST", "/api/v1/orders", R"({"customerEmail":"ana@example.com"})"), 422,
                "validation", true);
  check_refused(call("POST", "/api/v1/orders", order_body(),
                     {{"Idempotency-Key", std::string(300, 'k')}}),
                422, "validation", true);
  check_refused(call("GET", "/api/v1/orders?limit=0", ""), 422, "validation", true);
  check_refused(call("GET", "/api/v1/events?limit=5000", ""), 422, "validation", true);
  check_refused(call("PATCH", "/api/v1/orders/ord_x/status", R"({"status":"brewing"})"), 422,
                "validation", true);
  check_refused(call("POST", "/api/v1/integrations/payment/circuit", R"({"action":"reset"})"), 401,
                "unauthorized", true);
  check_refused(call("POST", "/api/v1/integrations/payment/circuit", R"({"action":"open"})",
                     admin()),
                422, "validation", true);
  check_refused(call("GET", "/api/v1/admin/outbox?state=sent", "", admin()), 422, "validation",
                true);
  // Over http.max_body_bytes (64 KiB): the document cannot forbid a size, the daemon does.
  std::string big = R"({"customerEmail":"ana@example.com","items":[],"pad":")" +
                    std::string(70000, 'x') + R"("})";
  check_refused(call("POST", "/api/v1/orders", big), 413, "payload_too_large", false);
}

TEST_CASE("contract: prism --errors fails a reply that breaks the document", "[e2e][contract]") {
  // The check above is only as good as Prism's: against a document whose health reply
  // must say "healthy", the daemon's {"status":"ok"} has to come back as a violation.
  contract_fixture f;
  temp_dir dir;
  auto doc = read_file(openapi_path());
  const std::string ok = R"("const": "ok")";
  auto at = doc.find(ok);
  REQUIRE(at != std::string::npos);
  doc.replace(at, ok.size(), R"("const": "healthy")");
  auto p = start_prism(dir.write_file("openapi.json", doc), f.daemon, true);
  bool up = eventually(
    [&] {
      return !p.proc.running() || request(p.port, "GET", "/readyz", "", {}, "", 2s).status == 200;
    },
    60s);
  INFO(p.proc.output());
  REQUIRE(up);
  auto r = request(p.port, "GET", "/healthz");
  INFO(r.body);
  CHECK(r.status == 500);
  CHECK(str(r.json, "type") == prism_problem + "VIOLATIONS");
  CHECK(r.body.find(R"("location":["response","body","status"])") != std::string::npos);
}
