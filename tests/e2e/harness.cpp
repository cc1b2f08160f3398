#include "harness.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace coffeeshop::e2e {

// COFFEESHOP_TEST_DAEMON / COFFEESHOP_TEST_SIM run the tests against other binaries (an
// older build, to see a new test fail before its fix).
const char* daemon_bin() {
  const char* other = std::getenv("COFFEESHOP_TEST_DAEMON");
  return other && *other ? other : COFFEESHOPD_BIN;
}
const char* sim_bin() {
  const char* other = std::getenv("COFFEESHOP_TEST_SIM");
  return other && *other ? other : COFFEESHOP_SIM_BIN;
}
const char* source_dir() { return COFFEESHOP_SOURCE_DIR; }

double time_scale() {
  static const double scale = [] {
    const char* text = std::getenv("COFFEESHOP_TEST_TIME_SCALE");
    if (!text || !*text)
      return 1.0;
    char* end = nullptr;
    double v = std::strtod(text, &end);
    return end && *end == '\0' && v >= 1.0 && v <= 100.0 ? v : 1.0;
  }();
  return scale;
}

std::chrono::milliseconds scaled(std::chrono::milliseconds d) {
  return std::chrono::milliseconds{
    static_cast<std::chrono::milliseconds::rep>(static_cast<double>(d.count()) * time_scale())};
}

namespace {

using clock_type = std::chrono::steady_clock;

void parse_json_lines(const std::string& text, std::vector<boost::json::object>& out,
                      bool complete_only) {
  std::string::size_type start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    if (nl == std::string::npos && complete_only)
      break;
    auto line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty() && line.front() == '{') {
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (!ec && v.is_object())
        out.push_back(std::move(v.get_object()));
    }
    if (nl == std::string::npos)
      break;
    start = nl + 1;
  }
}

/// Whether $COFFEESHOP_TEST_LEAK_CHECK asks for every daemon and simulator to be stopped
/// gracefully at the end, so that LeakSanitizer runs in it.
bool leak_check_at_end() {
  static const bool on = [] {
    const char* v = std::getenv("COFFEESHOP_TEST_LEAK_CHECK");
    return v && std::string{v} == "1";
  }();
  return on;
}

/// The start of a sanitizer report in `err`, or npos.
std::string::size_type sanitizer_report(const std::string& err) {
  for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"}) {
    auto at = err.find(marker);
    if (at != std::string::npos) {
      auto line = err.rfind('\n', at);
      return line == std::string::npos ? 0 : line + 1;
    }
  }
  return std::string::npos;
}

bool iequals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

} // namespace

// -- process ----------------------------------------------------------------------

struct process::impl {
  std::string exe;
  /// coffeeshopd or coffeeshop-sim: checked for sanitizer reports when it goes.
  bool under_test = false;
  pid_t pid = -1;
  int out_fd = -1;
  int err_fd = -1;

  mutable std::mutex mu;
  std::string out;
  std::string err;
  bool reaped = false;
  int status = 0;

  std::atomic<bool> stop_reading{false};
  std::atomic<bool> reader_done{false};
  std::thread reader;

  void read_loop() {
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int open_count = 2;
    char buf[8192];
    while (open_count > 0) {
      int n = ::poll(fds, 2, 50);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        break;
      }
      if (n == 0) {
        if (stop_reading)
          break;
        continue;
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || fds[i].revents == 0)
          continue;
        ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
        if (got > 0) {
          std::lock_guard<std::mutex> lk(mu);
          (i == 0 ? out : err).append(buf, static_cast<size_t>(got));
        } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
          fds[i].fd = -1; // EOF: poll ignores negative fds
          --open_count;
        }
      }
    }
    reader_done = true;
  }

  /// Non-blocking reap; true once reaped.
  bool try_reap() {
    {
      std::lock_guard<std::mutex> lk(mu);
      if (reaped)
        return true;
    }
    int st = 0;
    pid_t r = ::waitpid(pid, &st, WNOHANG);
    if (r == 0)
      return false;
    std::lock_guard<std::mutex> lk(mu);
    reaped = true;
    if (r == pid)
      status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
    else
      status = -1; // ECHILD: someone else reaped it
    return true;
  }

  /// After the exit, give the reader a bounded time to drain the pipes.
  void drain_output() {
    auto deadline = clock_type::now() + 2s;
    while (!reader_done && clock_type::now() < deadline)
      std::this_thread::sleep_for(5ms);
  }

  /// SIGTERM and a bounded wait, so that LeakSanitizer's check at exit runs; true once reaped.
  bool stop_gracefully() {
    ::kill(pid, SIGTERM);
    const auto deadline = clock_type::now() + 20s;
    while (!try_reap()) {
      if (clock_type::now() >= deadline)
        return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  ~impl() {
    if (pid > 0) {
      bool done;
      {
        std::lock_guard<std::mutex> lk(mu);
        done = reaped;
      }
      if (!done && under_test && leak_check_at_end())
        done = stop_gracefully();
      if (!done) {
        ::kill(pid, SIGKILL);
        int st = 0;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
      }
    }
    if (reader.joinable()) {
      drain_output();
      stop_reading = true;
      reader.join();
    }
    if (out_fd >= 0)
      ::close(out_fd);
    if (err_fd >= 0)
      ::close(err_fd);
    if (under_test) {
      std::lock_guard<std::mutex> lk(mu);
      if (auto at = sanitizer_report(err); at != std::string::npos)
        FAIL_CHECK(exe << " (pid " << pid << ") reported a sanitizer finding:\n"
                       << err.substr(at, 16000));
    }
  }
};

process::process(std::string exe, std::vector<std::string> args,
                 std::vector<std::pair<std::string, std::string>> env)
  : impl_(std::make_unique<impl>()) {
  impl_->exe = exe;
  impl_->under_test = exe == daemon_bin() || exe == sim_bin();
  // Everything the child needs is prepared before fork (only async-signal-safe calls after).
  std::vector<std::string> argv_store;
  argv_store.push_back(exe);
  for (auto& a : args)
    argv_store.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : argv_store)
    argv.push_back(a.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_store;
  for (char** e = environ; e && *e; ++e) {
    std::string entry = *e;
    auto name = entry.substr(0, entry.find('='));
    if (name == "COFFEESHOP_CONFIG")
      continue;
    bool overridden = std::any_of(env.begin(), env.end(),
                                  [&](const auto& kv) { return kv.first == name; });
    if (!overridden)
      env_store.push_back(std::move(entry));
  }
  for (const auto& [k, v] : env)
    env_store.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_store)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const std::string exec_failed = "e2e harness: cannot exec " + exe + "\n";

  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], devnull})
      if (fd >= 0)
        ::close(fd);
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127); // the parent died before prctl took effect
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (devnull >= 0)
      ::dup2(devnull, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    ::execve(argv[0], argv.data(), envp.data());
    ssize_t ignored = ::write(2, exec_failed.data(), exec_failed.size());
    (void)ignored;
    ::_exit(127);
  }
  // Parent.
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (devnull >= 0)
    ::close(devnull);
  impl_->pid = pid;
  impl_->out_fd = out_pipe[0];
  impl_->err_fd = err_pipe[0];
  auto* raw = impl_.get();
  impl_->reader = std::thread{[raw] { raw->read_loop(); }};
}

process::~process() = default;
process::process(process&&) noexcept = default;
process& process::operator=(process&&) noexcept = default;

pid_t process::pid() const { return impl_ ? impl_->pid : -1; }

std::string process::stdout_text() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->out;
}

std::string process::stderr_text() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  return impl_->err;
}

std::string process::output() const {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (impl_->err.empty())
    return impl_->out;
  return impl_->out + (impl_->out.empty() || impl_->out.back() == '\n' ? "" : "\n") +
         "--- stderr ---\n" + impl_->err;
}

std::vector<boost::json::object> process::json_lines() const {
  std::string out, err;
  {
    std::lock_guard<std::mutex> lk(impl_->mu);
    out = impl_->out;
    err = impl_->err;
  }
  std::vector<boost::json::object> lines;
  parse_json_lines(out, lines, false);
  parse_json_lines(err, lines, false);
  return lines;
}

std::vector<boost::json::object> process::log_lines(const std::string& msg) const {
  std::vector<boost::json::object> found;
  for (auto& line : json_lines())
    if (auto* m = line.if_contains("msg"); m && m->is_string() && m->get_string() == msg)
      found.push_back(std::move(line));
  return found;
}

void process::signal(int sig) {
  std::lock_guard<std::mutex> lk(impl_->mu);
  if (!impl_->reaped && impl_->pid > 0)
    ::kill(impl_->pid, sig);
}

bool process::running() { return !impl_->try_reap(); }

std::optional<int> process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + scaled(timeout);
  for (;;) {
    if (impl_->try_reap()) {
      impl_->drain_output();
      std::lock_guard<std::mutex> lk(impl_->mu);
      return impl_->status;
    }
    if (clock_type::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

int process::wait_listening(std::chrono::milliseconds timeout) {
  timeout = scaled(timeout);
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    std::vector<boost::json::object> lines;
    parse_json_lines(stdout_text(), lines, true);
    for (const auto& line : lines) {
      auto* msg = line.if_contains("msg");
      auto* addr = line.if_contains("address");
      if (!msg || !msg->is_string() || msg->get_string() != "listening" || !addr ||
          !addr->is_string())
        continue;
      std::string a(addr->get_string());
      auto colon = a.rfind(':');
      if (colon != std::string::npos) {
        int port = std::atoi(a.c_str() + colon + 1);
        if (port > 0)
          return port;
      }
    }
    if (!running()) {
      impl_->drain_output();
      throw std::runtime_error(impl_->exe + " exited (status " + std::to_string(impl_->status) +
                               ") before listening; output:\n" + output());
    }
    if (clock_type::now() >= deadline)
      throw std::runtime_error(impl_->exe + " did not log \"listening\" within " +
                               std::to_string(timeout.count()) + " ms; output:\n" + output());
    std::this_thread::sleep_for(10ms);
  }
}

// -- temp_dir ---------------------------------------------------------------------

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/coffeeshop-e2e-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data()))
    throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
  path_ = buf.data();
}

temp_dir::~temp_dir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

temp_dir::temp_dir(temp_dir&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }

temp_dir& temp_dir::operator=(temp_dir&& o) noexcept {
  if (this != &o) {
    if (!path_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path_, ec);
    }
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

std::string temp_dir::write_file(const std::string& name, const std::string& content) const {
  auto full = path_ + "/" + name;
  std::ofstream f(full, std::ios::binary | std::ios::trunc);
  f << content;
  if (!f)
    throw std::runtime_error("cannot write " + full);
  return full;
}

// -- HTTP -------------------------------------------------------------------------

std::string http_result::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name))
      return v;
  return {};
}

bool http_result::has_header(const std::string& name) const {
  return std::any_of(headers.begin(), headers.end(),
                     [&](const auto& kv) { return iequals(kv.first, name); });
}

httplib::Client make_client(int port, std::chrono::seconds timeout) {
  timeout = std::chrono::duration_cast<std::chrono::seconds>(scaled(timeout));
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(timeout);
  cli.set_read_timeout(timeout);
  cli.set_write_timeout(timeout);
  return cli;
}

http_result request(int port, const std::string& method, const std::string& path,
                    const std::string& body, httplib::Headers headers,
                    const std::string& content_type, std::chrono::seconds timeout) {
  auto cli = make_client(port, timeout);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = std::move(headers);
  req.body = body;
  bool has_body_method = method == "POST" || method == "PUT" || method == "PATCH";
  if (!content_type.empty() && (has_body_method || !body.empty()) &&
      !req.has_header("Content-Type"))
    req.headers.emplace("Content-Type", content_type);
  http_result r;
  auto res = cli.send(req);
  if (!res) {
    r.status = 0;
    r.error = httplib::to_string(res.error());
    return r;
  }
  r.status = res->status;
  r.headers = res->headers;
  r.body = res->body;
  r.json = parse_json(r.body);
  return r;
}

// -- simulator --------------------------------------------------------------------

std::string sim_process::base_url() const { return "http://127.0.0.1:" + std::to_string(port); }
std::string sim_process::payment_url() const { return base_url() + "/api/v1/payment"; }
std::string sim_process::notification_url() const { return base_url() + "/api/v1/notification"; }

std::vector<std::string> sim_process::daemon_sets() const {
  return {"services.payment.url=" + payment_url(),
          "services.notification.url=" + notification_url()};
}

boost::json::value sim_process::get_json(const std::string& path) const {
  auto r = request(port, "GET", path);
  if (r.status != 200 || r.json.is_null())
    throw std::runtime_error("simulator GET " + path + " -> " + std::to_string(r.status) + " " +
                             r.error + r.body);
  return r.json;
}

void sim_process::set_behavior(boost::json::object behavior) const {
  auto text = boost::json::serialize(behavior);
  auto r = request(port, "PUT", "/_sim/behavior", text);
  if (r.status != 200)
    throw std::runtime_error("simulator PUT /_sim/behavior " + text + " -> " +
                             std::to_string(r.status) + " " + r.error + r.body);
}

void sim_process::reset_behavior(const std::string& profile) const {
  set_behavior({{"service", "all"},
                {"profile", profile},
                {"fixedStatus", nullptr},
                {"retryAfter", nullptr},
                {"hang", false}});
}

boost::json::value sim_process::ledger() const { return get_json("/_sim/ledger"); }

boost::json::array sim_process::requests(const std::string& service) const {
  auto v = get_json(service.empty() ? "/_sim/requests" : "/_sim/requests?service=" + service);
  return v.at("requests").as_array();
}

void sim_process::clear() const {
  auto r = request(port, "DELETE", "/_sim/requests");
  if (r.status != 204 && r.status != 200)
    throw std::runtime_error("simulator DELETE /_sim/requests -> " + std::to_string(r.status));
}

sim_process start_sim(const std::string& profile, int threads) {
  std::vector<std::string> args{"--listen", "127.0.0.1:0", "--profile", profile};
  if (threads > 0) {
    args.push_back("--threads");
    args.push_back(std::to_string(threads));
  }
  process p(sim_bin(), std::move(args));
  int port = p.wait_listening(20s);
  return sim_process{std::move(p), port};
}

// -- daemon -----------------------------------------------------------------------

httplib::Client daemon_process::client() const { return make_client(port); }

std::string daemon_process::base_url() const { return "http://127.0.0.1:" + std::to_string(port); }

http_result daemon_process::request(const std::string& method, const std::string& path,
                                    const std::string& body, httplib::Headers headers,
                                    const std::string& content_type) const {
  return e2e::request(port, method, path, body, std::move(headers), content_type);
}

http_result daemon_process::get(const std::string& path, httplib::Headers headers) const {
  return request("GET", path, "", std::move(headers));
}

http_result daemon_process::post(const std::string& path, const std::string& body,
                                 httplib::Headers headers) const {
  return request("POST", path, body, std::move(headers));
}

http_result daemon_process::patch(const std::string& path, const std::string& body,
                                  httplib::Headers headers) const {
  return request("PATCH", path, body, std::move(headers));
}

http_result daemon_process::create_order(const std::string& body, httplib::Headers headers) const {
  return post("/api/v1/orders", body, std::move(headers));
}

http_result daemon_process::get_order(const std::string& id) const {
  return get("/api/v1/orders/" + id);
}

http_result daemon_process::set_status(const std::string& id, const std::string& status) const {
  return patch("/api/v1/orders/" + id + "/status",
               boost::json::serialize(boost::json::object{{"status", status}}));
}

std::optional<int> daemon_process::stop(std::chrono::milliseconds timeout) {
  proc.signal(SIGTERM);
  return proc.wait_exit(timeout);
}

daemon_process start_daemon(std::vector<std::string> sets,
                            std::vector<std::pair<std::string, std::string>> env) {
  temp_dir dir;
  std::vector<std::string> args{"--set", "http.listen=127.0.0.1:0",
                                "--set", "logging.level=info",
                                "--set", "logging.format=json",
                                "--set", "store.path=" + dir.path() + "/coffeeshop.db"};
  for (auto& s : sets) {
    args.push_back("--set");
    args.push_back(std::move(s));
  }
  process p(daemon_bin(), std::move(args), std::move(env));
  int port = p.wait_listening(20s);
  return daemon_process{std::move(dir), std::move(p), port};
}

daemon_process daemon_for(const sim_process& sim, std::vector<std::string> extra) {
  auto sets = sim.daemon_sets();
  sets.push_back("simulator.enabled=false");
  for (auto& s : extra)
    sets.push_back(std::move(s));
  return start_daemon(std::move(sets));
}

http_result post_order_held(int port, const std::string& body) {
  return request(port, "POST", "/api/v1/orders", body, {}, "application/json", 60s);
}

join_guard::~join_guard() {
  if (release) {
    try {
      release();
    } catch (...) {
    }
  }
  for (auto& t : threads)
    if (t.joinable())
      t.join();
}

boost::json::object integration(const daemon_process& d, const std::string& service) {
  auto r = d.get("/api/v1/integrations");
  INFO("integrations: " << r.status << " " << r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.json.is_object());
  REQUIRE(r.json.as_object().contains(service));
  return r.json.at(service).as_object();
}

boost::json::array events(const daemon_process& d, const std::string& query) {
  auto r = d.get("/api/v1/events?limit=2000" + (query.empty() ? "" : "&" + query));
  INFO("events: " << r.status << " " << r.body.substr(0, 2000));
  REQUIRE(r.status == 200);
  REQUIRE(r.json.is_object());
  return r.json.at("events").as_array();
}

boost::json::array events_with(const daemon_process& d, const std::string& query,
                               const std::string& type, std::size_t min) {
  boost::json::array evs;
  eventually(
    [&] {
      evs = events(d, query);
      return count_events(evs, type) >= min;
    },
    5s);
  return evs;
}

std::size_t count_events(const boost::json::array& evs, const std::string& type,
                         const std::string& actor) {
  std::size_t n = 0;
  for (const auto& e : evs)
    if (str(e, "eventType") == type && (actor.empty() || (e.as_object().contains("payload") &&
                                                          str(e.at("payload"), "actor") == actor)))
      ++n;
  return n;
}

std::string types_of(const boost::json::array& evs) {
  std::string out;
  for (const auto& e : evs)
    out += str(e, "eventType") + " ";
  return out;
}

std::pair<std::string, std::string> notification_of(const boost::json::value& recorded) {
  auto body = parse_json(str(recorded, "body"));
  return {str(body, "orderId"), str(body, "status")};
}

std::string notification_traceparent(const sim_process& sim, const std::string& order_id,
                                     const std::string& status) {
  std::string found;
  CHECK(eventually([&] {
    for (const auto& n : sim.requests("notification"))
      if (notification_of(n) == std::pair<std::string, std::string>{order_id, status})
        found = header_of(n, "traceparent");
    return !found.empty();
  }));
  return found;
}

bool notifications_settled(const boost::json::value& o, std::size_t n) {
  const auto* ns = o.is_object() ? o.as_object().if_contains("notifications") : nullptr;
  if (!ns || !ns->is_array() || ns->as_array().size() != n)
    return false;
  for (const auto& e : ns->as_array())
    if (str(e, "state") != "sent")
      return false;
  return true;
}

std::string header_of(const boost::json::value& recorded, const std::string& name) {
  const auto* headers = recorded.as_object().if_contains("headers");
  if (!headers || !headers->is_object())
    return {};
  for (const auto& kv : headers->get_object())
    if (iequals(std::string(kv.key()), name))
      return kv.value().is_string() ? std::string(kv.value().get_string()) : std::string{};
  return {};
}

// -- misc -------------------------------------------------------------------------

bool eventually(std::function<bool()> pred, std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + scaled(timeout);
  for (;;) {
    bool ok = pred();
    if (ok || clock_type::now() >= deadline)
      return ok;
    std::this_thread::sleep_for(20ms);
  }
}

std::string order_body(const std::string& product, const std::string& variation, int quantity) {
  boost::json::object item{{"product", product}, {"quantity", quantity}};
  if (!variation.empty())
    item["variation"] = variation;
  boost::json::object body{{"customerEmail", "ana@example.com"},
                           {"items", boost::json::array{item}},
                           {"paymentMethod", "credit_card"},
                           {"currency", "USD"}};
  return boost::json::serialize(body);
}

void check_problem(const http_result& r, int status, const std::string& error_type,
                   bool require_traceparent) {
  INFO("reply " << r.status << " " << r.error << ": " << r.body);
  REQUIRE(r.status == status);
  CHECK(r.header("Content-Type").rfind("application/problem+json", 0) == 0);
  REQUIRE(r.json.is_object());
  const auto& o = r.json.get_object();
  for (const char* member :
       {"type", "title", "status", "detail", "instance", "traceId", "errorType", "timestamp"}) {
    INFO("member " << member);
    CHECK(o.contains(member));
  }
  CHECK(str(r.json, "type") == "https://coffeeshop.dev/problems/" + error_type);
  CHECK(!str(r.json, "title").empty());
  CHECK(o.contains("status"));
  if (auto* s = o.if_contains("status"))
    CHECK((s->is_number() && num(*s) == status));
  CHECK(o.if_contains("detail") != nullptr);
  if (auto* d = o.if_contains("detail"))
    CHECK(d->is_string());
  CHECK(!str(r.json, "instance").empty());
  CHECK(std::regex_match(str(r.json, "traceId"), std::regex("[0-9a-f]{32}")));
  CHECK(str(r.json, "errorType") == error_type);
  CHECK(std::regex_match(str(r.json, "timestamp"),
                         std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
  auto tp = r.header("traceparent");
  if (require_traceparent)
    CHECK(!trace_id_of(tp).empty());
  if (!trace_id_of(tp).empty())
    CHECK(trace_id_of(tp) == str(r.json, "traceId"));
  if (error_type == "circuit_open" || error_type == "overloaded")
    CHECK(r.has_header("Retry-After"));
}

boost::json::value parse_json(const std::string& text) {
  if (text.empty())
    return nullptr;
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec)
    return nullptr;
  return v;
}

std::string str(const boost::json::value& v, const std::string& key) {
  if (!v.is_object())
    return {};
  auto* m = v.get_object().if_contains(key);
  if (!m || !m->is_string())
    return {};
  return std::string(m->get_string());
}

double num(const boost::json::value& v) {
  if (v.is_int64())
    return static_cast<double>(v.get_int64());
  if (v.is_uint64())
    return static_cast<double>(v.get_uint64());
  if (v.is_double())
    return v.get_double();
  throw std::runtime_error("not a JSON number: " + boost::json::serialize(v));
}

std::string trace_id_of(const std::string& traceparent) {
  static const std::regex re("[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}");
  std::smatch m;
  if (!std::regex_match(traceparent, m, re))
    return {};
  return m[1].str();
}

std::string span_id_of(const std::string& traceparent) {
  static const std::regex re("[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}");
  std::smatch m;
  if (!std::regex_match(traceparent, m, re))
    return {};
  return m[2].str();
}

} // namespace coffeeshop::e2e
