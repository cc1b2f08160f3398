#pragma once

#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace httplib {
struct Response;
}

namespace coffeeshop {

/// An RFC 9457 problem as the API reports it (CONTRACT §3).
struct problem {
  int status = 500;
  std::string error_type = "internal"; // validation, not_found, ...
  std::string title;
  std::string detail;
  boost::json::object extensions; // orderId, errors, currentStatus, ...
  /// Seconds for a Retry-After header; 0 = none.
  long retry_after_s = 0;
};

/// True when `s` is well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

/// Writes `p` as application/problem+json with the members of CONTRACT §3.
void write_problem(httplib::Response& res, const problem& p, const std::string& instance,
                   const std::string& trace_id);
// Every string of the body is made valid UTF-8 first: a byte that is not part of a
// well-formed sequence (a percent-decoded "%ff" in the path) becomes U+FFFD.

} // namespace coffeeshop
