#pragma once

// Every call received on the simulated service routes, so tests can check exactly what the
// daemon sent (headers such as traceparent and Idempotency-Key, bodies, retries).

#include "behavior.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffeeshop::sim {

/// One received call, as it came in.
struct recorded_request {
  uint64_t seq = 0; // assigned by request_log::add, 1-based, never reused
  std::string method;
  std::string path;
  std::string query; // raw query string without '?', "" when none
  std::vector<std::pair<std::string, std::string>> headers; // names as received
  std::string body;
  service svc = service::payment;
  int64_t received_at_ms = 0; // Unix epoch ms; formatted only when read, to keep add() cheap
};

/// A bounded ring of recorded calls (oldest dropped). Not thread-safe: the simulator calls it
/// under its own mutex.
class request_log {
public:
  explicit request_log(std::size_t capacity = 10'000);

  /// Stores `r` with the next sequence number.
  void add(recorded_request r);

  /// Drops all entries; sequence numbers keep counting so an old seq is never reused.
  void clear();

  std::size_t size() const { return entries_.size(); }

  /// {"requests":[{"seq","method","path","query","headers":{...},"body","service","receivedAt"}]},
  /// oldest first, only `only`'s calls when given. A header sent more than once is joined
  /// with ", " (RFC 9110 field combination).
  boost::json::object to_json(std::optional<service> only = std::nullopt) const;

private:
  std::size_t capacity_;
  std::deque<recorded_request> entries_;
  uint64_t next_seq_ = 1;
};

} // namespace coffeeshop::sim
