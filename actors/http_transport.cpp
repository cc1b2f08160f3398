#include "http_transport.hpp"

#include "coffeeshop/net/upstream_client.hpp"
#include "coffeeshop/util/thread_name.hpp"

#include <caf/all.hpp>

#include <memory>

namespace coffeeshop {

namespace {

transport_actor::behavior_type http_worker(transport_actor::pointer self) {
  // Shared only to keep the handler copyable; the detached worker's one thread uses it.
  name_this_thread("cs.upstream"); // runs on the worker's own thread: it is detached
  auto client = std::make_shared<net::upstream_client>();
  self->set_default_handler(caf::drop);
  return {
    [client](call_atom, const http_call& call) { return client->perform(call); },
  };
}

} // namespace

transport_workers http_transport_workers() {
  transport_workers w;
  w.spawn = [](caf::local_actor* owner) {
    return owner->spawn<caf::detached + caf::linked>(http_worker);
  };
  w.retire = [](caf::local_actor* owner, const transport_actor& worker) {
    // Unlinked first: its exit must not take the owner down with it.
    owner->unlink_from(worker);
    owner->send_exit(worker, caf::exit_reason::user_shutdown);
  };
  return w;
}

} // namespace coffeeshop
