// Hostile clients and upstreams, the small ones (issue 12, item 11) and the embedded
// simulator's control routes (item 9): blank Idempotency-Keys, invalid percent-encodings,
// --check-config with a bad menu file, HEAD, the traceparent sampled flag, oversized bodies,
// shutdown with a hanging payment, and /_sim/* inside the daemon.

#include "harness.hpp"
#include "raw_socket.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop::e2e;
using namespace std::chrono_literals;

namespace {

/// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
/// U+10FFFF).
bool valid_utf8(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size())
        return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

/// The body of the first reply in `raw` (after its head), "" when there is none.
std::string body_of(const std::string& raw) {
  auto end = raw.find("\r\n\r\n");
  return end == std::string::npos ? std::string{} : raw.substr(end + 4);
}

/// A raw GET of `target` (sent as is, percent-encodings and all); the whole reply.
std::string raw_get(int port, const std::string& target) {
  raw_conn c(port);
  REQUIRE(c.send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  return c.read_replies(1, 3000ms);
}

/// POST /api/v1/orders with the raw header line `key_line` ("Idempotency-Key:" ...).
std::string post_with_header_line(int port, const std::string& key_line) {
  const auto body = order_body();
  raw_conn c(port);
  REQUIRE(c.send("POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
                 key_line + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                 body));
  return c.read_replies(1, 5000ms);
}

/// The port of the daemon's built-in simulator, from its "integration provider" log line.
int builtin_sim_port(const daemon_process& d) {
  for (const auto& line : d.proc.log_lines("integration provider")) {
    auto url = str(line, "url");
    const std::string prefix = "http://127.0.0.1:";
    if (url.rfind(prefix, 0) == 0)
      return std::stoi(url.substr(prefix.size()));
  }
  return 0;
}

} // namespace

// -- a. Idempotency-Key ---------------------------------------------------------------

TEST_CASE("hostile: an empty or all-blank Idempotency-Key is 422 validation and makes no order",
          "[e2e][hostile]") {
  auto d = start_daemon({"simulator.profile=fast"});
  for (const std::string& line : std::vector<std::string>{"Idempotency-Key:", "Idempotency-Key:    ",
                                                         "idempotency-key: \t"}) {
    INFO("header line '" << line << "'");
    for (int repeat = 0; repeat < 2; ++repeat) {
      auto reply = post_with_header_line(d.port, line);
      INFO(reply);
      CHECK(reply_statuses(reply) == std::vector<int>{422});
      auto problem = parse_json(body_of(reply));
      CHECK(str(problem, "errorType") == "validation");
      REQUIRE(problem.is_object());
      auto* errors = problem.as_object().if_contains("errors");
      REQUIRE(errors);
      REQUIRE(errors->is_array());
      REQUIRE(!errors->as_array().empty());
      CHECK(str(errors->as_array()[0], "field") == "Idempotency-Key");
    }
  }
  auto list = d.get("/api/v1/orders");
  REQUIRE(list.status == 200);
  CHECK(list.json.at("orders").as_array().empty());
  // A real key still works.
  CHECK(d.create_order(order_body(), {{"Idempotency-Key", "k-1"}}).status == 201);
}

// -- b. invalid percent-encodings -----------------------------------------------------

TEST_CASE("hostile: invalid percent-encodings never make problem+json invalid UTF-8",
          "[e2e][hostile]") {
  auto d = start_daemon({"simulator.profile=fast"});
  for (const std::string& target :
       std::vector<std::string>{"/api/v1/orders/%ff%fe", "/%c3%28", "/api/v1/orders/ord_%e2%82",
                                "/%ed%a0%80", "/api/v1/orders/%c0%af/status"}) {
    INFO("target " << target);
    auto reply = raw_get(d.port, target);
    INFO(reply);
    auto statuses = reply_statuses(reply);
    REQUIRE(statuses.size() == 1);
    CHECK((statuses[0] == 404 || statuses[0] == 405));
    auto body = body_of(reply);
    CHECK(valid_utf8(body));
    auto problem = parse_json(body);
    CHECK(problem.is_object());
  }
}

// -- c. --check-config and the menu file ------------------------------------------------

TEST_CASE("cli: --check-config fails with exit 2 for a menu file the daemon cannot load",
          "[e2e][hostile][cli]") {
  temp_dir dir;
  const auto bad = dir.write_file("menu.json", "{this is not a menu");
  const auto missing = dir.path() + "/no-such-menu.json";
  for (const auto& path : {bad, missing}) {
    INFO("menu " << path);
    process p(daemon_bin(), {"--check-config", "--set", "menu=" + path});
    auto st = p.wait_exit(20s);
    INFO(p.output());
    REQUIRE(st.has_value());
    CHECK(*st == 2);
    CHECK(p.stdout_text().find("ok") == std::string::npos);
    CHECK(p.stderr_text().find("menu") != std::string::npos);
    CHECK(p.stderr_text().find(path) != std::string::npos);
  }
  // The shipped defaults and a good menu file still pass.
  process ok(daemon_bin(), {"--check-config"});
  auto st = ok.wait_exit(20s);
  REQUIRE(st.has_value());
  CHECK(*st == 0);
}

// -- d. HEAD ------------------------------------------------------------------------

TEST_CASE("hostile: HEAD on a GET route answers like GET without a body", "[e2e][hostile]") {
  auto d = start_daemon({"simulator.profile=fast"});
  auto created = d.create_order(order_body());
  REQUIRE(created.status == 201);
  const auto id = str(created.json, "id");
  for (const auto& path :
       std::vector<std::string>{"/healthz", "/api/v1/menu", "/api/v1/orders/" + id,
                                "/api/v1/orders?limit=5"}) {
    INFO("HEAD " << path);
    auto get = d.get(path);
    REQUIRE(get.status == 200);
    raw_conn c(d.port);
    // A second request after the HEAD proves no body was sent: its reply comes next.
    REQUIRE(c.send("HEAD " + path +
                   " HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n"
                   "Host: x\r\nConnection: close\r\n\r\n"));
    auto raw = c.read_until(
      [](const std::string& t) {
        auto second = t.find("HTTP/1.1", 1);
        return second != std::string::npos && t.find("\r\n\r\n", second) != std::string::npos;
      },
      3000ms);
    INFO(raw);
    REQUIRE(raw.rfind("HTTP/1.1 200", 0) == 0);
    auto head_end = raw.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    // Right after the HEAD reply's head comes the next reply, not a body.
    CHECK(raw.compare(head_end + 4, 9, "HTTP/1.1 ") == 0);
    auto head = raw.substr(0, head_end);
    auto cl = head.find("Content-Length: ");
    if (cl != std::string::npos) {
      auto value = head.substr(cl + 16, head.find("\r\n", cl) - cl - 16);
      CHECK(std::stoul(value) == get.body.size());
    }
  }
}

// -- e. traceparent flags -----------------------------------------------------------

TEST_CASE("hostile: the traceparent sampled flag goes upstream as received", "[e2e][hostile]") {
  auto sim = start_sim("fast");
  auto d = daemon_for(sim);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  for (const std::string& flags : std::vector<std::string>{"00", "01"}) {
    INFO("flags " << flags);
    sim.clear();
    auto r = d.create_order(order_body(),
                            {{"traceparent", "00-" + trace + "-00f067aa0ba902b7-" + flags}});
    REQUIRE(r.status == 201);
    CHECK(r.header("traceparent").substr(53) == flags);
    auto pays = sim.requests("payment");
    REQUIRE(pays.size() == 1);
    auto sent = header_of(pays[0], "traceparent");
    CHECK(trace_id_of(sent) == trace);
    CHECK(sent.substr(53) == flags);

    // The order's notification goes out later, from the outbox, for a PATCH that carries no
    // traceparent: with the flags of the request that created the order.
    const auto id = str(r.json, "id");
    REQUIRE(d.set_status(id, "preparation").status == 200);
    const auto notified = notification_traceparent(sim, id, "preparation");
    INFO("notification traceparent " << notified);
    CHECK(trace_id_of(notified) == trace);
    CHECK((notified.size() == 55 && notified.substr(53) == flags));
  }
}

// -- f. oversized Content-Length ------------------------------------------------------

TEST_CASE("hostile: an oversized Content-Length is refused with 413 well before any timeout",
          "[e2e][hostile]") {
  // http.request_timeout_ms (30 s) and read_timeout_ms (10 s) are what a held thread would
  // wait; the 413 must come before anything of the body is read.
  auto d = start_daemon({"simulator.profile=fast", "http.max_body_bytes=1024"});
  raw_conn c(d.port);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(c.send("POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 "Content-Length: 1025\r\n\r\n"));
  auto reply = c.read_replies(1, 5000ms);
  auto took = std::chrono::steady_clock::now() - t0;
  INFO(reply);
  CHECK(reply_statuses(reply) == std::vector<int>{413});
  CHECK(took < scaled(1000ms));
}

// -- g. shutdown with a hanging payment ------------------------------------------------

// -- item 9: the embedded simulator ---------------------------------------------------

TEST_CASE("hostile: the built-in simulator's control routes need the daemon's secret token",
          "[e2e][hostile]") {
  auto d = start_daemon({"simulator.profile=fast"});
  const int sim_port = builtin_sim_port(d);
  INFO(d.proc.output());
  REQUIRE(sim_port > 0);
  REQUIRE(d.create_order(order_body()).status == 201);
  for (const char* path : {"/_sim/requests", "/_sim/ledger", "/_sim/behavior"}) {
    INFO("GET " << path);
    auto r = request(sim_port, "GET", path, "", {}, "", 5s);
    CHECK(r.status == 401);
    CHECK(r.body.find("ana@example.com") == std::string::npos);
  }
  auto put = request(sim_port, "PUT", "/_sim/behavior", R"({"failureRate":1.0})", {},
                     "application/json", 5s);
  CHECK(put.status == 401);
  auto guessed = request(sim_port, "GET", "/_sim/requests", "", {{"Authorization", "Bearer x"}}, "",
                         5s);
  CHECK(guessed.status == 401);
  auto del = request(sim_port, "DELETE", "/_sim/ledger", "", {}, "", 5s);
  CHECK(del.status == 401);
  // The behaviour is unchanged: orders still succeed.
  CHECK(d.create_order(order_body()).status == 201);
  // The service routes stay open to the daemon.
  auto pay = request(sim_port, "POST", "/api/v1/payment", R"({"value":1})", {}, "application/json",
                     5s);
  CHECK(pay.status == 200);
}
