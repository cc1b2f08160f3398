#include "http_transport.hpp"


#include <caf/all.hpp>
#include <httplib.h>

#include <chrono>
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

transport_actor::behavior_type http_worker(transport_actor::pointer self) {
  auto st = std::make_shared<worker_state>();
  self->set_default_handler(caf::drop);
  return {
    [st](call_atom, const http_call& call) { return perform(*st, call); },
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
