#pragma once

#include "integration_actor.hpp"

namespace coffeeshop {

/// Builds the notification body in the configured wire format (CONTRACT §4).
std::string notification_body(wire_format format, const notify_request& req);

/// The notification actor: answers `(call_atom, notify_request) -> call_outcome`
/// and reports `notification_sent` / `notification_failed` for each call.
caf::behavior notification_actor(integration_actor* self, integration_spec spec);

} // namespace coffeeshop
