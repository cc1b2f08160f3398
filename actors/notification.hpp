#pragma once

#include "integration_actor.hpp"

namespace coffeeshop {

/// Builds the notification body in the configured wire format (CONTRACT §4).
std::string notification_body(wire_format format, const notify_request& req);

/// Spawns the notification actor. Each call ends with a `notification_sent`
/// or `notification_failed` event.
notification_actor spawn_notification(caf::local_actor* parent, integration_spec spec);
notification_actor spawn_notification(caf::actor_system& sys, integration_spec spec);

} // namespace coffeeshop
