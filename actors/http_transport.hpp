#pragma once

#include <caf/fwd.hpp>

#include <cstddef>

namespace coffeeshop {

/// Spawns the transport of one upstream: an event-based router in front of
/// `workers` detached worker actors, the only place that blocks on sockets.
/// Each worker keeps its own keep-alive connection. The router answers
/// `(call_atom, http_call) -> http_reply`, queueing calls while every worker is
/// busy (callers bound their own concurrency). Stop it with an exit message;
/// it takes its workers down with it.
caf::actor spawn_http_transport(caf::actor_system& sys, std::size_t workers);

} // namespace coffeeshop
