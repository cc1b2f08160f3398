#pragma once

#include "integration_actor.hpp"

namespace coffeeshop {

/// Transport workers that really call upstreams: detached actors, the only
/// place that blocks on sockets, each with its own keep-alive connections.
/// They are linked to their owner, so they end with it (after the blocking
/// call they are in, if any).
transport_workers http_transport_workers();

} // namespace coffeeshop
