// coffeeshop-sim: the payment/notification upstream simulator as a stand-alone process
// (CONTRACT §6).

#include "coffeeshop/sim/simulator.hpp"
#include "coffeeshop/util/clock.hpp"

#include <boost/json.hpp>

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace {

namespace json = boost::json;

constexpr const char* usage_text =
  "usage: coffeeshop-sim [--listen HOST:PORT] [--profile trio|fast|down|hang|flaky]\n"
  "                      [--seed N] [--threads N] [--help]\n"
  "\n"
  "Simulates the payment and notification upstreams of coffeeshopd.\n"
  "  --listen HOST:PORT  address to serve on (default 127.0.0.1:8090; port 0 = any free port)\n"
  "  --profile NAME      initial behaviour (default trio):\n"
  "                        trio   payment ~1 s with 30% 500s, notification 4-8 s\n"
  "                        fast   no delay, no failure (benchmarks)\n"
  "                        down   every call answered 500 at once\n"
  "                        hang   calls are never answered (until the behaviour changes)\n"
  "                        flaky  payment 50% 500s, notification 30% 503s, no delay\n"
  "  --seed N            seed for failures, latencies and references (default random)\n"
  "  --threads N         HTTP worker threads (default 64)\n"
  "Control API: GET|PUT /_sim/behavior, GET|DELETE /_sim/requests, GET|DELETE /_sim/ledger.\n"
  "Logs one JSON line per event on stdout. Exits 0 on SIGTERM/SIGINT.\n";

struct arguments {
  std::string host = "127.0.0.1";
  int port = 8090;
  coffeeshop::sim::simulator_options sim;
};

struct usage_error {
  std::string message;
};

void log_line(std::string_view level, std::string_view msg, json::object fields = {}) {
  json::object line;
  line["ts"] = coffeeshop::format_rfc3339(coffeeshop::now_ms());
  line["level"] = level;
  line["msg"] = msg;
  for (auto& kv : fields)
    line[kv.key()] = std::move(kv.value());
  // Flushed at once: a supervising test reads the port from this line while we run.
  std::cout << json::serialize(line) << std::endl;
}

std::optional<long long> parse_integer(const std::string& text, long long lo, long long hi) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19)
    return std::nullopt;
  long long n = std::stoll(text);
  if (n < lo || n > hi)
    return std::nullopt;
  return n;
}

// "HOST:PORT" or "[IPv6]:PORT". The host must resolve here so that a typo is a usage error
// (exit 2) and not a bind failure (exit 1).
void parse_listen(const std::string& text, arguments& args) {
  const auto bad = [&](const std::string& why) {
    return usage_error{"--listen: invalid address \"" + text + "\": " + why};
  };
  auto colon = text.rfind(':');
  if (colon == std::string::npos)
    throw bad("expected HOST:PORT");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty())
    throw bad("missing host");
  auto port = parse_integer(text.substr(colon + 1), 0, 65535);
  if (!port)
    throw bad("port must be an integer 0..65535");

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* result = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), "0", &hints, &result); rc != 0)
    throw bad(::gai_strerror(rc));
  ::freeaddrinfo(result);

  args.host = host;
  args.port = static_cast<int>(*port);
}

arguments parse_arguments(int argc, char** argv, bool& help) {
  arguments args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    const auto value = [&]() -> std::string {
      if (inline_value)
        return *inline_value;
      if (i + 1 >= argc)
        throw usage_error{arg + ": missing value"};
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--listen") {
      parse_listen(value(), args);
    } else if (arg == "--profile") {
      std::string name = value();
      if (!coffeeshop::sim::is_valid_profile(name))
        throw usage_error{"--profile: unknown profile \"" + name +
                          "\" (expected trio, fast, down, hang, flaky or slow)"};
      args.sim.profile = name;
    } else if (arg == "--seed") {
      std::string text = value();
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos ||
          text.size() > 20)
        throw usage_error{"--seed: expected a non-negative integer, got \"" + text + "\""};
      try {
        args.sim.seed = std::stoull(text);
      } catch (const std::exception&) {
        throw usage_error{"--seed: out of range: \"" + text + "\""};
      }
    } else if (arg == "--threads") {
      std::string text = value();
      auto n = parse_integer(text, 1, 4096);
      if (!n)
        throw usage_error{"--threads: expected an integer 1..4096, got \"" + text + "\""};
      args.sim.threads = static_cast<int>(*n);
    } else {
      throw usage_error{"unknown argument \"" + arg + "\""};
    }
  }
  return args;
}

} // namespace

int main(int argc, char** argv) {
  bool help = false;
  arguments args;
  try {
    args = parse_arguments(argc, argv, help);
  } catch (const usage_error& e) {
    std::cerr << "coffeeshop-sim: " << e.message << "\n(see coffeeshop-sim --help)\n";
    return 2;
  }
  if (help) {
    std::cout << usage_text;
    return 0;
  }

  // Block the stop signals before any thread exists so every thread inherits the mask and
  // only sigwait() below receives them: no code runs in signal-handler context.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects mid-reply must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  try {
    coffeeshop::sim::simulator sim(args.sim);
    std::string error;
    auto port = sim.start(args.host, args.port, error);
    const std::string shown_host = args.host.find(':') != std::string::npos ? "[" + args.host + "]"
                                                                            : args.host;
    if (!port) {
      log_line("error", "cannot listen",
               {{"address", shown_host + ":" + std::to_string(args.port)}, {"error", error}});
      std::cerr << "coffeeshop-sim: " << error << "\n";
      return 1;
    }
    log_line("info", "listening",
             {{"address", shown_host + ":" + std::to_string(*port)},
              {"profile", args.sim.profile}});

    int signo = 0;
    while (sigwait(&stop_signals, &signo) != 0) {
    }
    log_line("info", "stopping", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"}});
    sim.stop();
    log_line("info", "stopped");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "coffeeshop-sim: " << e.what() << "\n";
    return 1;
  }
}
