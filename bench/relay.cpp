// bench-relay: the bare-relay baseline of bench/run (issue 5) -- the ceiling of this stack.
//
// A plain cpp-httplib server, no actors: POST /api/v1/orders parses the order JSON with
// Boost.JSON, prices it, builds the seed payment body {orderId, amount, currency,
// paymentMethod}, calls POST <upstream>/api/v1/payment through a keep-alive httplib client
// (one per server thread) and answers 201 with a small JSON body. The answer is also kept in
// a sharded in-memory map so that GET /api/v1/orders/{id} (scenario b) has a bare-stack
// baseline too. GET /healthz answers 200.
//
//   bench-relay [--listen HOST:PORT] --upstream http://HOST:PORT [--threads N] [--backlog N]
//
// --backlog: Debian's libcpp-httplib 0.11 is a compiled library whose listen() backlog is 5
// (CPPHTTPLIB_LISTEN_BACKLOG, fixed at its build). wrk opens its 64 connections at once; the
// accept queue overflows, a few handshakes are retried after ~1 s, and wrk's latency
// correction (it adds the requests a stalled connection "would have sent") turns each stall
// into hundreds of samples: p99 of 0.2-0.7 s. The relay therefore calls listen() again on
// the bound socket with N (default 1024); --backlog 0 keeps httplib's 5.
//
// Prints {"msg":"listening","address":"HOST:PORT"} once bound (port 0 = any free port).

#include <boost/json.hpp>
#include <httplib.h>

#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

namespace json = boost::json;

// Not exactly "application/json": httplib 0.11 would compress replies for clients that send
// Accept-Encoding (the same trick as the simulator; wrk sends none, but the Node peer's
// clients might).
constexpr const char* json_type = "application/json; charset=utf-8";

struct options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string upstream;
  int threads = 64;
  int backlog = 1024;
};

[[noreturn]] void usage(const std::string& why) {
  std::cerr
    << "bench-relay: " << why << "\n"
    << "usage: bench-relay [--listen HOST:PORT] --upstream http://HOST:PORT [--threads N] [--backlog N]\n";
  std::exit(2);
}

options parse_args(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "--listen") {
      std::string v = value();
      auto colon = v.rfind(':');
      if (colon == std::string::npos)
        usage("--listen: expected HOST:PORT");
      o.host = v.substr(0, colon);
      o.port = std::atoi(v.c_str() + colon + 1);
    } else if (a == "--upstream") {
      o.upstream = value();
      while (!o.upstream.empty() && o.upstream.back() == '/')
        o.upstream.pop_back();
    } else if (a == "--threads") {
      o.threads = std::atoi(value().c_str());
      if (o.threads < 1)
        usage("--threads: expected a positive integer");
    } else if (a == "--backlog") {
      o.backlog = std::atoi(value().c_str());
      if (o.backlog < 0)
        usage("--backlog: expected 0 or a positive integer");
    } else if (a == "--help" || a == "-h") {
      usage("help");
    } else {
      usage("unknown argument " + a);
    }
  }
  if (o.upstream.empty())
    usage("--upstream is required");
  return o;
}

// A small price list in cents, enough to price the benchmark's orders like the daemon does.
long long price_of(std::string_view product, std::string_view variation, bool& ok) {
  ok = true;
  long long base = 0;
  if (product == "Latte")
    base = 400;
  else if (product == "Espresso")
    base = 250;
  else if (product == "Cappuccino")
    base = 350;
  else if (product == "Tea")
    base = 200;
  else {
    ok = false;
    return 0;
  }
  if (variation == "Pumpkin Spice")
    base += 50;
  else if (variation == "Vanilla")
    base += 30;
  else if (variation == "Hazelnut")
    base += 40;
  else if (variation == "Double Shot")
    base += 100;
  return base;
}

std::string money(long long cents) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%02lld", cents / 100, cents % 100);
  return buf;
}

std::string json_quoted(std::string_view s) { return json::serialize(json::string(s)); }

std::string next_order_id() {
  static std::atomic<unsigned long long> seq{0};
  static const unsigned long long salt = [] {
    return (static_cast<unsigned long long>(::getpid()) << 32) ^
           static_cast<unsigned long long>(time(nullptr));
  }();
  char buf[40];
  std::snprintf(buf, sizeof buf, "ord_%08llx%012llx", salt & 0xffffffffULL, seq.fetch_add(1) + 1);
  return buf;
}

// The bare store: id -> the JSON answered at creation, in 16 mutex-guarded shards.
class order_map {
public:
  void put(const std::string& id, const std::string& body) {
    auto& s = shard(id);
    std::lock_guard<std::mutex> lk(s.mu);
    s.map[id] = body;
  }
  bool get(const std::string& id, std::string& out) {
    auto& s = shard(id);
    std::lock_guard<std::mutex> lk(s.mu);
    auto it = s.map.find(id);
    if (it == s.map.end())
      return false;
    out = it->second;
    return true;
  }

private:
  struct shard_t {
    std::mutex mu;
    std::unordered_map<std::string, std::string> map;
  };
  shard_t& shard(const std::string& id) { return shards_[std::hash<std::string>{}(id) % 16]; }
  shard_t shards_[16];
};

void reply_error(httplib::Response& res, int status, std::string_view error) {
  res.status = status;
  res.set_content("{\"error\":" + json_quoted(error) + "}", json_type);
}

} // namespace

int main(int argc, char** argv) {
  const options opt = parse_args(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);

  httplib::Server server;
  const auto threads = static_cast<size_t>(opt.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_tcp_nodelay(true);
  server.set_keep_alive_max_count(1000000);
  server.set_payload_max_length(1 << 16);
  socket_t listen_fd = INVALID_SOCKET; // httplib hands the socket to this hook before bind()
  server.set_socket_options([&listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    listen_fd = sock;
  });

  const std::string upstream = opt.upstream;
  order_map orders;

  server.Get(R"(/api/v1/orders/([^/]+))",
             [&orders](const httplib::Request& req, httplib::Response& res) {
               std::string body;
               if (!orders.get(req.matches[1].str(), body))
                 return reply_error(res, 404, "order not found");
               res.status = 200;
               res.set_content(std::move(body), json_type);
             });

  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content("{\"status\":\"ok\"}", json_type);
  });

  server.Post("/api/v1/orders", [&upstream, &orders](const httplib::Request& req,
                                                     httplib::Response& res) {
    // One keep-alive client per server thread: no lock, no sharing.
    thread_local std::unique_ptr<httplib::Client> client;
    if (!client) {
      client = std::make_unique<httplib::Client>(upstream);
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      client->set_connection_timeout(5, 0);
      client->set_read_timeout(10, 0);
    }

    json::error_code ec;
    json::value doc = json::parse(req.body, ec);
    const json::object* order = ec ? nullptr : doc.if_object();
    if (!order)
      return reply_error(res, 400, "the body is not a JSON object");
    const json::array* items = nullptr;
    if (auto* v = order->if_contains("items"))
      items = v->if_array();
    if (!items || items->empty())
      return reply_error(res, 422, "items: must be a non-empty array");
    long long total = 0;
    for (const auto& item : *items) {
      const auto* o = item.if_object();
      if (!o)
        return reply_error(res, 422, "items: each item must be an object");
      std::string_view product, variation;
      long long qty = 1;
      if (auto* p = o->if_contains("product"); p && p->is_string())
        product = p->get_string();
      if (auto* v = o->if_contains("variation"); v && v->is_string())
        variation = v->get_string();
      if (auto* q = o->if_contains("quantity"); q && q->is_int64())
        qty = q->get_int64();
      bool ok = false;
      long long unit = price_of(product, variation, ok);
      if (!ok || qty < 1 || qty > 100)
        return reply_error(res, 422, "items: unknown product or bad quantity");
      total += unit * qty;
    }
    std::string_view currency = "USD", method = "credit_card";
    if (auto* c = order->if_contains("currency"); c && c->is_string())
      currency = c->get_string();
    if (auto* m = order->if_contains("paymentMethod"); m && m->is_string())
      method = m->get_string();

    const std::string id = next_order_id();
    std::string body;
    body.reserve(128);
    body += "{\"orderId\":\"";
    body += id;
    body += "\",\"amount\":";
    body += money(total);
    body += ",\"currency\":";
    body += json_quoted(currency);
    body += ",\"paymentMethod\":";
    body += json_quoted(method);
    body += '}';

    httplib::Headers headers{{"Idempotency-Key", id}};
    auto up = client->Post("/api/v1/payment", headers, body, "application/json");
    if (!up)
      return reply_error(res, 502,
                         "payment service unreachable: " + httplib::to_string(up.error()));
    if (up->status != 200)
      return reply_error(res, 502, "payment service answered " + std::to_string(up->status));
    std::string reference;
    json::value paid = json::parse(up->body, ec);
    if (!ec && paid.is_object())
      if (auto* r = paid.get_object().if_contains("reference"); r && r->is_string())
        reference = std::string(r->get_string());

    std::string out;
    out.reserve(160);
    out += "{\"id\":\"";
    out += id;
    out += "\",\"status\":\"waiting\",\"total\":";
    out += money(total);
    out += ",\"currency\":";
    out += json_quoted(currency);
    out += ",\"payment\":{\"status\":\"succeeded\",\"reference\":";
    out += json_quoted(reference);
    out += "}}";
    orders.put(id, out);
    res.status = 201;
    res.set_header("Location", "/api/v1/orders/" + id);
    res.set_content(std::move(out), json_type);
  });

  int port = opt.port == 0 ? server.bind_to_any_port(opt.host)
                           : (server.bind_to_port(opt.host, opt.port) ? opt.port : -1);
  if (port <= 0) {
    std::cerr << "bench-relay: cannot listen on " << opt.host << ":" << opt.port << "\n";
    return 1;
  }
  // Listening already (backlog 5): a second listen() only resizes the accept queue.
  if (opt.backlog > 0 && listen_fd != INVALID_SOCKET && ::listen(listen_fd, opt.backlog) != 0) {
    std::perror("bench-relay: listen backlog");
    return 1;
  }
  std::cout << "{\"msg\":\"listening\",\"address\":\"" << opt.host << ":" << port
            << "\",\"upstream\":\"" << upstream << "\",\"threads\":" << opt.threads
            << ",\"backlog\":" << (opt.backlog > 0 ? opt.backlog : 5) << "}" << std::endl;
  server.listen_after_bind();
  return 0;
}
