#include "root_supervisor.hpp"

#include "event_logger.hpp"
#include "http_ingress.hpp"
#include "http_transport.hpp"
#include "notification.hpp"
#include "order_coordinator.hpp"
#include "payment.hpp"
#include "supervisor.hpp"

#include <caf/all.hpp>

#include <random>

namespace coffeeshop {

namespace {

/// An integration actor with its own transport workers.
template <class Spawn>
auto integration_factory(service_kind kind, const service_settings& svc, std::string url,
                         runtime_deps deps, Spawn spawn) {
  return [=](caf::local_actor* parent) {
    integration_spec is;
    is.kind = kind;
    is.settings = svc;
    is.url = url;
    is.deps = deps;
    is.jitter_seed = std::random_device{}();
    is.workers = http_transport_workers();
    return spawn(parent, std::move(is));
  };
}

caf::behavior root_supervisor(caf::event_based_actor* self, root_spec spec) {
  auto sup = std::make_shared<supervisor_core>(self, "root", spec.cfg.supervision, spec.deps);
  auto deps = spec.deps;
  sup->add(child_spec{"event-logger", restart_type::permanent,
                      [deps](caf::local_actor* parent) {
                        return caf::actor_cast<caf::actor>(parent->spawn(event_logger, deps));
                      },
                      [deps](const caf::actor& child, bool) {
                        deps.events->bind(caf::actor_cast<event_logger_actor>(child));
                      }});
  sup->add(child_spec{
    "order_coordinator", restart_type::permanent,
    [spec](caf::local_actor* parent) {
      coordinator_spec cs;
      cs.deps = spec.deps;
      cs.supervision = spec.cfg.supervision;
      cs.writer = spec.writer;
      cs.notification_concurrency = spec.cfg.notification.max_connections;
      cs.start_payment = integration_factory(service_kind::payment, spec.cfg.payment,
                                             spec.payment_url, spec.deps,
                                             [](caf::local_actor* p, integration_spec is) {
                                               return spawn_payment(p, std::move(is));
                                             });
      cs.start_notification = integration_factory(service_kind::notification, spec.cfg.notification,
                                                  spec.notification_url, spec.deps,
                                                  [](caf::local_actor* p, integration_spec is) {
                                                    return spawn_notification(p, std::move(is));
                                                  });
      return caf::actor_cast<caf::actor>(spawn_order_coordinator(parent, std::move(cs)));
    },
    [gateway = spec.gateway](const caf::actor& child, bool) {
      gateway->bind(caf::actor_cast<coordinator_actor>(child));
    }});
  sup->add(child_spec{"http_ingress",
                      restart_type::permanent,
                      [server = spec.server](caf::local_actor* parent) {
                        return spawn_http_ingress(parent, server);
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

} // namespace

caf::actor spawn_root_supervisor(caf::actor_system& sys, root_spec spec) {
  return sys.spawn(root_supervisor, std::move(spec));
}

} // namespace coffeeshop
