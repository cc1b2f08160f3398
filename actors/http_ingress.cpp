#include "http_ingress.hpp"

#include "http_api.hpp"

#include <caf/all.hpp>

namespace coffeeshop {

namespace {

caf::behavior http_ingress(caf::event_based_actor* self, std::shared_ptr<http_api> api) {
  api->start();
  // Stopping joins the server's threads: do it off the scheduler thread's
  // critical path only once, when the actor ends.
  self->attach_functor([api](const caf::error&) { api->stop(); });
  return {
    [](stop_atom) {},
  };
}

} // namespace

caf::actor spawn_http_ingress(caf::local_actor* parent, std::shared_ptr<http_api> api) {
  return parent->spawn<caf::detached>(http_ingress, std::move(api));
}

} // namespace coffeeshop
