#pragma once

// The transport's request and reply, kept free of CAF so that the blocking client and its
// tests need no actor headers.

#include "coffeeshop/resilience/clock_types.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffeeshop {

/// One HTTP request to an upstream, as the transport executes it. Always sent as a POST:
/// every upstream endpoint (payment, notification) takes one, so there is no method field.
struct http_call {
  std::string url; // absolute: scheme://host:port/path?query
  std::string body;
  /// Sent as given; a "Content-Type" entry sets the body's type (default application/json).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Bounds connecting, and each single read and write on the socket.
  millis timeout{10000};
};

/// What came back from one http_call.
struct http_reply {
  transport_error error = transport_error::none;
  /// True when the transport refused the call because max_connections calls
  /// are already in flight (bulkhead full); nothing was sent.
  bool rejected = false;
  int status = 0;
  std::string body;
  std::optional<std::string> retry_after; // raw Retry-After header
  std::string error_message;
};

} // namespace coffeeshop
