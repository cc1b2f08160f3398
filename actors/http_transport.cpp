#include "http_transport.hpp"

#include "coffeeshop/messages.hpp"
#include "coffeeshop/net/upstream_client.hpp"

#include <caf/all.hpp>

#include <deque>
#include <memory>
#include <vector>

namespace coffeeshop {

namespace {

caf::behavior http_worker(caf::event_based_actor* self) {
  // Shared only to keep the handler copyable; the detached worker's one thread uses it.
  auto client = std::make_shared<net::upstream_client>();
  self->set_default_handler(caf::drop);
  return {
    [client](call_atom, const http_call& call) { return client->perform(call); },
  };
}

struct router_state {
  struct queued {
    http_call call;
    caf::typed_response_promise<http_reply> promise;
  };
  std::vector<caf::actor> idle;
  std::deque<queued> backlog;
  static inline const char* name = "http_transport";
};

void dispatch(caf::stateful_actor<router_state>* self, caf::actor worker, http_call call,
              caf::typed_response_promise<http_reply> rp) {
  self->request(worker, caf::infinite, call_atom::value, std::move(call))
    .then(
      [self, worker, rp](http_reply& reply) mutable {
        rp.deliver(std::move(reply));
        auto& st = self->state;
        if (!st.backlog.empty()) {
          auto next = std::move(st.backlog.front());
          st.backlog.pop_front();
          dispatch(self, worker, std::move(next.call), std::move(next.promise));
        } else {
          st.idle.push_back(worker);
        }
      },
      [self, rp](caf::error& err) mutable {
        // The worker died (it never throws on I/O errors): report and drop it.
        http_reply reply;
        reply.error = transport_error::other;
        reply.error_message = self->system().render(err);
        rp.deliver(std::move(reply));
      });
}

caf::behavior http_router(caf::stateful_actor<router_state>* self, std::size_t workers) {
  for (std::size_t i = 0; i < workers; ++i) {
    auto w = self->spawn<caf::detached + caf::linked>(http_worker);
    self->state.idle.push_back(w);
  }
  return {
    [self](call_atom, http_call& call) -> caf::result<http_reply> {
      auto rp = self->make_response_promise<http_reply>();
      auto& st = self->state;
      if (st.idle.empty()) {
        st.backlog.push_back({std::move(call), rp});
        return rp;
      }
      auto worker = st.idle.back();
      st.idle.pop_back();
      dispatch(self, worker, std::move(call), rp);
      return rp;
    },
  };
}

} // namespace

caf::actor spawn_http_transport(caf::actor_system& sys, std::size_t workers) {
  return sys.spawn(http_router, workers);
}

} // namespace coffeeshop
