// bench-hang-collector: an OTLP/HTTP collector that never answers, for bench/run's row (f).
// POST /v1/traces is read and then held until the process ends, so the daemon's exporter
// sees every export time out. Prints {"msg":"listening","address":"HOST:PORT"}.
//
//   bench-hang-collector [--listen HOST:PORT]   (default 127.0.0.1:0)

#include <httplib.h>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  if (argc == 3 && std::string{argv[1]} == "--listen") {
    std::string a = argv[2];
    auto colon = a.rfind(':');
    if (colon == std::string::npos) {
      std::fprintf(stderr, "usage: bench-hang-collector [--listen HOST:PORT]\n");
      return 2;
    }
    host = a.substr(0, colon);
    port = std::stoi(a.substr(colon + 1));
  } else if (argc != 1) {
    std::fprintf(stderr, "usage: bench-hang-collector [--listen HOST:PORT]\n");
    return 2;
  }
  httplib::Server server;
  // Few threads: the exporter holds one connection at a time.
  server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  std::mutex mtx;
  std::condition_variable never;
  server.Post("/v1/traces", [&](const httplib::Request&, httplib::Response&) {
    std::unique_lock<std::mutex> lk(mtx);
    never.wait(lk, [] { return false; }); // held until SIGTERM ends the process
  });
  int bound = port == 0 ? server.bind_to_any_port(host)
                        : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) {
    std::fprintf(stderr, "cannot listen on %s:%d\n", host.c_str(), port);
    return 1;
  }
  std::printf("{\"msg\":\"listening\",\"address\":\"%s:%d\"}\n", host.c_str(), bound);
  std::fflush(stdout);
  std::signal(SIGTERM, [](int) { std::_Exit(0); });
  server.listen_after_bind();
  return 0;
}
