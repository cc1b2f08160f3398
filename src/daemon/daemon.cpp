#include "daemon.hpp"

#include "actor_runtime.hpp"
#include "config_reloader.hpp"
#include "http_api.hpp"

#include "coffeeshop/net/http_trace_transport.hpp"
#include "coffeeshop/sim/simulator.hpp"
#include "coffeeshop/store/postgres_store.hpp"
#include "coffeeshop/store/sqlite_store.hpp"
#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/leak_check.hpp"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <pthread.h>
#include <random>
#include <thread>
#include <unistd.h>

namespace coffeeshop {

namespace {

/// The URL every call of a service goes to (CONTRACT §4).
std::string service_url(const config& cfg, const service_settings& svc, const char* sim_path,
                        const std::string& sim_base) {
  if (cfg.dapr.enabled) {
    auto base = cfg.dapr.http_endpoint;
    while (!base.empty() && base.back() == '/')
      base.pop_back();
    return base + "/v1.0/invoke/" + svc.dapr_app_id + "/method/" + svc.dapr_method;
  }
  if (svc.url)
    return *svc.url;
  return sim_base + sim_path;
}

/// Signals whose default action would end the daemon without a word; they are logged and
/// ignored instead (CONTRACT §1).
constexpr int ignored_signals[] = {SIGUSR1, SIGUSR2, SIGALRM, SIGIO, SIGPWR};

/// Blocks the signals the daemon handles (stop, reload, the ignored ones) in every thread
/// (call before any thread starts) so that only the dedicated waiter receives them.
sigset_t block_handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    sigaddset(&set, sig);
  for (int sig : ignored_signals)
    sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

std::string signal_name(int sig) {
  switch (sig) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGALRM: return "SIGALRM";
    case SIGIO: return "SIGIO";
    case SIGPWR: return "SIGPWR";
  }
  return std::to_string(sig);
}

/// `instance.id`, or `<hostname>-<pid>` (CONTRACT §2).
std::string instance_id(const config& cfg) {
  if (cfg.instance.id)
    return *cfg.instance.id;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + "-" + std::to_string(getpid());
}

shared_services make_services(const config& cfg) {
  shared_services s;
  // Named in logs and events when it matters: several daemons on one store,
  // or an operator who gave this one a name.
  if (cfg.store.backend == store_backend::postgres || cfg.instance.id)
    s.instance_id = instance_id(cfg);
  auto level = parse_log_level(cfg.logging.level).value_or(log_level::info);
  s.log = std::make_shared<logger>(level, cfg.logging.format, s.instance_id);
  s.stats = std::make_shared<metrics>();
  s.board = std::make_shared<integration_board>(cfg.payment.circuit_breaker,
                                                cfg.notification.circuit_breaker);
  s.journal = std::make_shared<event_journal>();
  s.live = std::make_shared<live_settings>(cfg);
  return s;
}

/// The OTLP exporter when telemetry.otlp_endpoint is set (its thread started), and the
/// spans' sink pointed at it; none otherwise.
std::shared_ptr<otlp_exporter> start_trace_export(const config& cfg, shared_services& s) {
  if (!cfg.telemetry.otlp_endpoint)
    return nullptr;
  auto base = *cfg.telemetry.otlp_endpoint;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  exporter_settings es;
  es.url = base + "/v1/traces";
  es.max_queue_spans = static_cast<std::size_t>(cfg.telemetry.max_queue_spans);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  trace_resource res{cfg.telemetry.service_name, COFFEESHOP_VERSION_STRING,
                     std::string{host} + "-" + std::to_string(getpid())};
  auto stats = s.stats;
  // Present at 0 from the start, so a rate() over it works before the first drop.
  stats->telemetry_spans_dropped.add({}, 0);
  auto exporter = std::make_shared<otlp_exporter>(
    std::move(es), std::move(res), net::make_http_trace_transport(),
    [stats](uint64_t n) { stats->telemetry_spans_dropped.add({}, static_cast<double>(n)); });
  exporter->start();
  s.spans = exporter;
  s.log->info("trace export",
              {{"url", base + "/v1/traces"}, {"maxQueueSpans", cfg.telemetry.max_queue_spans}});
  return exporter;
}

/// Puts each breaker as the store last saw it on the board, which is what the
/// integration actors start from: an open breaker stays open for the rest of
/// its break across a restart.
void restore_breakers(const config& cfg, shared_services& s) {
  auto now = std::chrono::steady_clock::now();
  auto epoch = now_ms();
  for (auto [kind, settings] :
       {std::pair{service_kind::payment, &cfg.payment.circuit_breaker},
        std::pair{service_kind::notification, &cfg.notification.circuit_breaker}}) {
    auto snap = s.store->breaker(kind);
    if (!snap)
      continue;
    auto breaker = circuit_breaker::restore(*settings, *snap, now, epoch);
    auto state = breaker.state(now);
    s.board->report_breaker(kind, breaker,
                            state == circuit_state::closed ? std::nullopt : snap->opened_at_ms);
    if (state != circuit_state::closed)
      s.log->warn("breaker restored", {{"service", to_string(kind)},
                                       {"state", std::string{to_string(state)}},
                                       {"isolated", breaker.isolated()}});
  }
}

/// How often heartbeats and lease renewals go out: three per lease, so that one late or lost
/// round neither drops a live daemon from /api/v1/instances nor loses its work.
int64_t renewal_interval_ms(const config& cfg) {
  return std::max<int64_t>(cfg.instance.lease_ms / 3, 100);
}

bool open_postgres(const config& cfg, shared_services& s, std::shared_ptr<write_queue>& writer) {
  postgres_options options;
  options.url = cfg.store.url.value_or("");
  options.pool_size = cfg.store.pool_size;
  options.instance_id = s.instance_id;
  options.lease_ms = cfg.instance.lease_ms;
  const std::string shown = redact_db_url(options.url);
  std::string error;
  auto store = open_postgres_store(options, error);
  if (store)
    s.instances = open_postgres_instances(options, error);
  if (store && s.instances)
    s.leases = open_postgres_leases(options, error);
  if (!store || !s.instances || !s.leases) {
    s.log->log(log_level::fatal, "cannot open the store",
               {{"backend", "postgres"}, {"url", shown}, {"error", error}});
    return false;
  }
  s.store = std::move(store);
  s.store_shared = true;
  s.claimer = std::make_shared<work_claimer>(s.leases, renewal_interval_ms(cfg));
  writer = make_group_commit_writer(*s.store, s.stats, s.store_state);
  s.log->info("store opened", {{"backend", "postgres"}, {"url", shown}});
  return true;
}

/// Opens the configured store and its writer; false (logged) when it cannot.
bool open_store(const config& cfg, shared_services& s, std::shared_ptr<write_queue>& writer) {
  if (cfg.store.backend == store_backend::postgres)
    return open_postgres(cfg, s, writer);
  s.instances = make_local_instance_registry();
  if (cfg.store.backend == store_backend::memory) {
    s.log->warn("store.backend is memory: orders do not survive a restart", {});
    s.store = make_memory_order_store();
    writer = make_inline_writer(*s.store, s.stats, s.store_state);
    return true;
  }
  sqlite_options options;
  options.path = cfg.store_path;
  options.synchronous_full = cfg.store.synchronous == store_sync::full;
  std::string error;
  auto store = open_sqlite_store(options, error);
  if (!store) {
    s.log->log(log_level::fatal, "cannot open the store",
               {{"backend", "sqlite"}, {"path", cfg.store_path}, {"error", error}});
    return false;
  }
  s.store = std::move(store);
  writer = make_group_commit_writer(*s.store, s.stats, s.store_state);
  s.log->info("store opened", {{"backend", "sqlite"}, {"path", cfg.store_path}});
  return true;
}

std::optional<menu> load_menu(const config& cfg, logger& log) {
  if (cfg.menu == "built-in")
    return menu::built_in();
  std::string error;
  auto loaded = menu::load_file(cfg.menu, error);
  if (!loaded)
    log.log(log_level::fatal, "cannot load menu", {{"path", cfg.menu}, {"error", error}});
  return loaded;
}

/// 32 hex digits from std::random_device, never logged.
std::string secret_token() {
  std::random_device rd;
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i)
    for (uint32_t v = rd(), k = 0; k < 8; ++k, v >>= 4)
      out += hex[v & 0xF];
  return out;
}

/// The built-in simulator on a free loopback port, when enabled. False when
/// it is enabled but cannot start.
bool start_simulator(const config& cfg, logger& log, std::unique_ptr<sim::simulator>& out,
                     std::string& base) {
  if (!cfg.simulator.enabled)
    return true;
  sim::simulator_options so;
  so.profile = cfg.simulator.profile;
  // Anyone on the machine can reach a loopback port: the control routes (which show the
  // requests and could make every payment fail) need a token only this process holds, and
  // the request log keeps customer e-mails masked.
  so.control_token = secret_token();
  so.mask_emails = true;
  out = std::make_unique<sim::simulator>(so);
  std::string error;
  auto port = out->start("127.0.0.1", 0, error);
  if (!port) {
    log.log(log_level::fatal, "cannot start the built-in simulator", {{"error", error}});
    return false;
  }
  base = "http://127.0.0.1:" + std::to_string(*port);
  return true;
}

void announce_providers(const config& cfg, logger& log, const std::string& payment_url,
                        const std::string& notification_url) {
  for (auto [name, svc, url] : {std::tuple{"payment", &cfg.payment, payment_url},
                                std::tuple{"notification", &cfg.notification, notification_url}}) {
    std::string provider = cfg.dapr.enabled ? "dapr" : svc->url ? "remote" : "simulator";
    boost::json::object fields{{"service", name},
                               {"provider", provider},
                               {"url", url},
                               {"format", svc->format == wire_format::trio ? "trio" : "seed"}};
    if (provider == "simulator")
      fields["profile"] = cfg.simulator.profile;
    log.info("integration provider", fields);
  }
}

/// A dedicated thread receives every handled signal: SIGHUP reloads the config; the first
/// SIGTERM or SIGINT becomes a stop request and a second one exits at once; the others
/// are logged and ignored.
void wait_for_signals(sigset_t signals, actor_runtime& rt, logger& log, config_reloader& reloader,
                      std::atomic<int>& received) {
  std::thread{[signals, &rt, &log, &reloader, &received]() mutable {
    for (;;) {
      int sig = 0;
      if (sigwait(&signals, &sig) != 0)
        continue;
      if (sig == SIGHUP) {
        if (received == 0)
          reloader.reload();
        else
          log.warn("SIGHUP while stopping: not reloaded");
        continue;
      }
      if (sig != SIGTERM && sig != SIGINT) {
        log.warn("signal ignored", {{"signal", signal_name(sig)}});
        continue;
      }
      if (received == 0) {
        received = sig;
        rt.request_stop();
        continue;
      }
      log.error("second signal: exiting at once", {{"signal", signal_name(sig)}});
      log.flush();
      std::_Exit(1);
    }
  }}.detach();
}

/// What the actors get past the drain deadline to stop (their own stop is quick; what
/// takes longer is a request still hanging, which the drain already gave up).
constexpr millis shutdown_grace{300};

/// Stops accepting and lets requests in flight finish until `deadline` (the drain
/// timeout); past it they are abandoned, so the stopping thread is not joined.
void drain(std::shared_ptr<http_api> api, const config& cfg, logger& log,
           std::chrono::steady_clock::time_point deadline) {
  std::promise<void> stopped;
  auto drained = stopped.get_future();
  std::thread{[api = std::move(api), p = std::move(stopped)]() mutable {
    api->stop();
    p.set_value();
  }}.detach();
  if (drained.wait_until(deadline) != std::future_status::ready)
    log.warn("drain timeout: requests still in flight are abandoned",
             {{"drainTimeoutMs", cfg.drain_timeout_ms}});
  else
    log.info("drained");
}

} // namespace

int run_daemon(const config& cfg, config_source reload_source) {
  auto signals = block_handled_signals();
  auto services = make_services(cfg);
  auto& log = *services.log;
  std::shared_ptr<write_queue> writer;
  if (!open_store(cfg, services, writer))
    return 1;
  restore_breakers(cfg, services);
  auto exporter = start_trace_export(cfg, services);
  auto catalogue = load_menu(cfg, log);
  if (!catalogue)
    return 1;
  std::unique_ptr<sim::simulator> simulator;
  std::string sim_base;
  if (!start_simulator(cfg, log, simulator, sim_base))
    return 1;
  auto payment_url = service_url(cfg, cfg.payment, "/api/v1/payment", sim_base);
  auto notification_url = service_url(cfg, cfg.notification, "/api/v1/notification", sim_base);
  announce_providers(cfg, log, payment_url, notification_url);

  actor_runtime rt{cfg, services, writer, payment_url, notification_url};
  auto life = std::make_shared<lifecycle>();
  auto api = std::make_shared<http_api>(cfg, std::move(*catalogue), services, rt.gateway(), life);
  std::string bind_error;
  int port = api->bind(bind_error);
  if (port < 0) {
    log.log(log_level::fatal, "cannot listen", {{"error", bind_error}});
    return 1;
  }
  rt.start(api);
  life->ready = true;
  const std::string address = cfg.http.listen_host + ":" + std::to_string(port);
  log.announce("listening", {{"address", address}, {"version", COFFEESHOP_VERSION_STRING}});
  instance_info self{instance_id(cfg), address, COFFEESHOP_VERSION_STRING, now_ms(), 0};
  heartbeat_loop beat(services.instances, self, renewal_interval_ms(cfg));

  std::atomic<int> signal_received{0};
  config_reloader reloader{cfg, std::move(reload_source), services.log, services.live};
  wait_for_signals(signals, rt, log, reloader, signal_received);
  auto ended = rt.wait();
  int exit_code = 0;
  if (ended.root_failed) {
    log.log(log_level::fatal, "root supervisor gave up", {{"reason", ended.reason}});
    exit_code = 1;
  } else {
    log.announce("shutting down", {{"signal", signal_name(signal_received)},
                                   {"drainTimeoutMs", cfg.drain_timeout_ms}});
    life->draining = true;
    // One deadline for the whole shutdown: the drain and the actors share
    // drain_timeout_ms (the ingress actor would otherwise wait for the same hanging
    // requests again, for as long once more), plus a short grace for the actors.
    const auto deadline = std::chrono::steady_clock::now() + millis{cfg.drain_timeout_ms};
    drain(api, cfg, log, deadline);
    // Children stop one by one in reverse start order: ingress, coordinator, logger.
    const auto left = std::chrono::duration_cast<millis>(deadline -
                                                         std::chrono::steady_clock::now());
    if (!rt.stop(std::max(left, millis{0}) + shutdown_grace))
      log.warn("actors did not stop in time");
  }
  beat.stop();
  if (services.claimer) {
    services.claimer->stop();
    // Stopped cleanly: what is left unfinished goes to the others at once.
    services.leases->give_up_all();
  }
  writer->stop();
  if (exporter)
    exporter->stop(); // after the actors: their last spans go too
  if (simulator)
    simulator->stop();
  log.announce("stopped", {{"exitCode", exit_code}});
  log.flush();
  // Transport workers may sit in a blocking read for up to timeout_ms; the
  // store and logs are flushed, so leave without waiting for them. _Exit skips
  // LeakSanitizer's atexit check: under ASan it runs here (a leak ends the
  // process non-zero, with a report naming the allocation).
  leak_check_before_exit();
  std::_Exit(exit_code);
}

} // namespace coffeeshop
