#pragma once

#include "coffeeshop/net/http_call.hpp"

#include <memory>
#include <string>
#include <unordered_map>

// Only declared: httplib's class layout depends on its pkg-config defines, which code
// including this header then need not share.
namespace httplib {
class Client;
}

namespace coffeeshop::net {

/// The blocking HTTP client of one transport worker. Owned and used by one thread (not
/// thread-safe). Keeps one keep-alive connection (TCP_NODELAY) per scheme://host:port, and
/// drops it after any transport error so that a broken connection is never reused.
class upstream_client {
public:
  upstream_client();
  ~upstream_client();

  upstream_client(const upstream_client&) = delete;
  upstream_client& operator=(const upstream_client&) = delete;

  /// POSTs `call` and waits for the reply. Never throws on I/O errors; they are reported in
  /// http_reply::error as
  /// - connect_failed: the connection was refused or could not be set up,
  /// - timeout: connecting timed out, or a read/write failed after at least 90 % of
  ///   call.timeout had passed,
  /// - connection_reset: a read/write failed earlier than that,
  /// - other: anything else;
  /// with httplib's description in error_message.
  http_reply perform(const http_call& call);

private:
  httplib::Client& client_for(const std::string& base);

  std::unordered_map<std::string, std::unique_ptr<httplib::Client>> clients_;
};

} // namespace coffeeshop::net
