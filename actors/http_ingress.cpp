#include "http_ingress.hpp"

#include "actor_interfaces.hpp"

#include <caf/all.hpp>

namespace coffeeshop {

namespace {

caf::behavior http_ingress(caf::event_based_actor* self, std::shared_ptr<background_server> api) {
  if (!api->start()) {
    // The listening socket is gone with the predecessor: failing here makes the
    // supervisor's intensity run out and the daemon exit 1 for its service
    // manager, rather than live on without HTTP.
    self->quit(caf::make_error(caf::sec::runtime_error, "the HTTP server cannot be restarted"));
    return {};
  }
  // Stopping joins the server's threads (this actor is detached, so that blocks
  // no scheduler thread); requests in flight are answered first.
  self->attach_functor([api](const caf::error&) { api->stop(); });
  // It lives until its supervisor's exit message. CAF ends an actor whose
  // behaviour is empty at once, so it keeps the one handler a stop needs.
  return {
    [self](stop_atom) { self->quit(); },
  };
}

} // namespace

caf::actor spawn_http_ingress(caf::local_actor* parent, std::shared_ptr<background_server> api) {
  return parent->spawn<caf::detached>(http_ingress, std::move(api));
}

} // namespace coffeeshop
