// Hostile upstreams (issue 12): a hand-made payment service that drips, floods, redirects,
// answers unlisted statuses or asks for absurd pauses. Notifications stay on the built-in
// simulator.

#include "harness.hpp"
#include "raw_socket.hpp"

#include <catch2/catch.hpp>

#include <atomic>
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
  hostile_upstream up([&](int fd, const std::atomic<bool>& stopping) {
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
  auto res = order(d);
  check_problem(res, 502, "upstream_error");
  // What the socket buffers hold beyond the 1 MiB read, never the whole.
  CHECK(written < 16u * 1024 * 1024);
  CHECK(peak_rss_kib(d.proc.pid()) < 64 * 1024);
}
