#include "coffeeshop/net/upstream_client.hpp"

#include "coffeeshop/util/thread_name.hpp"

#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace coffeeshop::net {

namespace {

/// Splits "http://host:port/path?q" into "http://host:port" and "/path?q".
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos)
    return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

transport_error classify_error(httplib::Error err, std::chrono::steady_clock::duration elapsed,
                               millis timeout) {
  switch (err) {
    case httplib::Error::Connection:
    case httplib::Error::SSLConnection: return transport_error::connect_failed;
    case httplib::Error::ConnectionTimeout: return transport_error::timeout;
    case httplib::Error::Read:
    case httplib::Error::Write:
      // httplib reports a read timeout and a reset alike; the clock tells them apart.
      return elapsed >= timeout * 9 / 10 ? transport_error::timeout
                                         : transport_error::connection_reset;
    default: return transport_error::other;
  }
}

} // namespace

/// Cuts the client's socket when the armed deadline passes: httplib's timeouts are per read,
/// so a reply that drips a byte at a time would otherwise hold the worker far past it. One
/// thread per client, stopped by the destructor. It is woken only when a deadline comes
/// earlier than the instant it already sleeps until: every attempt has about the same timeout,
/// so it sleeps through most of them and checks the armed deadline when it wakes, instead of
/// costing a context switch per attempt.
class upstream_client::watchdog {
public:
  using clock = std::chrono::steady_clock;

  watchdog() : thread_([this] { run(); }) {}

  ~watchdog() {
    {
      std::lock_guard<std::mutex> lk(mtx_);
      stopping_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }

  void arm(httplib::Client& client, clock::time_point deadline) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> lk(mtx_);
      target_ = &client;
      deadline_ = deadline;
      fired_ = false;
      wake = !sleeps_until_ || deadline < *sleeps_until_;
    }
    if (wake)
      cv_.notify_one();
  }

  /// Disarms; true when the deadline had cut the call.
  bool disarm() {
    std::lock_guard<std::mutex> lk(mtx_);
    target_ = nullptr;
    deadline_.reset();
    return fired_;
  }

private:
  void run() {
    name_this_thread("cs.upstream.dog");
    std::unique_lock<std::mutex> lk(mtx_);
    while (!stopping_) {
      if (deadline_ && clock::now() >= *deadline_) {
        // Client::stop() is httplib's way to abort a request from another thread.
        target_->stop();
        fired_ = true;
        deadline_.reset();
      }
      if (!deadline_) {
        sleeps_until_.reset();
        cv_.wait(lk);
        continue;
      }
      sleeps_until_ = *deadline_;
      cv_.wait_until(lk, *sleeps_until_);
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  httplib::Client* target_ = nullptr;
  std::optional<clock::time_point> deadline_;
  /// The instant the watchdog's timed wait ends; none while it waits for an arm.
  std::optional<clock::time_point> sleeps_until_;
  bool fired_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

upstream_client::upstream_client() : watchdog_(std::make_unique<watchdog>()) {}
upstream_client::~upstream_client() = default;

httplib::Client& upstream_client::client_for(const std::string& base) {
  auto& c = clients_[base];
  if (!c) {
    c = std::make_unique<httplib::Client>(base);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
  }
  return *c;
}

http_reply upstream_client::perform(const http_call& call) {
  using clock = std::chrono::steady_clock;
  http_reply out;
  const auto started = clock::now();
  const auto deadline = std::min(started + call.timeout,
                                 call.deadline.value_or(clock::time_point::max()));
  if (deadline <= started) {
    out.error = transport_error::timeout;
    out.error_message = "the attempt's deadline passed before it was sent";
    return out;
  }
  const auto timeout = std::chrono::ceil<std::chrono::microseconds>(deadline - started);
  auto [base, path] = split_url(call.url);
  auto& cli = client_for(base);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto usecs = timeout - secs;
  cli.set_connection_timeout(secs.count(), usecs.count());
  cli.set_read_timeout(secs.count(), usecs.count());
  cli.set_write_timeout(secs.count(), usecs.count());
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = call.body;
  bool has_type = false;
  for (const auto& [k, v] : call.headers) {
    has_type = has_type || k == "Content-Type";
    req.headers.emplace(k, v);
  }
  if (!has_type)
    req.headers.emplace("Content-Type", "application/json");
  std::string body;
  bool too_large = false;
  // A receiver rather than httplib's own buffer, so that the bound holds for the decoded body.
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (body.size() + n > max_reply_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  };
  httplib::Response res;
  auto err = httplib::Error::Success;
  watchdog_->arm(cli, deadline);
  const bool sent = cli.send(req, res, err);
  const bool cut = watchdog_->disarm();
  const auto elapsed = clock::now() - started;
  if (!sent) {
    if (too_large) {
      out.error = transport_error::other;
      out.error_message = "the reply body exceeds " + std::to_string(max_reply_bytes) + " bytes";
    } else if (cut) {
      out.error = transport_error::timeout;
      out.error_message = "the attempt's deadline passed";
    } else {
      out.error = classify_error(err, elapsed, std::chrono::duration_cast<millis>(timeout));
      out.error_message = httplib::to_string(err);
    }
  }
  // A broken or abandoned connection must not be reused by the next call (a cut that came
  // just after a complete reply closed it too).
  if (!sent || cut)
    clients_.erase(base);
  if (!sent)
    return out;
  out.status = res.status;
  out.body = std::move(body);
  if (res.has_header("Retry-After"))
    out.retry_after = res.get_header_value("Retry-After");
  return out;
}

} // namespace coffeeshop::net
