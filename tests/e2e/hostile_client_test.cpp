// Hostile clients (issue 12): slow heads, idle keep-alive floods, more connections than
// threads, header floods, compressed and oversized bodies, pipelining. Each daemon runs with
// few threads so that a few dozen loopback connections reach its limits.

#include "harness.hpp"
#include "raw_socket.hpp"

#include <catch2/catch.hpp>

#include <deque>
#include <string>
#include <vector>

using namespace coffeeshop::e2e;

namespace {

const std::string healthz = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

/// A daemon with `threads` server threads and the built-in fast simulator.
daemon_process small_daemon(int threads, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets{"simulator.profile=fast", "http.threads=" + std::to_string(threads),
                                "http.max_inflight_orders=1"};
  for (auto& s : extra)
    sets.push_back(std::move(s));
  return start_daemon(std::move(sets));
}

/// `n` connections that each sent the start of a request head and nothing more.
std::deque<raw_conn> slow_heads(int port, int n) {
  std::deque<raw_conn> conns;
  for (int i = 0; i < n; ++i) {
    conns.emplace_back(port);
    REQUIRE(conns.back().send("GET /api/v1/menu HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  }
  return conns;
}

/// GET /healthz on a new connection with a 2 s timeout (a queued request gets nothing).
int health(const daemon_process& d) {
  return request(d.port, "GET", "/healthz", "", {}, "", std::chrono::seconds{2}).status;
}

/// The reply to GET /healthz with `n` extra headers besides Host.
std::string health_with_headers(int port, int n) {
  std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < n; ++i)
    req += "X-H" + std::to_string(i) + ": v\r\n";
  raw_conn c(port);
  c.send(req + "\r\n");
  return c.read_replies(1, std::chrono::milliseconds{2000});
}

} // namespace

TEST_CASE("hostile: beyond http.threads a connection gets 503 + Connection: close at once",
          "[e2e][hostile]") {
  auto d = small_daemon(8, {"http.max_connections=4", "http.read_timeout_ms=20000"});
  auto held = slow_heads(d.port, 8);
  // Every worker holds a slow head now (the reserved ones for up to a second): the next
  // connection is answered by the accepting thread.
  raw_conn extra(d.port);
  REQUIRE(extra.send("GET /api/v1/menu HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto reply = extra.read_replies(1, std::chrono::milliseconds{2000});
  INFO(reply);
  REQUIRE(reply_statuses(reply) == std::vector<int>{503});
  CHECK(reply.find("Connection: close") != std::string::npos);
  CHECK(reply.find("application/problem+json") != std::string::npos);
  CHECK(reply.find("\"errorType\":\"overloaded\"") != std::string::npos);
  CHECK(extra.closed_within(std::chrono::milliseconds{2000}));
}

TEST_CASE("hostile: slow heads do not take /healthz off the air", "[e2e][hostile]") {
  // 16 threads, cap 15: one reserved slot, which a slow head holds for at most a second.
  auto d = small_daemon(16, {"http.read_timeout_ms=20000"});
  auto held = slow_heads(d.port, 17);
  REQUIRE(eventually([&] { return health(d) == 200; }, std::chrono::seconds{5}));
  for (int i = 0; i < 10; ++i)
    CHECK(health(d) == 200);
  // Over the cap, anything but a health check is refused at once.
  auto menu = request(d.port, "GET", "/api/v1/menu", "", {}, "", std::chrono::seconds{2});
  check_problem(menu, 503, "overloaded");
}

TEST_CASE("hostile: a head or body that drips is cut at http.read_timeout_ms with 408",
          "[e2e][hostile]") {
  auto d = small_daemon(8, {"http.read_timeout_ms=1000"});
  raw_conn slow(d.port);
  REQUIRE(slow.send("GET /healthz HTTP/1.1\r\n"));
  // A byte every 100 ms: every read succeeds, the whole head never ends.
  std::string reply;
  for (int i = 0; i < 40 && reply.empty(); ++i) {
    if (!slow.send("X"))
      break;
    reply = slow.read_until([](const std::string& t) { return !t.empty(); },
                            std::chrono::milliseconds{100});
  }
  reply += slow.read_replies(1, std::chrono::milliseconds{1000});
  INFO(reply);
  CHECK(reply_statuses(reply) == std::vector<int>{408});
  CHECK(reply.find("\"errorType\":\"malformed_request\"") != std::string::npos);
  CHECK(reply.find("http.read_timeout_ms") != std::string::npos);
}

TEST_CASE("hostile: idle keep-alive connections are closed first near the cap", "[e2e][hostile]") {
  auto d = small_daemon(16);
  std::deque<raw_conn> idle;
  std::string newest_reply;
  for (int i = 0; i < 40; ++i) {
    idle.emplace_back(d.port);
    if (!idle.back().send(healthz))
      continue;
    newest_reply = idle.back().read_replies(1, std::chrono::milliseconds{2000});
  }
  // Each newcomer was served: room was made by closing the oldest idle connection, not by
  // refusing the newest client.
  INFO(newest_reply);
  CHECK(reply_statuses(newest_reply) == std::vector<int>{200});
  CHECK(idle.front().closed_within(std::chrono::milliseconds{1000}));
  // New clients are served while the idle connections stay open on their side.
  for (int i = 0; i < 10; ++i)
    CHECK(health(d) == 200);
  std::size_t closed = 0;
  for (auto& c : idle)
    closed += c.closed_within(std::chrono::milliseconds{0}) ? 1 : 0;
  CHECK(closed >= 24); // at least those beyond the cap
}

TEST_CASE("hostile: too many or too large request headers get 431", "[e2e][hostile]") {
  auto d = small_daemon(8, {"http.max_headers=50", "http.max_header_bytes=4096"});
  SECTION("count") {
    auto reply = health_with_headers(d.port, 60);
    INFO(reply);
    CHECK(reply_statuses(reply) == std::vector<int>{431});
    CHECK(reply.find("\"errorType\":\"malformed_request\"") != std::string::npos);
    CHECK(reply.find("http.max_headers") != std::string::npos);
  }
  SECTION("bytes, never ending") {
    raw_conn c(d.port);
    c.send("GET /healthz HTTP/1.1\r\n");
    std::string reply;
    const std::string line = "X-Filler: " + std::string(1000, 'a') + "\r\n";
    for (int i = 0; i < 100 && c.send(line); ++i) {
    }
    reply = c.read_replies(1, std::chrono::milliseconds{2000});
    INFO(reply.substr(0, 300));
    CHECK(reply_statuses(reply) == std::vector<int>{431});
  }
  SECTION("within the bounds") {
    CHECK(reply_statuses(health_with_headers(d.port, 40)) == std::vector<int>{200});
  }
}

TEST_CASE("hostile: a compressed body gets 415 before it is read", "[e2e][hostile]") {
  auto d = small_daemon(8);
  auto r = request(d.port, "POST", "/api/v1/orders", "\x1f\x8b\x08\x00garbage",
                   {{"Content-Encoding", "gzip"}}, "application/json", std::chrono::seconds{2});
  check_problem(r, 415, "unsupported_media_type");
  auto identity = d.create_order(order_body(), {{"Content-Encoding", "identity"}});
  CHECK(identity.status == 201);
}

TEST_CASE("hostile: a declared body over max_body_bytes gets 413 at once", "[e2e][hostile]") {
  auto d = small_daemon(8);
  raw_conn c(d.port);
  c.send("POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Content-Length: 100000000\r\n\r\n{");
  auto reply = c.read_replies(1, std::chrono::milliseconds{2000});
  INFO(reply);
  CHECK(reply_statuses(reply) == std::vector<int>{413});
  CHECK(c.closed_within(std::chrono::milliseconds{2000}));
}

TEST_CASE("hostile: pipelined requests are all answered, in order", "[e2e][hostile]") {
  auto d = small_daemon(8);
  raw_conn c(d.port);
  REQUIRE(c.send(healthz + "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n" +
                 "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto replies = c.read_replies(3, std::chrono::milliseconds{3000});
  INFO(replies);
  CHECK(reply_statuses(replies) == std::vector<int>{200, 200, 404});
}
