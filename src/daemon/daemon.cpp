#include "daemon.hpp"

#include "event_logger.hpp"
#include "http_api.hpp"
#include "http_ingress.hpp"
#include "http_transport.hpp"
#include "order_coordinator.hpp"
#include "supervisor.hpp"

#include "coffeeshop/sim/simulator.hpp"
#include "coffeeshop/util/clock.hpp"

#include <caf/all.hpp>

#include <csignal>
#include <cstdlib>
#include <future>
#include <pthread.h>
#include <random>
#include <thread>

namespace coffeeshop {

namespace {

using signal_atom = caf::atom_constant<caf::atom("signal")>;

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

struct root_spec {
  runtime_deps deps;
  config cfg;
  std::string payment_url;
  std::string notification_url;
  std::shared_ptr<http_api> api;
};

/// The root of the actor tree: event_logger, order_coordinator, http_ingress.
caf::behavior root_supervisor(caf::event_based_actor* self, root_spec spec) {
  auto sup = std::make_shared<supervisor_core>(self, "root", spec.cfg.supervision, spec.deps);
  auto deps = spec.deps;
  sup->add(child_spec{"event-logger", restart_type::permanent,
                      [deps](caf::local_actor* parent) { return parent->spawn(event_logger, deps); },
                      [deps](const caf::actor& child, bool) { deps.events->bind(child); }});
  sup->add(child_spec{
    "order_coordinator", restart_type::permanent,
    [spec](caf::local_actor* parent) {
      coordinator_spec cs;
      cs.deps = spec.deps;
      cs.supervision = spec.cfg.supervision;
      auto make = [&spec](service_kind kind, const service_settings& svc, const std::string& url) {
        return [kind, svc, url, deps = spec.deps](caf::local_actor* p) {
          integration_spec is;
          is.kind = kind;
          is.settings = svc;
          is.url = url;
          is.deps = deps;
          is.jitter_seed = std::random_device{}();
          is.transport = spawn_http_transport(p->system(), static_cast<size_t>(svc.max_connections));
          auto child = spawn_integration(p, std::move(is));
          // The transport lives as long as the actor that uses it.
          child->attach_functor([t = is.transport](const caf::error&) {
            caf::anon_send_exit(t, caf::exit_reason::user_shutdown);
          });
          return child;
        };
      };
      cs.start_payment = make(service_kind::payment, spec.cfg.payment, spec.payment_url);
      cs.start_notification =
        make(service_kind::notification, spec.cfg.notification, spec.notification_url);
      return spawn_order_coordinator(parent, std::move(cs));
    },
    [self](const caf::actor& child, bool) {
      self->system().registry().put(caf::atom("coord"), caf::actor_cast<caf::strong_actor_ptr>(child));
    }});
  sup->add(child_spec{"http_ingress", restart_type::permanent,
                      [api = spec.api](caf::local_actor* parent) {
                        return spawn_http_ingress(parent, api);
                      },
                      {}});
  self->set_down_handler([sup](caf::down_msg& dm) { sup->handle_down(dm); });
  self->attach_functor([sup](const caf::error&) { sup->stop_all(); });
  return {
    [sup](restart_atom, uint64_t generation) { sup->handle_restart_timer(generation); },
    [sup](shutdown_atom, uint64_t step) { sup->handle_shutdown_timer(step); },
    [self, sup, timeout = millis{spec.cfg.drain_timeout_ms}](stop_atom) {
      sup->shutdown(timeout, [self] { self->quit(); });
    },
  };
}

/// Blocks SIGTERM/SIGINT in every thread (call before any thread starts) so
/// that only the dedicated waiter receives them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

} // namespace

int run_daemon(const config& cfg) {
  auto signals = block_shutdown_signals();
  auto level = parse_log_level(cfg.logging.level).value_or(log_level::info);
  runtime_deps deps;
  deps.log = std::make_shared<logger>(level, cfg.logging.format);
  deps.stats = std::make_shared<metrics>();
  deps.board = std::make_shared<integration_board>(cfg.payment.circuit_breaker,
                                                   cfg.notification.circuit_breaker);
  deps.journal = std::make_shared<event_journal>();
  deps.events = std::make_shared<event_sink>();
  deps.store = make_memory_order_store();
  auto& log = *deps.log;

  menu catalogue = menu::built_in();
  if (cfg.menu != "built-in") {
    std::string error;
    auto loaded = menu::load_file(cfg.menu, error);
    if (!loaded) {
      log.log(log_level::fatal, "cannot load menu", {{"path", cfg.menu}, {"error", error}});
      return 1;
    }
    catalogue = std::move(*loaded);
  }

  std::unique_ptr<sim::simulator> simulator;
  std::string sim_base;
  if (cfg.simulator.enabled) {
    sim::simulator_options so;
    so.profile = cfg.simulator.profile;
    simulator = std::make_unique<sim::simulator>(so);
    std::string error;
    auto port = simulator->start("127.0.0.1", 0, error);
    if (!port) {
      log.log(log_level::fatal, "cannot start the built-in simulator", {{"error", error}});
      return 1;
    }
    sim_base = "http://127.0.0.1:" + std::to_string(*port);
  }
  auto payment_url = service_url(cfg, cfg.payment, "/api/v1/payment", sim_base);
  auto notification_url = service_url(cfg, cfg.notification, "/api/v1/notification", sim_base);
  for (auto [name, svc, url] : {std::tuple{"payment", &cfg.payment, payment_url},
                                std::tuple{"notification", &cfg.notification, notification_url}}) {
    std::string provider = cfg.dapr.enabled ? "dapr" : svc->url ? "remote" : "simulator";
    boost::json::object fields{{"service", name}, {"provider", provider}, {"url", url},
                               {"format", svc->format == wire_format::trio ? "trio" : "seed"}};
    if (provider == "simulator")
      fields["profile"] = cfg.simulator.profile;
    log.info("integration provider", fields);
  }

  caf::actor_system_config sys_cfg;
  sys_cfg.set("scheduler.max-threads", std::max(2u, std::thread::hardware_concurrency()));
  caf::actor_system sys{sys_cfg};

  auto life = std::make_shared<lifecycle>();
  auto api = std::make_shared<http_api>(sys, cfg, catalogue, deps, life);
  std::string bind_error;
  int port = api->bind(bind_error);
  if (port < 0) {
    log.log(log_level::fatal, "cannot listen", {{"error", bind_error}});
    return 1;
  }

  caf::scoped_actor main_self{sys};
  root_spec rs{deps, cfg, payment_url, notification_url, api};
  auto root = sys.spawn(root_supervisor, rs);
  main_self->monitor(root);
  life->ready = true;
  log.announce("listening", {{"address", cfg.http.listen_host + ":" + std::to_string(port)},
                         {"version", COFFEESHOP_VERSION_STRING}});

  // A dedicated thread turns signals into messages; a second signal exits at once.
  auto main_handle = caf::actor{main_self.ptr()};
  std::thread signal_waiter{[signals, main_handle, &log]() mutable {
    int sig = 0;
    sigwait(&signals, &sig);
    caf::anon_send(main_handle, signal_atom::value, sig);
    sigwait(&signals, &sig);
    log.error("second signal: exiting at once", {{"signal", sig}});
    log.flush();
    std::_Exit(1);
  }};
  signal_waiter.detach();

  int exit_code = 0;
  bool done = false;
  while (!done) {
    main_self->receive(
      [&](signal_atom, int sig) {
        log.announce("shutting down", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                                   {"drainTimeoutMs", cfg.drain_timeout_ms}});
        life->draining = true;
        // Stopping waits for the requests in flight; past the drain timeout we
        // leave without them, so the stopping thread must not be joined.
        std::promise<void> stopped;
        auto drained = stopped.get_future();
        std::thread{[api, p = std::move(stopped)]() mutable {
          api->stop();
          p.set_value();
        }}.detach();
        if (drained.wait_for(millis{cfg.drain_timeout_ms}) != std::future_status::ready)
          log.warn("drain timeout: requests still in flight are abandoned",
                   {{"drainTimeoutMs", cfg.drain_timeout_ms}});
        else
          log.info("drained");
        done = true;
      },
      [&](caf::down_msg& dm) {
        log.log(log_level::fatal, "root supervisor gave up", {{"reason", sys.render(dm.reason)}});
        exit_code = 1;
        done = true;
      });
  }
  if (exit_code == 0) {
    // Children stop one by one in reverse start order: ingress, coordinator, logger.
    main_self->send(root, stop_atom::value);
    main_self->receive([](caf::down_msg&) {},
                       caf::after(millis{cfg.drain_timeout_ms + 1000}) >> [&] {
                         log.warn("actors did not stop in time");
                       });
  }
  if (simulator)
    simulator->stop();
  log.announce("stopped", {{"exitCode", exit_code}});
  log.flush();
  // Transport workers may sit in a blocking read for up to timeout_ms; the
  // store and logs are flushed, so leave without waiting for them.
  std::_Exit(exit_code);
}

} // namespace coffeeshop
