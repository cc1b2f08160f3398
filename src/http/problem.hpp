#pragma once

#include <boost/json/object.hpp>

#include <string>

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

/// Writes `p` as application/problem+json with the members of CONTRACT §3.
void write_problem(httplib::Response& res, const problem& p, const std::string& instance,
                   const std::string& trace_id);

} // namespace coffeeshop
