#include "coffeeshop/net/upstream_client.hpp"

#include <catch2/catch.hpp>
#include <httplib.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace coffeeshop;
using namespace std::chrono_literals;

namespace {

/// What the server saw of one request.
struct seen_request {
  std::string path;
  std::string body;
  httplib::Headers headers;
  int remote_port = -1;

  std::string header(const std::string& key) const {
    auto it = headers.find(key);
    return it == headers.end() ? std::string{} : it->second;
  }
};

/// An httplib::Server on 127.0.0.1 (an ephemeral port), run by its own thread, that answers
/// every POST with `respond` (default: 200 "{}"). Teardown releases handlers blocked in
/// hold(), then stops and joins the server, so a failed check cannot leave threads behind.
/// Clients must be gone by then, or join() waits out httplib's keep-alive timeout (5 s).
class upstream_fixture {
public:
  using responder = std::function<void(httplib::Response&, std::size_t index)>;

  upstream_fixture() {
    server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
      responder respond;
      std::size_t index = 0;
      {
        std::lock_guard<std::mutex> lk(mu_);
        index = seen_.size();
        seen_.push_back({req.path, req.body, req.headers, req.remote_port});
        respond = respond_;
      }
      respond(res, index);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    runner_ = std::thread([this] {
      server_.listen_after_bind();
      listener_done_ = true;
    });
    // httplib's stop() is a no-op until the accept loop runs (and offers nothing to wait on):
    // without this a test failing at once would lose the stop and hang in join().
    while (!server_.is_running() && !listener_done_)
      std::this_thread::yield();
  }

  ~upstream_fixture() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      released_ = true;
    }
    released_cv_.notify_all();
    server_.stop();
    runner_.join();
  }

  upstream_fixture(const upstream_fixture&) = delete;
  upstream_fixture& operator=(const upstream_fixture&) = delete;

  /// Sets how the following requests are answered.
  void respond(responder r) {
    std::lock_guard<std::mutex> lk(mu_);
    respond_ = std::move(r);
  }

  /// Blocks the calling handler until teardown.
  void hold() {
    std::unique_lock<std::mutex> lk(mu_);
    released_cv_.wait(lk, [this] { return released_; });
  }

  std::vector<seen_request> seen() {
    std::lock_guard<std::mutex> lk(mu_);
    return seen_;
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  http_call call(const std::string& path, millis timeout = 300ms) const {
    http_call c;
    c.url = url(path);
    c.body = R"({"orderId":"ord-1"})";
    c.timeout = timeout;
    return c;
  }

private:
  httplib::Server server_;
  int port_ = -1;
  std::thread runner_;
  std::atomic<bool> listener_done_{false};
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool released_ = false;
  responder respond_ = [](httplib::Response& res, std::size_t) {
    res.set_content("{}", "application/json");
  };
  std::vector<seen_request> seen_;
};

/// A loopback port nothing listens on: bound once by the kernel's choice, then released.
int unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
               ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  ::close(fd);
  REQUIRE(bound);
  return ntohs(addr.sin_port);
}

} // namespace

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a reply keeps status, body and the raw Retry-After and the "
                 "request carries the call's path, headers and body",
                 "[upstream_client]") {
  const std::string retry_after = "Wed, 21 Oct 2026 07:28:00 GMT";
  respond([&](httplib::Response& res, std::size_t) {
    res.status = 202;
    res.set_header("Retry-After", retry_after);
    res.set_content(R"({"success":true})", "application/json");
  });
  net::upstream_client client;
  auto request = call("/pay");
  request.headers = {{"Idempotency-Key", "ord-1"}, {"Content-Type", "application/x-coffee"}};

  auto reply = client.perform(request);

  CHECK(reply.error == transport_error::none);
  CHECK(reply.error_message.empty());
  CHECK(reply.status == 202);
  CHECK(reply.body == R"({"success":true})");
  CHECK(reply.retry_after == std::optional<std::string>{retry_after});
  auto requests = seen();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/pay");
  CHECK(requests[0].body == request.body);
  CHECK(requests[0].header("Idempotency-Key") == "ord-1");
  CHECK(requests[0].header("Content-Type") == "application/x-coffee");
  CHECK(requests[0].headers.count("Content-Type") == 1);
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: consecutive calls share one keep-alive connection",
                 "[upstream_client]") {
  net::upstream_client client;

  auto first = client.perform(call("/notify"));
  auto second = client.perform(call("/notify"));

  CHECK(first.status == 200);
  CHECK(second.status == 200);
  CHECK_FALSE(second.retry_after);
  auto requests = seen();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("Content-Type") == "application/json"); // the default
  CHECK(requests[1].remote_port == requests[0].remote_port);
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a connection broken mid-reply is connection_reset and is not "
                 "reused",
                 "[upstream_client]") {
  // The first reply promises 100 bytes, sends 7 and gives up, so the server closes the
  // connection under the client's read.
  respond([](httplib::Response& res, std::size_t index) {
    if (index == 0) {
      res.set_content_provider(100, "application/json",
                               [](std::size_t, std::size_t, httplib::DataSink& sink) {
                                 sink.write("{\"succ", 7);
                                 return false;
                               });
    } else {
      res.set_content("{}", "application/json");
    }
  });
  net::upstream_client client;

  auto broken = client.perform(call("/pay"));
  auto next = client.perform(call("/pay"));

  CHECK(broken.error == transport_error::connection_reset);
  CHECK_FALSE(broken.error_message.empty());
  CHECK(broken.status == 0);
  CHECK(next.error == transport_error::none);
  CHECK(next.status == 200);
  auto requests = seen();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].remote_port != requests[0].remote_port);
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a read failing after 90 % of the timeout is a timeout, and "
                 "the next call does not wait behind it on the same connection",
                 "[upstream_client]") {
  respond([this](httplib::Response& res, std::size_t index) {
    if (index == 0)
      hold();
    res.set_content("{}", "application/json");
  });
  net::upstream_client client;

  auto started = std::chrono::steady_clock::now();
  auto timed_out = client.perform(call("/pay", 200ms));
  auto elapsed = std::chrono::steady_clock::now() - started;
  auto next = client.perform(call("/pay", 200ms));

  CHECK(timed_out.error == transport_error::timeout);
  CHECK(timed_out.status == 0);
  CHECK(elapsed >= 180ms);
  CHECK(elapsed < 1s);
  CHECK(next.error == transport_error::none);
  CHECK(next.status == 200);
  auto requests = seen();
  REQUIRE(requests.size() == 2);
  CHECK(requests[1].remote_port != requests[0].remote_port);
}

TEST_CASE("upstream_client: a port nothing listens on is connect_failed", "[upstream_client]") {
  net::upstream_client client;
  http_call call;
  call.url = "http://127.0.0.1:" + std::to_string(unused_port()) + "/pay";
  call.timeout = 300ms;

  auto reply = client.perform(call);

  CHECK(reply.error == transport_error::connect_failed);
  CHECK_FALSE(reply.error_message.empty());
  CHECK(reply.status == 0);
}

TEST_CASE_METHOD(upstream_fixture, "upstream_client: a call past its deadline is not sent",
                 "[upstream_client]") {
  net::upstream_client client;
  auto request = call("/pay", 5000ms);
  request.deadline = std::chrono::steady_clock::now() - 1ms;

  auto reply = client.perform(request);

  CHECK(reply.error == transport_error::timeout);
  CHECK(reply.error_message.find("deadline") != std::string::npos);
  CHECK(seen().empty());
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a reply that drips is cut at the deadline, not per read",
                 "[upstream_client]") {
  // Each chunk comes well within the per-read timeout; the whole would take 20 s.
  respond([](httplib::Response& res, std::size_t) {
    res.set_chunked_content_provider("application/json", [n = 0](std::size_t,
                                                                 httplib::DataSink& sink) mutable {
      std::this_thread::sleep_for(50ms); // the upstream's pace, not a wait for our code
      return ++n < 400 && sink.write(" ", 1);
    });
  });
  net::upstream_client client;
  auto request = call("/pay", 2000ms);
  request.deadline = std::chrono::steady_clock::now() + 300ms;

  const auto started = std::chrono::steady_clock::now();
  auto reply = client.perform(request);
  const auto took = std::chrono::steady_clock::now() - started;

  CHECK(reply.error == transport_error::timeout);
  CHECK(reply.error_message == "the attempt's deadline passed");
  // Bounded by the deadline, far below the 2 s per-read timeout and the 20 s drip.
  CHECK(took < 1500ms);
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a drip is cut at its deadline after a call with a later one",
                 "[upstream_client]") {
  // The watchdog sleeps until the first call's deadline, 5 s out; the second call's earlier
  // deadline must wake it.
  respond([](httplib::Response& res, std::size_t index) {
    if (index == 0) {
      res.set_content("{}", "application/json");
      return;
    }
    res.set_chunked_content_provider("application/json", [n = 0](std::size_t,
                                                                 httplib::DataSink& sink) mutable {
      std::this_thread::sleep_for(50ms); // the upstream's pace, not a wait for our code
      return ++n < 400 && sink.write(" ", 1);
    });
  });
  net::upstream_client client;
  REQUIRE(client.perform(call("/pay", 5000ms)).error == transport_error::none);
  auto request = call("/pay", 2000ms);
  request.deadline = std::chrono::steady_clock::now() + 300ms;

  const auto started = std::chrono::steady_clock::now();
  auto reply = client.perform(request);
  const auto took = std::chrono::steady_clock::now() - started;

  CHECK(reply.error == transport_error::timeout);
  CHECK(reply.error_message == "the attempt's deadline passed");
  CHECK(took < 1500ms);
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a reply body over max_reply_bytes fails the call",
                 "[upstream_client]") {
  const std::string big(net::max_reply_bytes + 1, 'x');
  respond([&](httplib::Response& res, std::size_t) { res.set_content(big, "application/json"); });
  net::upstream_client client;

  auto reply = client.perform(call("/pay", 5000ms));

  CHECK(reply.error == transport_error::other);
  CHECK(reply.error_message.find("exceeds") != std::string::npos);
  CHECK(reply.body.empty());
}

TEST_CASE_METHOD(upstream_fixture,
                 "upstream_client: a body of exactly max_reply_bytes is read whole",
                 "[upstream_client]") {
  const std::string big(net::max_reply_bytes, 'x');
  respond([&](httplib::Response& res, std::size_t) { res.set_content(big, "application/json"); });
  net::upstream_client client;

  auto reply = client.perform(call("/pay", 5000ms));

  CHECK(reply.error == transport_error::none);
  CHECK(reply.body.size() == net::max_reply_bytes);
}
