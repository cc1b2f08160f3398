#pragma once

#include "runtime.hpp"

#include <caf/fwd.hpp>

namespace coffeeshop {

/// Renders an event as its CONTRACT §5 JSON (e-mail addresses masked by emitters).
boost::json::object render_event(const integration_event& ev);

/// Collects integration events: one JSON log line each, the journal ring
/// behind /api/v1/events, and per-type counters. Answers:
/// - `(event_atom, integration_event)`: record it.
/// - `(crash_atom)`: fail as an uncaught exception would (crash rehearsal).
caf::behavior event_logger(caf::event_based_actor* self, runtime_deps deps);

} // namespace coffeeshop
