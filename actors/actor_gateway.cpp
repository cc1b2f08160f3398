#include "actor_gateway.hpp"

#include <caf/all.hpp>

#include <memory>

namespace coffeeshop {

actor_gateway::actor_gateway(caf::actor_system& sys, std::shared_ptr<event_sink> events)
  : sys_(sys), events_(std::move(events)) {}

void actor_gateway::bind(coordinator_actor coordinator) {
  std::lock_guard guard{mtx_};
  coordinator_ = std::move(coordinator);
}

coordinator_actor actor_gateway::coordinator() const {
  std::lock_guard guard{mtx_};
  return coordinator_;
}

template <class Reply, class... Ts>
gateway_result<Reply> actor_gateway::ask(millis timeout, Ts&&... xs) {
  auto dest = coordinator();
  if (!dest)
    return gateway_result<Reply>::failed("the order coordinator is not running");
  // One blocking actor per calling thread, reused: creating one per request
  // costs a registry update and a broadcast on every call.
  thread_local std::unique_ptr<caf::scoped_actor> self;
  if (!self)
    self = std::make_unique<caf::scoped_actor>(sys_);
  // The timeout is a timed wait on this actor's own mailbox, not a request
  // timeout: those go through CAF's clock thread, waking it twice per call.
  auto handle = (*self)->request(dest, caf::infinite, std::forward<Ts>(xs)...);
  caf::blocking_actor::accept_one_cond once;
  std::optional<Reply> out;
  std::string error;
  bool timed_out = false;
  (*self)->varargs_receive(
    once, handle.id(), [&](Reply& r) { out = std::move(r); },
    [&](caf::error& e) { error = sys_.render(e); },
    caf::after(timeout) >> [&] { timed_out = true; });
  if (timed_out) {
    // A reply that comes after its timeout would sit in the mailbox forever.
    self.reset();
    return gateway_result<Reply>::failed("no reply in time");
  }
  if (!out)
    return gateway_result<Reply>::failed(error);
  return gateway_result<Reply>::ok(std::move(*out));
}

gateway_result<create_order_reply> actor_gateway::create_order(create_order_command cmd,
                                                               millis timeout) {
  return ask<create_order_reply>(timeout, create_atom::value, std::move(cmd));
}

gateway_result<change_status_reply> actor_gateway::change_status(change_status_command cmd,
                                                                 millis timeout) {
  return ask<change_status_reply>(timeout, status_atom::value, std::move(cmd));
}

gateway_result<integration_view> actor_gateway::circuit(service_kind service, circuit_action action,
                                                        millis timeout) {
  return ask<integration_view>(timeout, circuit_atom::value, service, action);
}

gateway_result<requeue_reply> actor_gateway::requeue_notification(std::string entry_id,
                                                                  millis timeout) {
  return ask<requeue_reply>(timeout, requeue_atom::value, std::move(entry_id));
}

bool actor_gateway::crash(std::string_view actor) {
  if (actor == "event-logger") {
    if (auto logger = events_->current())
      caf::anon_send(logger, crash_atom::value);
    return true;
  }
  if (actor == "payment" || actor == "notification") {
    if (auto c = coordinator())
      caf::anon_send(c, crash_atom::value, std::string{actor});
    return true;
  }
  return false;
}

} // namespace coffeeshop
