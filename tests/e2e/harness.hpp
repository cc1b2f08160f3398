#pragma once
// End-to-end test harness: runs coffeeshopd and coffeeshop-sim as child processes on
// loopback ports and talks to them over HTTP. Every wait is bounded; nothing sleeps to
// wait for the code under test (poll with eventually()).

#include <boost/json.hpp>
#include <httplib.h>

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace coffeeshop::e2e {

using namespace std::chrono_literals;

/// How many times slower than a release build the binaries under test may be:
/// $COFFEESHOP_TEST_TIME_SCALE (a number >= 1; the asan test preset sets it), else 1. The
/// harness's waits (eventually, wait_listening, wait_exit, request, raw_conn's reads) are
/// multiplied by it, and so are the latency bounds a test asserts (wrap them in scaled());
/// what a test configures in the daemon (timeouts, delays, budgets) is not.
double time_scale();
std::chrono::milliseconds scaled(std::chrono::milliseconds d);

/// Paths of the binaries under test (compile definitions of the e2e_tests target).
const char* daemon_bin();
const char* sim_bin();
/// The project's source directory (for config/*.json).
const char* source_dir();

/// A child process (fork/exec). stdout and stderr are captured through pipes by a reader
/// thread. The child gets PR_SET_PDEATHSIG(SIGKILL), stdin from /dev/null, the parent's
/// environment minus COFFEESHOP_CONFIG, plus `env` (which may set COFFEESHOP_CONFIG again).
/// Killed (SIGKILL) and reaped in the destructor if still running. Movable, not copyable.
///
/// Sanitizers: a coffeeshopd or coffeeshop-sim process fails the running test (FAIL_CHECK in
/// the destructor) when its stderr holds an AddressSanitizer, LeakSanitizer or UBSan report.
/// With $COFFEESHOP_TEST_LEAK_CHECK=1 (the asan test preset) the destructor first stops such
/// a process with SIGTERM and waits for it (up to 20 s, then SIGKILL), so that LeakSanitizer
/// checks every daemon a test started, not only those the test stopped itself.
/// Throws std::runtime_error if the process cannot be started (e.g. exec fails: the
/// child then exits 127 with a message on stderr).
class process {
public:
  process(std::string exe, std::vector<std::string> args,
          std::vector<std::pair<std::string, std::string>> env = {});
  ~process();
  process(process&&) noexcept;
  process& operator=(process&&) noexcept;
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  /// Waits (polling the captured stdout until the deadline) for a JSON line with
  /// "msg":"listening" and returns the port of its "address" ("HOST:PORT"). Throws
  /// std::runtime_error with the output so far on timeout or if the process exits first.
  int wait_listening(std::chrono::milliseconds timeout = 10s);

  /// Captured stdout followed by captured stderr so far (thread-safe copy).
  std::string output() const;
  std::string stdout_text() const;
  std::string stderr_text() const;

  /// Lines of stdout, then of stderr, parsed as JSON objects (other lines skipped).
  std::vector<boost::json::object> json_lines() const;

  /// JSON lines whose "msg" equals `msg`.
  std::vector<boost::json::object> log_lines(const std::string& msg) const;

  /// Sends `sig` unless the process has been reaped already.
  void signal(int sig);

  /// Waits for exit and reaps the process; returns the exit status (128 + signal number
  /// when killed by a signal), or nullopt on timeout. Once it returned a status it keeps
  /// returning it. After an exit, the output is complete (pipes drained, bounded wait).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

  /// True while the process has not been reaped and has not exited.
  bool running();

  pid_t pid() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// A temporary directory, removed recursively in the destructor.
class temp_dir {
public:
  temp_dir();
  ~temp_dir();
  temp_dir(temp_dir&&) noexcept;
  temp_dir& operator=(temp_dir&&) noexcept;
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  /// Writes `content` to path()/name and returns the full path.
  std::string write_file(const std::string& name, const std::string& content) const;

private:
  std::string path_;
};

/// Small HTTP helper result: status (0 when the request failed at the transport level,
/// `error` then says why), headers, body and the body parsed as JSON (null if not JSON).
struct http_result {
  int status = 0;
  httplib::Headers headers;
  std::string body;
  boost::json::value json;
  std::string error;
  /// Header value, case-insensitive name; "" when absent.
  std::string header(const std::string& name) const;
  bool has_header(const std::string& name) const;
};

/// One HTTP request to 127.0.0.1:port (new connection, `timeout` for connect/read/write).
/// `path` may carry a query string. Content-Type is sent when `content_type` is non-empty
/// and the method is POST/PUT/PATCH or the body is non-empty.
http_result request(int port, const std::string& method, const std::string& path,
                    const std::string& body = "", httplib::Headers headers = {},
                    const std::string& content_type = "application/json",
                    std::chrono::seconds timeout = 30s);

/// An httplib client for 127.0.0.1:port with `timeout` connect/read/write timeouts.
httplib::Client make_client(int port, std::chrono::seconds timeout = 30s);

/// A running simulator (`coffeeshop-sim --listen 127.0.0.1:0 --profile P`).
struct sim_process {
  process proc;
  int port = 0;

  std::string base_url() const;
  std::string payment_url() const;      // base_url() + "/api/v1/payment"
  std::string notification_url() const; // base_url() + "/api/v1/notification"
  /// The two --set overrides that point the daemon's services at this simulator.
  std::vector<std::string> daemon_sets() const;

  /// GET path, throws std::runtime_error unless 200 with JSON.
  boost::json::value get_json(const std::string& path) const;
  /// PUT /_sim/behavior (members: service, profile, failureRate, latencyMs, fixedStatus,
  /// retryAfter, hang, failStatus). Throws unless 200.
  void set_behavior(boost::json::object behavior) const;
  /// Back to the given profile for both services, with no fixed status / Retry-After.
  void reset_behavior(const std::string& profile = "fast") const;
  /// GET /_sim/ledger:
  /// {"charges","payments":[{"idempotencyKey","amount","reference","count"}],"duplicates"}.
  boost::json::value ledger() const;
  /// GET /_sim/requests[?service=S]:
  /// [{"seq","method","path","query","headers":{},"body","service","receivedAt"}].
  boost::json::array requests(const std::string& service = "") const;
  /// DELETE /_sim/requests (clears the request log and the ledger).
  void clear() const;
};
/// Starts a simulator; `threads` > 0 adds `--threads N` (HTTP workers: held calls occupy one
/// each, the control API needs free ones while many calls are held).
sim_process start_sim(const std::string& profile = "fast", int threads = 0);

/// A running daemon on a loopback port. The store lives in its own temporary directory.
struct daemon_process {
  temp_dir dir;
  process proc;
  int port = 0;

  httplib::Client client() const;
  std::string base_url() const;
  http_result request(const std::string& method, const std::string& path,
                      const std::string& body = "", httplib::Headers headers = {},
                      const std::string& content_type = "application/json") const;
  http_result get(const std::string& path, httplib::Headers headers = {}) const;
  http_result post(const std::string& path, const std::string& body,
                   httplib::Headers headers = {}) const;
  http_result patch(const std::string& path, const std::string& body,
                    httplib::Headers headers = {}) const;
  /// POST /api/v1/orders with `body`.
  http_result create_order(const std::string& body, httplib::Headers headers = {}) const;
  /// GET /api/v1/orders/{id}.
  http_result get_order(const std::string& id) const;
  /// PATCH /api/v1/orders/{id}/status {"status": status}.
  http_result set_status(const std::string& id, const std::string& status) const;
  /// SIGTERM, then waits for exit; returns the status or nullopt on timeout.
  std::optional<int> stop(std::chrono::milliseconds timeout = 20s);
};

/// Starts coffeeshopd with: --set http.listen=127.0.0.1:0, logging.level=info,
/// logging.format=json, store.path=<temp dir>/coffeeshop.db, then `sets` (each "KEY=VALUE",
/// later ones win, so a caller may override any of the above). Waits for "listening".
daemon_process start_daemon(std::vector<std::string> sets,
                            std::vector<std::pair<std::string, std::string>> env = {});

/// A daemon whose services point at `sim` (built-in simulator off: sim.daemon_sets() plus
/// simulator.enabled=false), then `extra` sets.
daemon_process daemon_for(const sim_process& sim, std::vector<std::string> extra = {});

/// Polls `pred` every 20 ms until true or the deadline passes; returns pred's last value.
bool eventually(std::function<bool()> pred, std::chrono::milliseconds timeout = 10s);

/// A valid order body (customer ana@example.com). An empty variation is left out.
std::string order_body(const std::string& product = "Latte",
                       const std::string& variation = "Vanilla", int quantity = 2);

/// POST /api/v1/orders on its own connection with 60 s timeouts (for requests held upstream).
http_result post_order_held(int port, const std::string& body = order_body());

/// Joins every joinable thread of `threads` when it goes out of scope, after calling
/// `release` (when set; exceptions swallowed), e.g. to let calls held upstream finish even
/// when a check failed.
struct join_guard {
  std::vector<std::thread>& threads;
  std::function<void()> release = {};
  ~join_guard();
};

/// GET /api/v1/integrations -> the member for `service` (REQUIREs 200 with that member).
boost::json::object integration(const daemon_process& d, const std::string& service = "payment");

/// GET /api/v1/events?limit=2000[&query] -> the "events" array (REQUIREs 200 with events).
boost::json::array events(const daemon_process& d, const std::string& query = "");
/// Events matching `query` once at least `min` of `type` are among them (polled up to 5 s):
/// events reach the journal through the event-logger actor, a moment after the HTTP reply.
boost::json::array events_with(const daemon_process& d, const std::string& query,
                               const std::string& type, std::size_t min = 1);
/// Events of `type` whose payload.actor is `actor` ("" = any).
std::size_t count_events(const boost::json::array& evs, const std::string& type,
                         const std::string& actor = "");
/// A summary of event types in order (for INFO on failure).
std::string types_of(const boost::json::array& evs);

/// A header of a request recorded by the simulator (/_sim/requests), name
/// case-insensitive; "" when absent.
std::string header_of(const boost::json::value& recorded, const std::string& name);

/// The (orderId, status) of a notification the simulator recorded (/_sim/requests).
std::pair<std::string, std::string> notification_of(const boost::json::value& recorded);

/// The traceparent of the notification of (order_id, status) that `sim` recorded, once it
/// has (polled like eventually()); "" (and a failed CHECK) when none came.
std::string notification_traceparent(const sim_process& sim, const std::string& order_id,
                                     const std::string& status);

/// Whether order JSON `o` lists exactly `n` notifications, all sent.
bool notifications_settled(const boost::json::value& o, std::size_t n);

/// Checks the problem+json shape (all members of CONTRACT §3, content type, errorType,
/// type URI, traceparent header unless `require_traceparent` is false, Retry-After for
/// circuit_open/overloaded) via Catch.
void check_problem(const http_result& r, int status, const std::string& error_type,
                   bool require_traceparent = true);

// -- small JSON helpers -----------------------------------------------------------

/// Parses `text` as JSON; null on error.
boost::json::value parse_json(const std::string& text);
/// obj[key] as a string; "" if absent or not a string.
std::string str(const boost::json::value& v, const std::string& key);
/// A JSON number as double (int64/uint64/double); throws if not a number.
double num(const boost::json::value& v);
/// The trace id (32 hex) of a traceparent header, "" if malformed.
std::string trace_id_of(const std::string& traceparent);
/// The span id (16 hex) of a traceparent header, "" if malformed.
std::string span_id_of(const std::string& traceparent);

} // namespace coffeeshop::e2e
