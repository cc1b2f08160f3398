#pragma once

#include "actor_interfaces.hpp"
#include "runtime.hpp"

namespace coffeeshop {

/// Collects integration events: one JSON log line each, the journal ring
/// behind /api/v1/events, and per-type counters. On `event_atom` it drains
/// the event sink's buffer; `crash_atom` fails as an uncaught exception would.
event_logger_actor::behavior_type event_logger(event_logger_actor::pointer self, runtime_deps deps);

} // namespace coffeeshop
