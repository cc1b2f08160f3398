#pragma once

#include "coffeeshop/services.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace coffeeshop {

/// The actor that owns the HTTP server: serving starts when it starts and
/// stops (in-flight requests finish) when it stops, so the root supervisor
/// controls the ingress like any other child.
caf::actor spawn_http_ingress(caf::local_actor* parent, std::shared_ptr<background_server> server);

} // namespace coffeeshop
