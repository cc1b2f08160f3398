#include "coffeeshop/net/upstream_client.hpp"

#include <httplib.h>

#include <chrono>
#include <utility>

namespace coffeeshop::net {

namespace {

/// Splits "http://host:port/path?q" into "http://host:port" and "/path?q".
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme_end = url.find("://");
  auto path_start = url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  if (path_start == std::string::npos)
    return {url, "/"};
  return {url.substr(0, path_start), url.substr(path_start)};
}

transport_error classify_error(httplib::Error err, std::chrono::steady_clock::duration elapsed,
                               millis timeout) {
  switch (err) {
    case httplib::Error::Connection:
    case httplib::Error::SSLConnection: return transport_error::connect_failed;
    case httplib::Error::ConnectionTimeout: return transport_error::timeout;
    case httplib::Error::Read:
    case httplib::Error::Write:
      // httplib reports a read timeout and a reset alike; the clock tells them apart.
      return elapsed >= timeout * 9 / 10 ? transport_error::timeout
                                         : transport_error::connection_reset;
    default: return transport_error::other;
  }
}

} // namespace

upstream_client::upstream_client() = default;
upstream_client::~upstream_client() = default;

httplib::Client& upstream_client::client_for(const std::string& base) {
  auto& c = clients_[base];
  if (!c) {
    c = std::make_unique<httplib::Client>(base);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
  }
  return *c;
}

http_reply upstream_client::perform(const http_call& call) {
  auto [base, path] = split_url(call.url);
  auto& cli = client_for(base);
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
  auto elapsed = std::chrono::steady_clock::now() - started;
  http_reply out;
  if (!res) {
    out.error = classify_error(res.error(), elapsed, call.timeout);
    out.error_message = httplib::to_string(res.error());
    // A broken connection must not be reused by the next call.
    clients_.erase(base);
    return out;
  }
  out.status = res->status;
  out.body = std::move(res->body);
  if (res->has_header("Retry-After"))
    out.retry_after = res->get_header_value("Retry-After");
  return out;
}

} // namespace coffeeshop::net
