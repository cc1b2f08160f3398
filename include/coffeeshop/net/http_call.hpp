#pragma once

#include "coffeeshop/resilience/clock_types.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffeeshop {

/// One HTTP request to an upstream, as the transport executes it. Every
/// upstream call of CONTRACT §4 is a POST, so the method is not a field.
struct http_call {
  std::string url; // absolute: scheme://host:port/path?query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  millis timeout{10000};
  /// When the attempt is over (steady clock): the transport never starts it
  /// later and cuts its socket at that instant.
  std::optional<time_point> deadline;
};

/// What came back from one http_call.
struct http_reply {
  transport_error error = transport_error::none;
  int status = 0;
  std::string body;
  std::optional<std::string> retry_after; // raw Retry-After header
  std::string error_message;
};

} // namespace coffeeshop
