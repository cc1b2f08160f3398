#include "actor_runtime.hpp"

#include "actor_gateway.hpp"
#include "root_supervisor.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <thread>

namespace coffeeshop {

namespace {

using stop_requested_atom = caf::atom_constant<caf::atom("stopreq")>;

caf::actor_system_config system_config() {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", std::max(2u, std::thread::hardware_concurrency()));
  return cfg;
}

} // namespace

struct actor_runtime::impl {
  caf::actor_system_config sys_cfg = system_config();
  caf::actor_system sys{sys_cfg};
  caf::scoped_actor main{sys};
  config cfg;
  runtime_deps deps;
  std::string payment_url;
  std::string notification_url;
  std::shared_ptr<actor_gateway> gateway;
  caf::actor root;

  std::shared_ptr<write_queue> writer;

  impl(const config& c, shared_services services, std::shared_ptr<write_queue> w, std::string pay,
       std::string notify)
    : cfg(c),
      payment_url(std::move(pay)),
      notification_url(std::move(notify)),
      writer(std::move(w)) {
    static_cast<shared_services&>(deps) = std::move(services);
    deps.events = std::make_shared<event_sink>(deps.instance_id);
    deps.writer = writer;
    gateway = std::make_shared<actor_gateway>(sys, deps.events);
  }
};

actor_runtime::actor_runtime(const config& cfg, shared_services services,
                             std::shared_ptr<write_queue> writer, std::string payment_url,
                             std::string notification_url)
  : impl_(std::make_unique<impl>(cfg, std::move(services), std::move(writer),
                                 std::move(payment_url), std::move(notification_url))) {}

actor_runtime::~actor_runtime() = default;

order_gateway& actor_runtime::gateway() { return *impl_->gateway; }

void actor_runtime::start(std::shared_ptr<background_server> server) {
  auto& m = *impl_;
  m.root = spawn_root_supervisor(m.sys,
                                 root_spec{m.deps, m.cfg, m.writer, m.payment_url,
                                           m.notification_url, m.gateway, std::move(server)});
  m.main->monitor(m.root);
}

actor_runtime::ending actor_runtime::wait() {
  auto& m = *impl_;
  ending out;
  bool done = false;
  while (!done)
    m.main->receive([&](stop_requested_atom) { done = true; },
                    [&](caf::down_msg& dm) {
                      out.root_failed = true;
                      out.reason = m.sys.render(dm.reason);
                      done = true;
                    });
  return out;
}

void actor_runtime::request_stop() {
  caf::anon_send(caf::actor{impl_->main.ptr()}, stop_requested_atom::value);
}

bool actor_runtime::stop(millis timeout) {
  auto& m = *impl_;
  bool stopped = false;
  m.main->send(m.root, stop_atom::value);
  m.main->receive([&](caf::down_msg&) { stopped = true; }, caf::after(timeout) >> [] {});
  return stopped;
}

} // namespace coffeeshop
