#include "coffeeshop/sim/simulator.hpp"

#include "behavior.hpp"
#include "coffeeshop/net/interruptible_server.hpp"
#include "ledger.hpp"
#include "request_log.hpp"
#include "service_request.hpp"

#include "coffeeshop/domain/order_json.hpp"
#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/exception_message.hpp"
#include "coffeeshop/util/ids.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <boost/json.hpp>
#include <httplib.h>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace coffeeshop::sim {
namespace json = boost::json;

namespace {

// Exactly "application/json" would make cpp-httplib gzip/brotli-compress every reply for
// clients that send Accept-Encoding (httplib clients do by default). Compressing a 60-byte
// body costs more than serving it, and the simulator is a benchmark upstream, so the reply
// type carries the (harmless) charset parameter that httplib does not compress.
constexpr const char* json_type = "application/json; charset=utf-8";

void reply(httplib::Response& res, int status, const json::object& body) {
  res.status = status;
  // Money as 4.5, not Boost 1.81's 4.5E0.
  res.set_content(to_json_text(body), json_type);
}

void reply_failure(httplib::Response& res, int status, std::string_view error,
                   std::optional<int> retry_after_s = std::nullopt) {
  json::object body;
  body["success"] = false;
  body["error"] = error;
  reply(res, status, body);
  if (retry_after_s)
    res.set_header("Retry-After", std::to_string(*retry_after_s));
}

// How often a held call checks whether its caller is still there.
constexpr std::chrono::milliseconds peer_check_interval{100};
/// The longest delay a call is held for (latencyMs allows as much).
constexpr int64_t max_latency_ms = 600'000;

std::size_t index_of(service svc) { return svc == service::payment ? 0 : 1; }

std::optional<std::string> param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name))
    return std::nullopt;
  return req.get_param_value(name);
}

/// A call as read from its request. Everything that allocates happens here, before the
/// simulator's lock is taken.
struct incoming_call {
  recorded_request record;
  std::optional<std::string> idempotency_key;
  /// Why the payload is rejected; answered 400 only after hang, latency and fixedStatus,
  /// as the behaviour model orders them.
  std::optional<call_error> invalid;
  double amount = 0.0; // of a valid payment call
};

recorded_request record_of(const httplib::Request& req, service svc) {
  recorded_request rec;
  rec.method = req.method;
  rec.path = req.path;
  if (auto q = req.target.find('?'); q != std::string::npos)
    rec.query = req.target.substr(q + 1);
  rec.headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) {
    // cpp-httplib adds these itself; they were not sent by the client.
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" ||
        name == "LOCAL_PORT")
      continue;
    rec.headers.emplace_back(name, value);
  }
  rec.body = req.body;
  rec.svc = svc;
  rec.received_at_ms = now_ms();
  return rec;
}

/// Masks the customer e-mail of a recorded seed-format body (the only place a call carries
/// one), so the request log shows a***@example.com.
void mask_emails_of(recorded_request& rec) {
  if (rec.body.find("customerEmail") == std::string::npos)
    return;
  json::error_code ec;
  auto v = json::parse(rec.body, ec);
  if (ec || !v.is_object())
    return;
  auto* email = v.as_object().if_contains("customerEmail");
  if (!email || !email->is_string())
    return;
  *email = mask_email(email->as_string());
  rec.body = to_json_text(v);
}

/// `Authorization: Bearer <token>`, compared in constant time.
bool has_bearer(const httplib::Request& req, const std::string& token) {
  const auto auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (auth.size() != prefix.size() + token.size() || auth.compare(0, prefix.size(), prefix) != 0)
    return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < token.size(); ++i)
    diff |= static_cast<unsigned char>(auth[prefix.size() + i] ^ token[i]);
  return diff == 0;
}

incoming_call read_call(const httplib::Request& req, service svc) {
  incoming_call call;
  call.record = record_of(req, svc);
  if (svc == service::payment) {
    auto parsed = parse_payment(req.body, param(req, "value"));
    if (auto* e = std::get_if<call_error>(&parsed))
      call.invalid = std::move(*e);
    else
      call.amount = std::get<payment_call>(parsed).amount;
  } else {
    auto parsed = parse_notification(req.body, param(req, "status"));
    if (auto* e = std::get_if<call_error>(&parsed))
      call.invalid = std::move(*e);
  }
  if (auto k = req.get_header_value("Idempotency-Key"); !k.empty())
    call.idempotency_key = std::move(k);
  return call;
}

/// What a successful payment is answered with.
struct payment_result {
  std::string reference;
  double amount = 0.0;
};

/// How a call is answered: decided under the lock, written to the response after it, so
/// that building the reply never holds up the other handler threads.
struct call_outcome {
  enum class kind { caller_gone, stopping, fixed_status, invalid, failure, success };
  explicit call_outcome(kind k, int http_status = 200,
                        std::optional<int> retry_after = std::nullopt)
    : what(k), status(http_status), retry_after_s(retry_after) {}
  kind what;
  int status;
  std::optional<int> retry_after_s;
  std::optional<payment_result> payment; // set for a successful payment call
};

void send(httplib::Response& res, const call_outcome& outcome, const incoming_call& call) {
  using kind = call_outcome::kind;
  switch (outcome.what) {
    case kind::caller_gone:
      res.status = 499; // nginx's "client closed request"; nobody reads it
      return;
    case kind::stopping: return reply_failure(res, 503, "simulator stopping");
    case kind::fixed_status:
      return reply_failure(res, outcome.status,
                           "simulated status " + std::to_string(outcome.status),
                           outcome.retry_after_s);
    case kind::invalid: return reply_failure(res, 400, call.invalid->message);
    case kind::failure:
      return reply_failure(res, outcome.status, "simulated failure", outcome.retry_after_s);
    case kind::success: break;
  }
  json::object body;
  body["success"] = true;
  if (outcome.payment) {
    body["reference"] = outcome.payment->reference;
    body["amount"] = outcome.payment->amount;
  }
  reply(res, 200, body);
}

} // namespace

uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

struct simulator::impl {
  explicit impl(simulator_options o) : opts(std::move(o)), rng(opts.seed) {
    for (service svc : {service::payment, service::notification})
      behaviors[index_of(svc)] = *profile_behavior(opts.profile, svc);
  }

  simulator_options opts;
  net::interruptible_server server;
  std::thread listener;
  std::mutex lifecycle_mu; // serialises start() and stop()
  bool started = false;
  std::atomic<int> bound_port{0}; // 0 until start() succeeds; read by port() without locking

  // Shared by all handler threads.
  std::mutex mu;
  // Wakes requests held by hang or latency: on stop and on every behaviour change.
  std::condition_variable cv;
  bool stopping = false;
  std::array<service_behavior, 2> behaviors;
  /// Calls of each service inside decide(), for latency_per_inflight_ms.
  std::array<int, 2> in_flight{};
  payment_ledger ledger;
  request_log log;
  std::mt19937_64 rng;

  void install_routes();
  void handle_call(const httplib::Request& req, httplib::Response& res, service svc);
  // The steps of handle_call. decide() holds `mu` throughout and the others expect it held
  // (the waits release it while they sleep): a replayed key and its first charge, or two
  // draws from `rng`, must not interleave with another call.
  call_outcome decide(incoming_call& call, service svc);
  std::optional<call_outcome> wait_while_hung(std::unique_lock<std::mutex>& lk, std::size_t i);
  std::optional<call_outcome> wait_latency(std::unique_lock<std::mutex>& lk,
                                           const service_behavior& b, int others_in_flight);
  call_outcome answer(const incoming_call& call, service svc, const service_behavior& b);
  payment_result settle_payment(const incoming_call& call);
  json::object behaviors_json() const {
    json::object o;
    o["payment"] = to_json(behaviors[0]);
    o["notification"] = to_json(behaviors[1]);
    return o;
  }
  std::string make_reference() {
    char buf[24];
    std::snprintf(buf, sizeof buf, "pay_%016llx", static_cast<unsigned long long>(rng()));
    return buf;
  }
};

void simulator::impl::handle_call(const httplib::Request& req, httplib::Response& res,
                                  service svc) {
  incoming_call call = read_call(req, svc);
  if (opts.mask_emails)
    mask_emails_of(call.record);
  const call_outcome outcome = decide(call, svc);
  send(res, outcome, call);
}

call_outcome simulator::impl::decide(incoming_call& call, service svc) {
  std::unique_lock<std::mutex> lk(mu);
  log.add(std::move(call.record));
  const std::size_t i = index_of(svc);
  // Destroyed before `lk`, so the count changes under `mu`.
  struct counted {
    int& n;
    explicit counted(int& c) : n(++c) {}
    ~counted() { --n; }
  } inside{in_flight[i]};
  if (auto cut_short = wait_while_hung(lk, i))
    return *cut_short;
  // The behaviour as it stood when the hang ended governs the rest of the call, even if it
  // changes during the latency wait.
  const service_behavior b = behaviors[i];
  if (auto cut_short = wait_latency(lk, b, in_flight[i] - 1))
    return *cut_short;
  return answer(call, svc, b);
}

// Held calls wait on the condition variable (woken by stop() and behaviour changes) in
// slices, and give up when the caller has hung up: otherwise every timed-out attempt of a
// retrying client would keep a worker thread until none is left for the control API.
std::optional<call_outcome> simulator::impl::wait_while_hung(std::unique_lock<std::mutex>& lk,
                                                             std::size_t i) {
  while (!stopping && behaviors[i].hang) {
    cv.wait_for(lk, peer_check_interval);
    if (net::interruptible_server::peer_closed())
      return call_outcome{call_outcome::kind::caller_gone};
  }
  if (stopping)
    return call_outcome{call_outcome::kind::stopping};
  return std::nullopt;
}

std::optional<call_outcome> simulator::impl::wait_latency(std::unique_lock<std::mutex>& lk,
                                                          const service_behavior& b,
                                                          int others_in_flight) {
  int delay_ms = b.latency_min_ms;
  if (b.latency_max_ms > b.latency_min_ms)
    delay_ms = std::uniform_int_distribution<int>(b.latency_min_ms, b.latency_max_ms)(rng);
  // Capped like latencyMs, whatever the number of callers.
  delay_ms = static_cast<int>(
    std::min<int64_t>(max_latency_ms,
                      delay_ms + int64_t{b.latency_per_inflight_ms} * others_in_flight));
  if (delay_ms <= 0)
    return std::nullopt;
  // A timed wait rather than sleep_for, so that stop() cuts the delay short.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(delay_ms);
  while (!stopping && std::chrono::steady_clock::now() < until) {
    cv.wait_until(lk, std::min(until, std::chrono::steady_clock::now() + peer_check_interval));
    if (net::interruptible_server::peer_closed())
      return call_outcome{call_outcome::kind::caller_gone};
  }
  if (stopping)
    return call_outcome{call_outcome::kind::stopping};
  return std::nullopt;
}

call_outcome simulator::impl::answer(const incoming_call& call, service svc,
                                     const service_behavior& b) {
  using kind = call_outcome::kind;
  if (b.fixed_status)
    return call_outcome{kind::fixed_status, *b.fixed_status, b.retry_after_s};
  if (call.invalid)
    return call_outcome{kind::invalid};
  if (b.failure_rate > 0.0 &&
      std::uniform_real_distribution<double>(0.0, 1.0)(rng) < b.failure_rate) {
    const bool says_retry = b.fail_status == 429 || b.fail_status == 503;
    return call_outcome{kind::failure, b.fail_status, says_retry ? b.retry_after_s : std::nullopt};
  }
  call_outcome ok{kind::success};
  if (svc == service::payment)
    ok.payment = settle_payment(call);
  return ok;
}

payment_result simulator::impl::settle_payment(const incoming_call& call) {
  // An idempotent provider answers a replayed key with the first result instead of
  // charging again; the ledger counts the replay so tests can see retries happened.
  if (call.idempotency_key)
    if (auto first = ledger.replay(*call.idempotency_key))
      return payment_result{std::move(first->reference), first->amount};
  std::string reference = make_reference();
  ledger.charge(call.idempotency_key, call.amount, reference);
  return payment_result{std::move(reference), call.amount};
}

void simulator::impl::install_routes() {
  if (opts.control_token)
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (req.path.rfind("/_sim", 0) != 0 || has_bearer(req, *opts.control_token))
        return httplib::Server::HandlerResponse::Unhandled;
      res.set_header("WWW-Authenticate", "Bearer");
      reply_failure(res, 401, "the control routes of this simulator need its token");
      return httplib::Server::HandlerResponse::Handled;
    });
  server.Post("/api/v1/payment", [this](const httplib::Request& req, httplib::Response& res) {
    handle_call(req, res, service::payment);
  });
  server.Post("/api/v1/notification", [this](const httplib::Request& req, httplib::Response& res) {
    handle_call(req, res, service::notification);
  });
  server.Post(R"(/v1\.0/invoke/([^/]+)/method/(.+))",
              [this](const httplib::Request& req, httplib::Response& res) {
                auto svc = classify_dapr(req.matches[1].str(), req.matches[2].str());
                if (!svc)
                  return reply_failure(res, 404, "no simulated service for this app id/method");
                handle_call(req, res, *svc);
              });

  server.Get("/_sim/behavior", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(mu);
    reply(res, 200, behaviors_json());
  });
  server.Put("/_sim/behavior", [this](const httplib::Request& req, httplib::Response& res) {
    auto parsed = parse_behavior_update(req.body);
    if (auto* e = std::get_if<behavior_error>(&parsed)) {
      json::object body;
      body["error"] = e->member + ": " + e->message;
      body["member"] = e->member;
      return reply(res, 400, body);
    }
    const auto& update = std::get<behavior_update>(parsed);
    json::object state;
    {
      std::lock_guard<std::mutex> lk(mu);
      for (service svc : {service::payment, service::notification})
        if (update.applies_to(svc))
          update.apply_to(behaviors[index_of(svc)], svc);
      state = behaviors_json();
    }
    cv.notify_all(); // held requests re-check "hang"
    reply(res, 200, state);
  });

  server.Get("/_sim/requests", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<service> only;
    if (auto s = param(req, "service")) {
      if (*s == "payment")
        only = service::payment;
      else if (*s == "notification")
        only = service::notification;
      else
        return reply(res, 400,
                     json::object{{"error", "service: expected payment or notification"},
                                  {"member", "service"}});
    }
    json::object body;
    {
      std::lock_guard<std::mutex> lk(mu);
      body = log.to_json(only);
    }
    reply(res, 200, body);
  });
  server.Delete("/_sim/requests", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(mu);
    log.clear();
    ledger.clear();
    res.status = 204;
  });

  server.Get("/_sim/ledger", [this](const httplib::Request&, httplib::Response& res) {
    json::object body;
    {
      std::lock_guard<std::mutex> lk(mu);
      body = ledger.to_json();
    }
    reply(res, 200, body);
  });
  server.Delete("/_sim/ledger", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard<std::mutex> lk(mu);
    ledger.clear();
    res.status = 204;
  });

  // Unrouted paths and methods get a JSON body too; replies the handlers built are kept.
  server.set_error_handler(
    httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty())
        return httplib::Server::HandlerResponse::Unhandled;
      reply_failure(res, res.status, res.status == 404 ? "not found" : "error");
      return httplib::Server::HandlerResponse::Handled;
    }));
  server.set_exception_handler(
    [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      reply_failure(res, 500, exception_message(ep));
    });
}

simulator::simulator(simulator_options opts) {
  if (!is_valid_profile(opts.profile))
    throw std::invalid_argument("unknown simulator profile \"" + opts.profile +
                                "\" (expected trio, fast, down, hang, flaky or slow)");
  if (opts.threads < 1)
    throw std::invalid_argument("simulator threads must be at least 1");
  impl_ = std::make_unique<impl>(std::move(opts));

  auto& svr = impl_->server;
  const auto threads = static_cast<size_t>(impl_->opts.threads);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_tcp_nodelay(true);
  // A client pool reuses its connections for a whole benchmark; do not force reconnects.
  svr.set_keep_alive_max_count(100000);
  svr.set_payload_max_length(1 << 20);
  impl_->install_routes();
}

simulator::~simulator() { stop(); }

std::optional<int> simulator::start(const std::string& host, int port, std::string& error) {
  auto& d = *impl_;
  std::lock_guard<std::mutex> lifecycle(d.lifecycle_mu);
  if (d.started) {
    error = "simulator already started";
    return std::nullopt;
  }
  {
    std::lock_guard<std::mutex> lk(d.mu);
    if (d.stopping) {
      error = "simulator already stopped";
      return std::nullopt;
    }
  }
  if (port < 0 || port > 65535) {
    error = "invalid port " + std::to_string(port);
    return std::nullopt;
  }

  errno = 0;
  int bound = -1;
  if (port == 0)
    bound = d.server.bind_to_any_port(host);
  else if (d.server.bind_to_port(host, port))
    bound = port;
  if (bound <= 0) {
    const int err = errno;
    error = "cannot bind " + host + ":" + std::to_string(port);
    if (err != 0)
      error += std::string(": ") + std::strerror(err);
    return std::nullopt;
  }
  d.server.widen_backlog();

  d.started = true;
  d.bound_port = bound;
  d.listener = d.server.serve_in_background();
  return bound;
}

void simulator::stop() {
  auto& d = *impl_;
  std::lock_guard<std::mutex> lifecycle(d.lifecycle_mu);
  {
    std::lock_guard<std::mutex> lk(d.mu);
    d.stopping = true;
  }
  d.cv.notify_all(); // release hung and delayed requests before joining their threads
  if (d.listener.joinable()) {
    d.server.interrupt(); // idle keep-alive connections would otherwise hold stop() for 5 s
    d.server.stop();
    d.listener.join();
  }
}

std::optional<int> simulator::port() const {
  const int p = impl_->bound_port;
  if (p == 0)
    return std::nullopt;
  return p;
}

const std::string& simulator::profile() const { return impl_->opts.profile; }

} // namespace coffeeshop::sim
