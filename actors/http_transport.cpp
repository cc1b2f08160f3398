#include "http_transport.hpp"

#include "coffeeshop/messages.hpp"

#include <caf/all.hpp>
#include <httplib.h>

#include <chrono>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

namespace coffeeshop {

namespace {

/// Splits "http://host:port/path?q" into "http://host:port" and "/path?q".
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos)
    return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

/// Blocking HTTP client state of one worker thread.
struct worker_state {
  std::unordered_map<std::string, std::unique_ptr<httplib::Client>> clients;

  httplib::Client& client_for(const std::string& base) {
    auto& c = clients[base];
    if (!c) {
      c = std::make_unique<httplib::Client>(base);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);
    }
    return *c;
  }
};

http_reply perform(worker_state& st, const http_call& call) {
  auto [base, path] = split_url(call.url);
  auto& cli = st.client_for(base);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(call.timeout);
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(call.timeout - secs);
  cli.set_connection_timeout(secs.count(), usecs.count());
  cli.set_read_timeout(secs.count(), usecs.count());
  cli.set_write_timeout(secs.count(), usecs.count());
  httplib::Headers headers;
  std::string content_type = "application/json";
  for (const auto& [k, v] : call.headers) {
    if (k == "Content-Type")
      content_type = v;
    else
      headers.emplace(k, v);
  }
  auto started = std::chrono::steady_clock::now();
  auto res = cli.Post(path, headers, call.body, content_type);
  http_reply out;
  if (!res) {
    auto err = res.error();
    out.error_message = httplib::to_string(err);
    switch (err) {
      case httplib::Error::Connection:
      case httplib::Error::SSLConnection:
        out.error = transport_error::connect_failed;
        break;
      case httplib::Error::ConnectionTimeout:
        out.error = transport_error::timeout;
        break;
      case httplib::Error::Read:
      case httplib::Error::Write: {
        // httplib reports a read timeout and a reset alike; the clock tells them apart.
        auto elapsed = std::chrono::steady_clock::now() - started;
        out.error = elapsed >= call.timeout * 9 / 10 ? transport_error::timeout
                                                     : transport_error::connection_reset;
        break;
      }
      default:
        out.error = transport_error::other;
    }
    // A broken connection must not be reused by the next call.
    st.clients.erase(base);
    return out;
  }
  out.status = res->status;
  out.body = std::move(res->body);
  if (res->has_header("Retry-After"))
    out.retry_after = res->get_header_value("Retry-After");
  return out;
}

caf::behavior http_worker(caf::event_based_actor* self) {
  auto st = std::make_shared<worker_state>();
  self->set_default_handler(caf::drop);
  return {
    [st](call_atom, const http_call& call) { return perform(*st, call); },
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
