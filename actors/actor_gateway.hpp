#pragma once

#include "actor_interfaces.hpp"
#include "runtime.hpp"

#include "coffeeshop/order_gateway.hpp"

#include <caf/fwd.hpp>

#include <mutex>

namespace coffeeshop {

/// The order gateway as the daemon runs it: each call is one request to the
/// current order coordinator (a restarted one is picked up), asked from the
/// caller's thread through a blocking actor kept per thread.
class actor_gateway final : public order_gateway {
public:
  actor_gateway(caf::actor_system& sys, std::shared_ptr<event_sink> events);

  /// Points the gateway at a (new) coordinator; the root supervisor calls it.
  void bind(coordinator_actor coordinator);

  gateway_result<create_order_reply> create_order(create_order_command cmd,
                                                  millis timeout) override;
  gateway_result<change_status_reply> change_status(change_status_command cmd,
                                                    millis timeout) override;
  gateway_result<integration_view> circuit(service_kind service, circuit_action action,
                                           millis timeout) override;
  gateway_result<requeue_reply> requeue_notification(std::string entry_id, millis timeout) override;
  bool crash(std::string_view actor) override;

private:
  coordinator_actor coordinator() const;

  template <class Reply, class... Ts>
  gateway_result<Reply> ask(millis timeout, Ts&&... xs);

  caf::actor_system& sys_;
  std::shared_ptr<event_sink> events_;
  mutable std::mutex mtx_;
  coordinator_actor coordinator_;
};

} // namespace coffeeshop
