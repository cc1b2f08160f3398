#pragma once

#include "coffeeshop/net/http_call.hpp"

#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>

// Only declared: httplib's class layout depends on its pkg-config defines, which code
// including this header then need not share.
namespace httplib {
class Client;
}

namespace coffeeshop::net {

/// The largest upstream reply body read; a longer one fails the attempt (`other`).
inline constexpr std::size_t max_reply_bytes = 1024 * 1024;

/// The blocking HTTP client of one transport worker. Owned and used by one thread (not
/// thread-safe). Keeps one keep-alive connection (TCP_NODELAY) per scheme://host:port, and
/// drops it after any transport error so that a broken connection is never reused.
class upstream_client {
public:
  upstream_client();
  ~upstream_client();

  upstream_client(const upstream_client&) = delete;
  upstream_client& operator=(const upstream_client&) = delete;

  /// POSTs `call` and waits for the reply, for at most call.timeout and never past
  /// call.deadline: the socket is shut down when the deadline passes, however slowly the
  /// upstream drips its reply, and a call whose deadline has passed is not sent at all.
  /// Never throws on I/O errors; they are reported in http_reply::error as
  /// - connect_failed: the connection was refused or could not be set up,
  /// - timeout: connecting timed out, the deadline passed, or a read/write failed after at
  ///   least 90 % of call.timeout had passed,
  /// - connection_reset: a read/write failed earlier than that,
  /// - other: a reply body over max_reply_bytes, or anything else;
  /// with a description in error_message.
  http_reply perform(const http_call& call);

private:
  class watchdog;

  httplib::Client& client_for(const std::string& base);

  std::unordered_map<std::string, std::unique_ptr<httplib::Client>> clients_;
  std::unique_ptr<watchdog> watchdog_;
};

} // namespace coffeeshop::net
