#include "http_api.hpp"

#include "coffeeshop/domain/order_json.hpp"
#include "coffeeshop/domain/order_request.hpp"
#include "coffeeshop/domain/request_fingerprint.hpp"
#include "coffeeshop/live_settings.hpp"
#include "coffeeshop/messages.hpp"
#include "coffeeshop/store/instance_registry.hpp"
#include "coffeeshop/util/bounded_gate.hpp"
#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/exception_message.hpp"
#include "coffeeshop/util/ids.hpp"
#include "openapi_document.hpp"
#include "operator_page.hpp"
#include "problem.hpp"

#include "coffeeshop/net/interruptible_server.hpp"

#include <boost/json.hpp>
#include <httplib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>

namespace coffeeshop {

namespace {

using json = boost::json::value;

/// Values of a route's `{...}` segments, in order.
using route_params = std::vector<std::string>;

/// "/api/v1/orders/x" -> {"api", "v1", "orders", "x"}; a trailing slash gives
/// an empty last segment, so "/healthz/" is not "/healthz".
std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/')
    return {std::string{path}};
  std::size_t start = 1;
  while (true) {
    auto end = path.find('/', start);
    out.emplace_back(path.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos)
      return out;
    start = end + 1;
  }
}

/// Per-request context every handler gets.
struct call_ctx {
  const httplib::Request& req;
  httplib::Response& res;
  trace_context trace; // the caller's (or a new one): its span is the server span's parent
  std::string route;   // route template, the metrics label
  /// This request's server span, as the reply's traceparent names it.
  trace_context server_span = {};
};

void write_json(httplib::Response& res, int status, const boost::json::value& body) {
  res.status = status;
  res.set_content(to_json_text(body), "application/json");
}

void fail(call_ctx& c, int status, std::string error_type, std::string title, std::string detail,
          boost::json::object ext = {}, long retry_after_s = 0) {
  problem p{status,         std::move(error_type), std::move(title), std::move(detail),
            std::move(ext), retry_after_s};
  write_problem(c.res, p, c.req.path, c.trace.trace_id);
}

boost::json::array errors_json(const std::vector<field_error>& errors) {
  boost::json::array out;
  for (const auto& e : errors)
    out.push_back(boost::json::object{{"field", e.field}, {"message", e.message}});
  return out;
}

void fail_validation(call_ctx& c, const std::vector<field_error>& errors) {
  std::string detail = errors.size() == 1 ? errors[0].field + ": " + errors[0].message
                                          : std::to_string(errors.size()) + " fields are invalid";
  fail(c, 422, "validation", "Validation failed", detail, {{"errors", errors_json(errors)}});
}

bool is_json_content_type(const httplib::Request& req) {
  auto ct = req.get_header_value("Content-Type");
  auto semi = ct.find(';');
  auto media = ct.substr(0, semi);
  media.erase(std::remove_if(media.begin(), media.end(), ::isspace), media.end());
  std::transform(media.begin(), media.end(), media.begin(), ::tolower);
  return media == "application/json";
}

/// Parses a JSON request body, answering 415/400 itself when it cannot.
std::optional<json> read_json_body(call_ctx& c) {
  if (!is_json_content_type(c.req)) {
    auto ct = c.req.get_header_value("Content-Type");
    fail(c, 415, "unsupported_media_type", "Unsupported media type",
         "the body must be application/json, got " +
           (ct.empty() ? std::string{"no Content-Type"} : "'" + ct + "'"));
    return std::nullopt;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(c.req.body, ec);
  if (ec) {
    fail(c, 400, "malformed_request", "Malformed request",
         "the body is not valid JSON: " + ec.message());
    return std::nullopt;
  }
  return v;
}

std::optional<int> parse_int(const std::string& text) {
  int v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || p != text.data() + text.size())
    return std::nullopt;
  return v;
}

long ceil_seconds(millis ms) {
  return std::max<long>(1, static_cast<long>((ms.count() + 999) / 1000));
}

} // namespace

// -- implementation ---------------------------------------------------------------

struct http_api::impl {
  config cfg;
  menu catalogue;
  std::string menu_body;
  shared_services deps;
  order_gateway& gateway;
  std::shared_ptr<lifecycle> life;
  net::interruptible_server server;
  std::thread serving;
  /// Waiting orders may hold at most max_inflight_orders server threads.
  bounded_gate inflight_orders;
  /// How long a create waits for the coordinator: the whole payment budget, never less, so
  /// the client is never told of a failure while its payment may still go through. The
  /// budget is the live one: a reload may have raised it.
  millis create_wait() const {
    const auto budget = deps.live ? deps.live->total_timeout_ms(service_kind::payment)
                                  : cfg.payment.total_timeout_ms;
    return std::max(millis{cfg.http.request_timeout_ms}, millis{budget + 5000});
  }

  struct route {
    std::string method;
    std::vector<std::string> segments; // "{...}" matches any one non-empty segment
    std::string name;                  // the template, also the metrics label
    std::function<void(impl&, call_ctx&, const route_params&)> handler;
  };
  std::vector<route> routes;

  impl(const config& c, menu m, shared_services d, order_gateway& g, std::shared_ptr<lifecycle> l)
    : cfg(c),
      catalogue(std::move(m)),
      deps(std::move(d)),
      gateway(g),
      life(std::move(l)),
      inflight_orders(c.http.max_inflight_orders) {
    menu_body = to_json_text(catalogue.to_json());
    add_routes();
    configure_server();
  }

  void unavailable(call_ctx& c, const std::string& why) {
    fail(c, 503, "overloaded", "Service unavailable",
         "the daemon could not handle the request: " + why, {}, 1);
  }

  // -- routing --------------------------------------------------------------------

  void add(std::string method, std::string name,
           std::function<void(impl&, call_ctx&, const route_params&)> fn) {
    routes.push_back(route{std::move(method), split_path(name), name, std::move(fn)});
  }

  /// Matches `path` (already split) against a route; fills the `{...}` values.
  static bool match(const route& r, const std::vector<std::string>& path, route_params& params) {
    if (r.segments.size() != path.size())
      return false;
    params.clear();
    for (std::size_t i = 0; i < path.size(); ++i) {
      const auto& want = r.segments[i];
      if (!want.empty() && want.front() == '{') {
        if (path[i].empty())
          return false;
        params.push_back(path[i]);
      } else if (want != path[i]) {
        return false;
      }
    }
    return true;
  }

  void dispatch(const httplib::Request& req, httplib::Response& res) {
    auto started = std::chrono::steady_clock::now();
    auto started_ns = unix_now_ns();
    auto incoming = trace_context::parse(req.get_header_value("traceparent"));
    call_ctx c{req, res, incoming ? *incoming : trace_context::make_new(), "unmatched"};
    c.server_span = c.trace.child();
    res.set_header("traceparent", c.server_span.to_header());
    std::vector<std::string> allowed;
    bool handled = false;
    auto path = split_path(req.path);
    route_params params;
    for (auto& r : routes) {
      if (!match(r, path, params))
        continue;
      // HEAD is GET without the body (RFC 9110 §9.3.2); httplib leaves the body out.
      const bool head_of_get = req.method == "HEAD" && r.method == "GET";
      if (r.method != req.method && !head_of_get) {
        allowed.push_back(r.method);
        if (r.method == "GET")
          allowed.push_back("HEAD");
        continue;
      }
      c.route = r.name;
      r.handler(*this, c, params);
      handled = true;
      break;
    }
    if (!handled && !allowed.empty()) {
      std::string list;
      for (const auto& a : allowed)
        list += (list.empty() ? "" : ", ") + a;
      res.set_header("Allow", list);
      fail(c, 405, "method_not_allowed", "Method not allowed",
           req.method + " is not allowed on " + req.path + "; allowed: " + list);
    } else if (!handled) {
      fail(c, 404, "not_found", "Not found", "no route for " + req.method + " " + req.path);
    }
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    auto code = std::to_string(res.status);
    deps.stats->http_requests.add({{"method", req.method}, {"route", c.route}, {"code", code}});
    deps.stats->http_request_duration.observe({{"route", c.route}}, secs);
    if (deps.spans)
      deps.spans->submit(server_span_of(c, incoming.has_value(), started_ns));
  }

  /// The server span of a request, after the OpenTelemetry HTTP semantic conventions.
  static span server_span_of(const call_ctx& c, bool remote_parent, int64_t started_ns) {
    span s;
    s.trace_id = c.trace.trace_id;
    s.span_id = c.server_span.span_id;
    if (remote_parent)
      s.parent_span_id = c.trace.span_id;
    bool matched = c.route != "unmatched";
    s.name = matched ? c.req.method + " " + c.route : c.req.method;
    s.kind = span_kind::server;
    s.start_ns = started_ns;
    s.end_ns = unix_now_ns();
    s.attributes = {{"http.request.method", c.req.method},
                    {"url.path", c.req.path},
                    {"url.scheme", "http"},
                    {"http.response.status_code", c.res.status}};
    if (matched)
      s.attributes.emplace_back("http.route", c.route);
    if (!c.req.remote_addr.empty())
      s.attributes.emplace_back("client.address", c.req.remote_addr);
    if (c.res.status >= 500) {
      // Only a server fault is an error of the server span; a 4xx is the client's.
      s.status = span_status::error;
      s.attributes.emplace_back("error.type", std::to_string(c.res.status));
    }
    return s;
  }

  void configure_server() {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      dispatch(req, res);
    };
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Patch(".*", handler);
    server.Delete(".*", handler);
    server.Options(".*", handler);
    // A request without Content-Length or Transfer-Encoding has no body (RFC 9112
    // §6.3), but httplib 0.11 would read one until the client closes or the read
    // timeout fires: answer such requests before it tries.
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (refuse_before_body(req, res))
        return httplib::Server::HandlerResponse::Handled;
      bool may_have_body = req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
      if (!may_have_body || req.has_header("Content-Length") || req.has_header("Transfer-Encoding"))
        return httplib::Server::HandlerResponse::Unhandled;
      dispatch(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });
    // Errors httplib answers itself (413, malformed HTTP) still get a problem body.
    server.set_error_handler(httplib::Server::HandlerWithResponse{
      [this](const httplib::Request& req,
             httplib::Response& res) -> httplib::Server::HandlerResponse {
        if (!res.body.empty())
          return httplib::Server::HandlerResponse::Unhandled;
        call_ctx c{req, res, trace_context::from_header_or_new(req.get_header_value("traceparent")),
                   "unmatched"};
        res.set_header("traceparent", c.trace.child().to_header());
        if (res.status == 413)
          fail(c, 413, "payload_too_large", "Payload too large", too_large_detail());
        else if (res.status == 404)
          fail(c, 404, "not_found", "Not found", "no route for " + req.method + " " + req.path);
        else if (res.status == 405)
          fail(c, 405, "method_not_allowed", "Method not allowed", req.method + " is not allowed");
        else
          fail(c, res.status, res.status < 500 ? "malformed_request" : "internal",
               res.status < 500 ? "Bad request" : "Internal error",
               "the request could not be processed (HTTP " + std::to_string(res.status) + ")");
        return httplib::Server::HandlerResponse::Handled;
      }});
    server.set_exception_handler(
      [this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        deps.log->error("request failed", {{"path", req.path}, {"error", exception_message(ep)}});
        call_ctx c{req, res, trace_context::make_new(), "unmatched"};
        fail(c, 500, "internal", "Internal error", "an unexpected error occurred");
      });
    server.set_payload_max_length(static_cast<size_t>(cfg.http.max_body_bytes));
    net::connection_limits limits;
    limits.threads = cfg.http.threads;
    // The automatic cap leaves a normal slot for reads while the ingress bulkhead is full, as
    // max_inflight_orders < threads promises.
    limits.max_connections = cfg.http.max_connections > 0
                               ? cfg.http.max_connections
                               : std::min(cfg.http.threads,
                                          std::max(connection_cap(cfg.http),
                                                   cfg.http.max_inflight_orders + 1));
    limits.read_timeout = millis{cfg.http.read_timeout_ms};
    limits.reserved_read_timeout = std::min(limits.read_timeout, millis{1000});
    limits.max_header_bytes = static_cast<size_t>(cfg.http.max_header_bytes);
    limits.max_headers = static_cast<size_t>(cfg.http.max_headers);
    server.set_connection_limits(limits);
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(100000);
    server.set_keep_alive_timeout(5);
    server.set_read_timeout(std::max<int64_t>(1, cfg.http.request_timeout_ms / 1000), 0);
  }

  /// Answers, before httplib reads a body, what must not be read: any request but a health
  /// check in a reserved connection slot, a compressed body (its decoded size is unbounded),
  /// and a declared body over max_body_bytes. True when it answered.
  bool refuse_before_body(const httplib::Request& req, httplib::Response& res) {
    auto refuse = [&](int status, const char* type, const char* title, std::string detail,
                      long retry_after_s) {
      call_ctx c{req, res, trace_context::from_header_or_new(req.get_header_value("traceparent")),
                 "unmatched"};
      res.set_header("traceparent", c.trace.child().to_header());
      fail(c, status, type, title, std::move(detail), {}, retry_after_s);
      res.set_header("Connection", "close");
      net::interruptible_server::close_after_reply();
      deps.stats->http_requests.add(
        {{"method", req.method}, {"route", c.route}, {"code", std::to_string(status)}});
      return true;
    };
    net::interruptible_server::release_reserved_slot(); // a no-op outside a reserved slot
    if (net::interruptible_server::in_reserved_slot() && !is_health_route(req.path))
      return refuse(503, "overloaded", "Service unavailable",
                    "the daemon holds http.max_connections connections; only /healthz, /readyz "
                    "and /metrics are answered beyond them",
                    1);
    // Any byte but the spelling of "identity" (in any case, spaces around) is an encoding.
    std::string encoding;
    for (unsigned char ch : req.get_header_value("Content-Encoding"))
      if (ch != ' ' && ch != '\t')
        encoding += static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
    if (!encoding.empty() && encoding != "identity")
      return refuse(415, "unsupported_media_type", "Unsupported media type",
                    "compressed request bodies (Content-Encoding) are not accepted", 0);
    if (req.has_header("Content-Length")) {
      const auto length = req.get_header_value("Content-Length");
      uint64_t n = 0;
      auto [p, ec] = std::from_chars(length.data(), length.data() + length.size(), n);
      if (ec == std::errc::result_out_of_range ||
          (ec == std::errc{} && p == length.data() + length.size() &&
           n > static_cast<uint64_t>(cfg.http.max_body_bytes)))
        return refuse(413, "payload_too_large", "Payload too large", too_large_detail(), 0);
    }
    return false;
  }

  std::string too_large_detail() const {
    return "the body exceeds http.max_body_bytes (" + std::to_string(cfg.http.max_body_bytes) +
           " bytes)";
  }

  static bool is_health_route(const std::string& path) {
    return path == "/healthz" || path == "/readyz" || path == "/metrics";
  }

  void add_routes() {
    add("GET", "/", [](impl&, call_ctx& c, const route_params&) {
      c.res.status = 200;
      // The policy holds the page to what it promises: nothing from another origin.
      c.res.set_header("Content-Security-Policy", "default-src 'none'; script-src 'unsafe-inline'; "
                                                  "style-src 'unsafe-inline'; connect-src 'self'");
      c.res.set_header("Cache-Control", "no-cache");
      c.res.set_content(operator_page().data(), operator_page().size(), "text/html; charset=utf-8");
    });
    add("GET", "/api/v1/menu", [](impl& self, call_ctx& c, const route_params&) {
      c.res.status = 200;
      c.res.set_content(self.menu_body, "application/json");
    });
    add("POST", "/api/v1/orders", &impl::create_order);
    add("GET", "/api/v1/orders", &impl::list_orders);
    add("GET", "/api/v1/orders/{id}", &impl::get_order);
    add("PATCH", "/api/v1/orders/{id}/status", &impl::change_status);
    add("GET", "/healthz", [](impl&, call_ctx& c, const route_params&) {
      write_json(c.res, 200, {{"status", "ok"}});
    });
    add("GET", "/readyz", [](impl& self, call_ctx& c, const route_params&) {
      if (!self.deps.store_state->ok)
        fail(c, 503, "store_unavailable", "Not ready", "the order store is failing commits", {}, 1);
      else if (self.life->ready && !self.life->draining)
        write_json(c.res, 200, {{"status", "ready"}});
      else
        fail(c, 503, "overloaded", "Not ready",
             self.life->draining ? "the daemon is draining" : "the daemon is starting", {}, 1);
    });
    add("GET", "/metrics", [](impl& self, call_ctx& c, const route_params&) {
      self.deps.stats->inflight_orders.set({}, self.inflight_orders.inside());
      self.deps.stats->inflight_orders_limit.set({}, self.cfg.http.max_inflight_orders);
      self.deps.stats->store_up.set({}, self.deps.store_state->ok ? 1 : 0);
      self.record_outbox_gauges();
      c.res.status = 200;
      c.res.set_content(self.deps.stats->render(), "text/plain; version=0.0.4; charset=utf-8");
    });
    add("GET", "/api/v1/integrations", [](impl& self, call_ctx& c, const route_params&) {
      auto now = std::chrono::steady_clock::now();
      boost::json::object out;
      for (auto kind : {service_kind::payment, service_kind::notification})
        out[to_string(kind)] = self.deps.board->to_json(kind, now);
      write_json(c.res, 200, out);
    });
    add("GET", "/api/v1/events", &impl::list_events);
    add("GET", "/api/v1/openapi.json", [](impl&, call_ctx& c, const route_params&) {
      c.res.status = 200;
      c.res.set_content(openapi_document().data(), openapi_document().size(), "application/json");
    });
    add("GET", "/api/v1/instances", &impl::list_instances);
    add("POST", "/api/v1/integrations/{service}/circuit", &impl::circuit_admin);
    add("POST", "/api/v1/admin/actors/{name}/crash", &impl::crash_admin);
    add("GET", "/api/v1/admin/outbox", &impl::list_outbox);
    add("POST", "/api/v1/admin/outbox/{id}/retry", &impl::retry_outbox);
  }

  // -- orders ---------------------------------------------------------------------

  void create_order(call_ctx& c, const route_params&) {
    std::optional<std::string> key;
    // httplib drops a header line whose value is empty or all blanks: such a key is
    // refused, not taken for no key (a repeat would make a second order).
    if (c.req.has_header("Idempotency-Key") ||
        net::interruptible_server::sent_empty_header("Idempotency-Key")) {
      key = c.req.get_header_value("Idempotency-Key");
      auto blank = std::all_of(key->begin(), key->end(),
                               [](char ch) { return ch == ' ' || ch == '\t'; });
      if (blank || key->size() > 255) {
        fail_validation(c, {{"Idempotency-Key", "must be 1 to 255 characters, not all blank"}});
        return;
      }
    }
    auto body = read_json_body(c);
    if (!body)
      return;
    auto checked = validate_order_request(*body, catalogue);
    if (auto* errors = std::get_if<std::vector<field_error>>(&checked)) {
      fail_validation(c, *errors);
      return;
    }
    create_order_command cmd;
    cmd.request = std::move(std::get<priced_order>(checked));
    cmd.fingerprint = request_fingerprint(cmd.request);
    cmd.idempotency_key = key;
    cmd.trace_id = c.trace.trace_id;
    cmd.span_id = c.server_span.span_id;
    cmd.trace_flags = c.trace.flags;
    // Over the bulkhead the order is still recorded (as payment_failed, never
    // paid) so the client can retry it under its Idempotency-Key; only the
    // payment is shed.
    auto pass = inflight_orders.try_enter();
    cmd.shed = !pass.admitted();
    auto reply = gateway.create_order(std::move(cmd), create_wait());
    if (!reply) {
      unavailable(c, reply.error);
      return;
    }
    auto& r = *reply;
    switch (r.result) {
      case create_result::created:
        c.res.set_header("Location", "/api/v1/orders/" + r.placed.id);
        write_json(c.res, 201, to_json(r.placed));
        return;
      case create_result::replayed:
        c.res.set_header("Idempotency-Replayed", "true");
        c.res.set_header("Location", "/api/v1/orders/" + r.placed.id);
        write_json(c.res, 200, to_json(r.placed));
        return;
      case create_result::in_progress:
        fail(c, 409, "conflict", "Request in progress",
             "a request with this Idempotency-Key is still being processed",
             {{"orderId", r.placed.id}});
        return;
      case create_result::key_mismatch:
        fail(c, 422, "validation", "Idempotency-Key reused",
             "this Idempotency-Key was used with a different request body",
             {{"errors",
               boost::json::array{
                 boost::json::object{{"field", "Idempotency-Key"},
                                     {"message", "already used with a different request body"}}}},
              {"orderId", r.placed.id}});
        return;
      case create_result::payment_failed: payment_failed(c, r); return;
      case create_result::store_failed: store_unavailable(c); return;
    }
  }

  void store_unavailable(call_ctx& c) {
    fail(c, 503, "store_unavailable", "Store unavailable",
         "the order store could not commit the change; nothing was recorded, retry later", {}, 1);
  }

  void payment_failed(call_ctx& c, const create_order_reply& r) {
    boost::json::object ext{{"orderId", r.placed.id}, {"attempts", r.payment.attempts}};
    const auto& detail = r.payment.detail;
    switch (r.payment.result) {
      case call_result::declined:
        fail(c, 402, "payment_declined", "Payment declined", detail, ext);
        return;
      case call_result::exhausted:
      case call_result::succeeded:
        fail(c, 502, "upstream_error", "Payment service error", detail, ext);
        return;
      case call_result::timed_out:
        fail(c, 504, "upstream_timeout", "Payment service timeout", detail, ext);
        return;
      case call_result::circuit_open:
        fail(c, 503, "circuit_open", "Payment circuit open", detail, ext,
             ceil_seconds(r.payment.retry_after));
        return;
      case call_result::overloaded:
        fail(c, 503, "overloaded", "Payment service overloaded", detail, ext,
             ceil_seconds(r.payment.retry_after));
        return;
    }
  }

  void get_order(call_ctx& c, const route_params& p) {
    auto o = deps.store->get(p[0]);
    if (!o) {
      fail(c, 404, "not_found", "Order not found", "no order with id '" + p[0] + "'");
      return;
    }
    write_json(c.res, 200, to_json(*o));
  }

  void list_orders(call_ctx& c, const route_params&) {
    std::vector<field_error> errors;
    std::optional<order_status> status;
    if (c.req.has_param("status")) {
      auto s = c.req.get_param_value("status");
      status = parse_order_status(s);
      if (!status)
        errors.push_back({"status", "unknown status '" + s + "'"});
    }
    int limit = 50;
    if (c.req.has_param("limit")) {
      auto v = parse_int(c.req.get_param_value("limit"));
      if (!v || *v < 1 || *v > 500)
        errors.push_back({"limit", "must be an integer from 1 to 500"});
      else
        limit = *v;
    }
    std::optional<std::string> after;
    if (c.req.has_param("after"))
      after = c.req.get_param_value("after");
    if (!errors.empty()) {
      fail_validation(c, errors);
      return;
    }
    auto page = deps.store->list(status, static_cast<std::size_t>(limit), after);
    boost::json::array orders;
    orders.reserve(page.orders.size());
    for (const auto& o : page.orders)
      orders.push_back(to_json(o));
    boost::json::object out{{"orders", std::move(orders)}};
    if (page.next)
      out["next"] = *page.next;
    else
      out["next"] = nullptr;
    write_json(c.res, 200, out);
  }

  void change_status(call_ctx& c, const route_params& p) {
    auto body = read_json_body(c);
    if (!body)
      return;
    auto checked = validate_status_request(*body);
    if (auto* errors = std::get_if<std::vector<field_error>>(&checked)) {
      fail_validation(c, *errors);
      return;
    }
    change_status_command cmd{p[0], std::get<order_status>(checked), c.trace.trace_id};
    auto reply = gateway.change_status(std::move(cmd), millis{cfg.http.request_timeout_ms});
    if (!reply) {
      unavailable(c, reply.error);
      return;
    }
    switch (reply->result) {
      case change_result::changed: write_json(c.res, 200, to_json(reply->current)); return;
      case change_result::store_failed: store_unavailable(c); return;
      case change_result::not_found:
        fail(c, 404, "not_found", "Order not found", "no order with id '" + p[0] + "'");
        return;
      case change_result::conflict: {
        auto from = reply->current.status;
        boost::json::array allowed;
        for (auto s : allowed_next(from))
          allowed.push_back(boost::json::string{to_string(s)});
        auto target = std::get<order_status>(checked);
        fail(c, 409, "conflict", "Status change not allowed",
             "cannot move an order from " + std::string{to_string(from)} + " to " +
               std::string{to_string(target)},
             {{"currentStatus", to_string(from)}, {"allowed", std::move(allowed)}});
        return;
      }
    }
  }

  // -- operations -----------------------------------------------------------------

  void list_events(call_ctx& c, const route_params&) {
    std::size_t limit = 100;
    if (c.req.has_param("limit")) {
      auto v = parse_int(c.req.get_param_value("limit"));
      if (!v || *v < 1 || *v > 2000) {
        fail_validation(c, {{"limit", "must be an integer from 1 to 2000"}});
        return;
      }
      limit = static_cast<std::size_t>(*v);
    }
    std::optional<std::string> service, order_id;
    if (c.req.has_param("service"))
      service = c.req.get_param_value("service");
    if (c.req.has_param("orderId"))
      order_id = c.req.get_param_value("orderId");
    write_json(c.res, 200, {{"events", deps.journal->recent(limit, service, order_id)}});
  }

  /// The daemons that renewed their heartbeat within instance.lease_ms.
  void list_instances(call_ctx& c, const route_params&) {
    boost::json::array out;
    if (deps.instances)
      for (const auto& i : deps.instances->live(now_ms(), cfg.instance.lease_ms))
        out.push_back({{"id", i.id},
                       {"address", i.address},
                       {"version", i.version},
                       {"startedAt", format_rfc3339(i.started_at_ms)},
                       {"heartbeatAt", format_rfc3339(i.heartbeat_at_ms)}});
    write_json(c.res, 200, {{"instances", std::move(out)}});
  }

  /// Checks the admin token; answers 404/401/403 itself when access is denied.
  bool authorized(call_ctx& c) {
    // A reload may have changed the token since start.
    const auto token = deps.live ? deps.live->admin_token() : cfg.admin_token;
    if (!token) {
      fail(c, 404, "not_found", "Not found", "admin endpoints are disabled (admin.token is null)");
      return false;
    }
    auto auth = c.req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) != 0) {
      c.res.set_header("WWW-Authenticate", "Bearer");
      fail(c, 401, "unauthorized", "Unauthorized", "an Authorization: Bearer token is required");
      return false;
    }
    if (auth.substr(prefix.size()) != *token) {
      fail(c, 403, "forbidden", "Forbidden", "the bearer token is not valid");
      return false;
    }
    return true;
  }

  void circuit_admin(call_ctx& c, const route_params& p) {
    if (!authorized(c))
      return;
    auto kind = parse_service_kind(p[0]);
    if (!kind) {
      fail(c, 404, "not_found", "Unknown integration",
           "no integration named '" + p[0] + "'; expected payment or notification");
      return;
    }
    auto body = read_json_body(c);
    if (!body)
      return;
    std::optional<circuit_action> action;
    if (body->is_object())
      if (auto* a = body->get_object().if_contains("action"); a && a->is_string()) {
        if (a->get_string() == "isolate")
          action = circuit_action::isolate;
        else if (a->get_string() == "reset")
          action = circuit_action::reset;
      }
    if (!action) {
      fail_validation(c, {{"action", "must be \"isolate\" or \"reset\""}});
      return;
    }
    auto reply = gateway.circuit(*kind, *action, millis{5000});
    if (!reply) {
      unavailable(c, reply.error);
      return;
    }
    write_json(c.res, 200, reply->json);
  }

  void record_outbox_gauges() {
    auto [pending, oldest] = deps.store->outbox_count(outbox_state::pending);
    auto failed = deps.store->outbox_count(outbox_state::failed).first;
    deps.stats->outbox_entries.set({{"state", "pending"}}, static_cast<double>(pending));
    deps.stats->outbox_entries.set({{"state", "failed"}}, static_cast<double>(failed));
    double age = oldest ? std::max<int64_t>(0, now_ms() - *oldest) / 1000.0 : 0.0;
    deps.stats->outbox_oldest_pending.set({}, age);
  }

  static boost::json::object entry_json(const outbox_entry& e) {
    boost::json::object out{{"id", e.id},
                            {"orderId", e.order_id},
                            {"status", e.status},
                            {"state", to_string(e.state)},
                            {"attempts", e.attempts},
                            {"createdAt", format_rfc3339(e.created_at_ms)}};
    out["lastError"] = e.last_error.empty() ? boost::json::value(nullptr)
                                            : boost::json::value(e.last_error);
    out["nextAttemptAt"] = e.next_attempt_at_ms > 0
                             ? boost::json::value(format_rfc3339(e.next_attempt_at_ms))
                             : boost::json::value(nullptr);
    return out;
  }

  void list_outbox(call_ctx& c, const route_params&) {
    if (!authorized(c))
      return;
    std::vector<field_error> errors;
    std::optional<outbox_state> state;
    if (c.req.has_param("state")) {
      auto v = c.req.get_param_value("state");
      state = parse_outbox_state(v);
      if (!state || *state == outbox_state::sent)
        errors.push_back({"state", "must be pending or failed"});
    }
    std::size_t limit = 100;
    if (c.req.has_param("limit")) {
      auto v = parse_int(c.req.get_param_value("limit"));
      if (!v || *v < 1 || *v > 1000)
        errors.push_back({"limit", "must be an integer from 1 to 1000"});
      else
        limit = static_cast<std::size_t>(*v);
    }
    if (!errors.empty()) {
      fail_validation(c, errors);
      return;
    }
    // Without a state, both open states, oldest first: what an operator has to
    // look at. Each is read with the limit, so sent entries are never scanned.
    auto open = state ? deps.store->outbox_list(state, limit)
                      : deps.store->outbox_list(outbox_state::pending, limit);
    if (!state) {
      auto failed = deps.store->outbox_list(outbox_state::failed, limit);
      open.insert(open.end(), failed.begin(), failed.end());
      std::stable_sort(open.begin(), open.end(), [](const outbox_entry& a, const outbox_entry& b) {
        return a.created_at_ms < b.created_at_ms;
      });
      if (open.size() > limit)
        open.resize(limit);
    }
    boost::json::array entries;
    for (const auto& e : open)
      entries.push_back(entry_json(e));
    write_json(c.res, 200, {{"entries", std::move(entries)}});
  }

  void retry_outbox(call_ctx& c, const route_params& p) {
    if (!authorized(c))
      return;
    auto reply = gateway.requeue_notification(p[0], millis{cfg.http.request_timeout_ms});
    if (!reply) {
      unavailable(c, reply.error);
      return;
    }
    switch (reply->result) {
      case requeue_result::requeued: write_json(c.res, 202, entry_json(reply->entry)); return;
      case requeue_result::not_found:
        fail(c, 404, "not_found", "Outbox entry not found",
             "no outbox entry with id '" + p[0] + "'");
        return;
      case requeue_result::not_failed:
        fail(c, 409, "conflict", "Entry not failed",
             "only a failed entry can be retried; this one is " +
               std::string{to_string(reply->entry.state)},
             {{"currentStatus", to_string(reply->entry.state)}});
        return;
      case requeue_result::store_failed: store_unavailable(c); return;
    }
  }

  void crash_admin(call_ctx& c, const route_params& p) {
    if (!authorized(c))
      return;
    const auto& name = p[0];
    if (!gateway.crash(name)) {
      fail(c, 404, "not_found", "Unknown actor",
           "no actor named '" + name + "'; expected payment, notification or event-logger");
      return;
    }
    deps.log->warn("crash rehearsal requested", {{"actor", name}});
    write_json(c.res, 202, {{"actor", name}, {"status", "crash requested"}});
  }
};

// -- http_api ---------------------------------------------------------------------

http_api::http_api(const config& cfg, menu m, shared_services services, order_gateway& gateway,
                   std::shared_ptr<lifecycle> life)
  : impl_(
      std::make_unique<impl>(cfg, std::move(m), std::move(services), gateway, std::move(life))) {}

http_api::~http_api() { stop(); }

std::vector<std::pair<std::string, std::string>> http_api::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& r : impl_->routes)
    out.emplace_back(r.method, r.name);
  return out;
}

int http_api::bind(std::string& error) {
  const auto& host = impl_->cfg.http.listen_host;
  auto port = impl_->cfg.http.listen_port;
  int bound = port == 0 ? impl_->server.bind_to_any_port(host)
                        : (impl_->server.bind_to_port(host, port) ? port : -1);
  if (bound >= 0 && !impl_->server.widen_backlog())
    bound = -1;
  if (bound < 0)
    error = "cannot listen on " + host + ":" + std::to_string(port) +
            " (address in use or not available)";
  port_ = bound;
  return bound;
}

bool http_api::start() {
  std::lock_guard guard{stop_mtx_};
  if (stopped_ || impl_->serving.joinable())
    return false;
  impl_->serving = impl_->server.serve_in_background();
  return true;
}

void http_api::stop() {
  std::lock_guard guard{stop_mtx_};
  stopped_ = true;
  if (impl_->serving.joinable()) {
    // Idle keep-alive connections close now; requests being handled finish and are answered.
    impl_->server.interrupt();
    impl_->server.stop();
    impl_->serving.join();
  }
}

} // namespace coffeeshop
