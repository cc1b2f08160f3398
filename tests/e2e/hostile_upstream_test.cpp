// Hostile upstreams (issue 12): a hand-made payment service that drips, floods, redirects,
// answers unlisted statuses or asks for absurd pauses. Notifications stay on the built-in
// simulator.

#include "harness.hpp"
#include "raw_socket.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop::e2e;
namespace json = boost::json;

namespace {

/// A daemon whose payment service is `up`: 1 s attempts, one retry after 50 ms, 2.5 s budget.
daemon_process daemon_paying(const hostile_upstream& up, std::vector<std::string> extra = {}) {
  std::vector<std::string> sets{"simulator.profile=fast",
                                "services.payment.url=" + up.url("/api/v1/payment"),
                                "services.payment.timeout_ms=1000",
                                "services.payment.total_timeout_ms=2500",
                                "services.payment.retry.max_retries=1",
                                "services.payment.retry.base_delay_ms=50"};
  for (auto& s : extra)
    sets.push_back(std::move(s));
  return start_daemon(std::move(sets));
}

/// An answer with `status`, an empty JSON body and `headers` (each "Name: value\r\n").
hostile_upstream::answer_fn canned(int status, std::string headers = "") {
  return [status, headers](int fd, const std::atomic<bool>&) {
    return write_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers +
                           "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  };
}

http_result order(const daemon_process& d) {
  return request(d.port, "POST", "/api/v1/orders", order_body(), {}, "application/json",
                 std::chrono::seconds{15});
}

} // namespace

TEST_CASE("hostile upstream: what each final status becomes", "[e2e][hostile]") {
  struct row {
    int upstream;
    std::string extra_headers;
    int status;
    std::string error_type;
    std::size_t attempts;
  };
  const row rows[] = {
    {501, "", 502, "upstream_error", 1},
    {505, "", 502, "upstream_error", 1},
    {301, "Location: http://127.0.0.1:1/elsewhere\r\n", 502, "upstream_error", 1},
    {302, "Location: /elsewhere\r\n", 502, "upstream_error", 1},
    {402, "", 402, "payment_declined", 1},
    {500, "", 502, "upstream_error", 2},
  };
  for (const auto& r : rows) {
    DYNAMIC_SECTION("upstream " << r.upstream) {
      hostile_upstream up(canned(r.upstream, r.extra_headers));
      auto d = daemon_paying(up);
      auto res = order(d);
      INFO(res.body);
      check_problem(res, r.status, r.error_type);
      CHECK(up.requests() == r.attempts);
    }
  }
}

TEST_CASE("hostile upstream: an absurd Retry-After stretches the break to max_break_ms at most",
          "[e2e][hostile]") {
  for (const std::string retry_after : {"99999999999", "1000000000", "9223372036854775807"}) {
    DYNAMIC_SECTION("Retry-After: " << retry_after) {
      hostile_upstream up(canned(503, "Retry-After: " + retry_after + "\r\n"));
      auto d = daemon_paying(up, {"services.payment.retry.max_retries=0",
                                  "services.payment.circuit_breaker.failure_threshold=1",
                                  "services.payment.circuit_breaker.break_duration_ms=1000"});
      check_problem(order(d), 502, "upstream_error");
      auto circuit = integration(d).at("circuit").as_object();
      INFO(json::serialize(circuit));
      CHECK(str(circuit, "state") == "open"); // not half-open from an overflow
      CHECK(num(circuit.at("retryAfterMs")) <= 5000);
      auto rejected = order(d);
      check_problem(rejected, 503, "circuit_open");
      CHECK(std::stol(rejected.header("Retry-After")) <= 5);
    }
  }
}

TEST_CASE("hostile upstream: a dripping reply is cut at the attempt's deadline", "[e2e][hostile]") {
  // The status line a byte every 200 ms: each read succeeds, the whole would take 24 s.
  hostile_upstream up([](int fd, const std::atomic<bool>& stopping) {
    const std::string reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\n\r\n{}" +
                              std::string(60, ' ');
    for (char c : reply) {
      if (stopping || !write_all(fd, std::string_view{&c, 1}))
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds{200}); // the upstream's pace
    }
    return false;
  });
  auto d = daemon_paying(up);
  auto res = order(d);
  INFO(res.body);
  CHECK((res.status == 504 || res.status == 502));
  // Both attempts' connections are closed by the daemon by the time the client has its
  // answer (a write of the drip notices within two bytes), and nothing more is sent.
  CHECK(eventually([&] { return up.open_connections() == 0; }, std::chrono::milliseconds{1500}));
  CHECK(up.requests() == 2);
}

TEST_CASE("hostile upstream: a 100 MB reply is not read in full", "[e2e][hostile]") {
  std::atomic<std::size_t> written{0};
  std::atomic<int> answered{0};
  hostile_upstream up([&](int fd, const std::atomic<bool>& stopping) {
    // The first payment is paid normally: the daemon's memory after it (transport worker
    // running, first order done) is the baseline the flood is measured from.
    if (answered++ == 0) {
      write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n"
                    "Connection: close\r\n\r\n{\"success\":true}");
      return false;
    }
    if (!write_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n"))
      return false;
    const std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    while (!stopping && written < 100u * 1024 * 1024) {
      if (!write_all(fd, chunk))
        return false;
      written += 0x10000;
    }
    write_all(fd, "0\r\n\r\n");
    return false;
  });
  auto d = daemon_paying(up, {"services.payment.retry.max_retries=0"});
  REQUIRE(order(d).status == 201);
  // What the flood may add is measured from the peak so far, not as a whole: a sanitizer
  // build is far larger from the start (shadow memory, allocator quarantine, thread state).
  const long before = peak_rss_kib(d.proc.pid());
  REQUIRE(before > 0);
  auto res = order(d);
  check_problem(res, 502, "upstream_error");
  // What the socket buffers hold beyond the 1 MiB read, never the whole.
  CHECK(written < 16u * 1024 * 1024);
  const long after = peak_rss_kib(d.proc.pid());
  INFO("peak RSS " << before << " KiB before the order, " << after << " KiB after");
  CHECK(after - before < 32 * 1024);
}

namespace {

/// A whole reply: `status`, `content_type` and `body`, plus `headers` ("Name: value\r\n").
hostile_upstream::answer_fn replying(int status, std::string body,
                                     std::string content_type = "application/json",
                                     std::string headers = "") {
  return [=](int fd, const std::atomic<bool>&) {
    return write_all(fd, "HTTP/1.1 " + std::to_string(status) + " X\r\n" + headers +
                           "Content-Type: " + content_type +
                           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                           body);
  };
}

/// Closes with a TCP reset after writing `prefix` (empty: before any byte of the reply).
hostile_upstream::answer_fn resetting(std::string prefix) {
  return [prefix](int fd, const std::atomic<bool>&) {
    if (!prefix.empty())
      write_all(fd, prefix);
    linger hard{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    return false;
  };
}

/// Never answers: holds the connection until the daemon gives up on it or the test ends.
bool never_answering(int fd, const std::atomic<bool>& stopping) {
  char c;
  while (!stopping && ::recv(fd, &c, 1, 0) > 0) {
  }
  return false;
}

/// An HTTP-date `seconds` from now (RFC 9110 IMF-fixdate).
std::string http_date_in(int seconds) {
  std::time_t t = std::time(nullptr) + seconds;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

} // namespace

TEST_CASE("hostile upstream: the fault matrix of the payment service", "[e2e][hostile]") {
  // Each row: what the payment service does to every attempt, the answer the client gets,
  // the attempts the service saw (one retry is allowed), and the breaker's consecutive
  // failures after the order. A 2xx is a charge whatever its body says, short of an explicit
  // success:false: reporting it failed could hide money taken.
  struct row {
    std::string name;
    hostile_upstream::answer_fn answer;
    int status;
    std::string error_type; // empty: 201 created
    std::size_t attempts;
    int breaker_failures;
  };
  const std::string ok_body = R"({"success":true,"reference":"pay_1"})";
  const row rows[] = {
    {"reset before the reply", resetting(""), 502, "upstream_error", 2, 2},
    {"reset mid-reply", resetting("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"succ"), 502,
     "upstream_error", 2, 2},
    // Two 1 s attempts end inside the 2.5 s budget: retries spent (502), not the budget (504).
    {"hang", never_answering, 502, "upstream_error", 2, 2},
    {"invalid JSON in a 200", replying(200, "{not json"), 201, "", 1, 0},
    {"empty 200", replying(200, ""), 201, "", 1, 0},
    {"204 without a body", replying(204, "", "application/json"), 201, "", 1, 0},
    {"success:false in a 200", replying(200, R"({"success":false})"), 502, "upstream_error", 2,
     2},
    {"wrong Content-Type", replying(200, "<html>ok</html>", "text/html"), 201, "", 1, 0},
    {"408", replying(408, "{}"), 502, "upstream_error", 2, 2},
    {"429 Retry-After seconds", replying(429, "{}", "application/json", "Retry-After: 1\r\n"), 502,
     "upstream_error", 2, 2},
    {"503 Retry-After HTTP-date",
     replying(503, "{}", "application/json", "Retry-After: " + http_date_in(1) + "\r\n"), 502,
     "upstream_error", 2, 2},
    {"402", replying(402, R"({"error":"card declined"})"), 402, "payment_declined", 1, 0},
    {"200 with a reference", replying(200, ok_body), 201, "", 1, 0},
  };
  for (const auto& r : rows) {
    DYNAMIC_SECTION(r.name) {
      hostile_upstream up(r.answer);
      auto d = daemon_paying(up, {"services.payment.circuit_breaker.failure_threshold=10"});
      auto res = order(d);
      INFO(res.status << " " << res.body);
      if (r.error_type.empty())
        CHECK(res.status == 201);
      else
        check_problem(res, r.status, r.error_type);
      CHECK(up.requests() == r.attempts);
      auto view = integration(d);
      INFO(json::serialize(view));
      CHECK(num(view.at("circuit").at("consecutiveFailures")) == r.breaker_failures);
      CHECK(str(view.at("circuit"), "state") == "closed");
    }
  }
}

TEST_CASE("hostile upstream: a refused connection is retried, then 502", "[e2e][hostile]") {
  // A port nothing listens on: bound, then closed without listen().
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  auto d = start_daemon({"simulator.profile=fast",
                         "services.payment.url=http://127.0.0.1:" + std::to_string(port) +
                           "/api/v1/payment",
                         "services.payment.timeout_ms=1000", "services.payment.total_timeout_ms=2500",
                         "services.payment.retry.max_retries=1",
                         "services.payment.retry.base_delay_ms=50"});
  check_problem(order(d), 502, "upstream_error");
  auto view = integration(d);
  CHECK(num(view.at("circuit").at("consecutiveFailures")) == 2);
  CHECK(num(view.at("calls").at("retries")) == 1);
}
