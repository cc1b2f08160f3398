#pragma once

#include "runtime.hpp"

#include <caf/fwd.hpp>

namespace coffeeshop {

/// Collects integration events: one JSON log line each, the journal ring
/// behind /api/v1/events, and per-type counters. Answers:
/// - `(event_atom)`: drain the event sink's buffer and record every event.
/// - `(crash_atom)`: fail as an uncaught exception would (crash rehearsal).
caf::behavior event_logger(caf::event_based_actor* self, runtime_deps deps);

} // namespace coffeeshop
