#pragma once

// Behaviour model of one simulated upstream, the built-in profiles, and the JSON of
// PUT/GET /_sim/behavior. Private to the simulator library.

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace coffeeshop::sim {

/// The two simulated upstreams.
enum class service { payment, notification };

/// "payment" / "notification".
std::string_view to_string(service svc);

/// What one service does with each call, applied in this order:
/// hang -> latency -> fixed_status -> request validation -> random failure -> success.
struct service_behavior {
  /// Profile this behaviour was last reset to (members may have been changed since).
  std::string profile;
  /// Probability in [0, 1] that a valid call fails with fail_status.
  double failure_rate = 0.0;
  /// Reply delay drawn uniformly from [latency_min_ms, latency_max_ms].
  int latency_min_ms = 0;
  int latency_max_ms = 0;
  /// Added to the delay for every other call of this service in flight: an upstream that
  /// queues, so that more concurrency means slower replies (profile "slow").
  int latency_per_inflight_ms = 0;
  /// When set, every call is answered with this status and a success:false body.
  std::optional<int> fixed_status;
  /// When set, sent as Retry-After (seconds) on fixed_status replies and on 429/503 failures.
  std::optional<int> retry_after_s;
  /// Calls are held until hang is turned off or the simulator stops.
  bool hang = false;
  /// Status of random failures.
  int fail_status = 500;
};

/// Behaviour of `svc` under a built-in profile; nullopt when the name is unknown.
std::optional<service_behavior> profile_behavior(std::string_view profile, service svc);

/// A validated PUT /_sim/behavior body: every member optional.
struct behavior_update {
  /// Services to change; nullopt = both ("all").
  std::optional<service> only;
  /// Reset to this profile before applying the other members.
  std::optional<std::string> profile;
  std::optional<double> failure_rate;
  std::optional<std::pair<int, int>> latency_ms;
  std::optional<int> latency_per_inflight_ms;
  /// Outer optional: member present; inner: null clears it.
  std::optional<std::optional<int>> fixed_status;
  std::optional<std::optional<int>> retry_after_s;
  std::optional<bool> hang;
  std::optional<int> fail_status;

  /// True when the update touches `svc`.
  bool applies_to(service svc) const { return !only || *only == svc; }
  /// Applies this update to `b` (caller checks applies_to first).
  void apply_to(service_behavior& b, service svc) const;
};

/// A rejected behaviour update: the offending JSON member and why.
struct behavior_error {
  std::string member;
  std::string message;
};

/// Parses and validates a PUT /_sim/behavior body. Unknown members are errors so that a
/// typo ("failurerate") does not silently leave the behaviour unchanged.
std::variant<behavior_update, behavior_error> parse_behavior_update(std::string_view body);

/// Wire form:
/// {"profile","failureRate","latencyMs":[min,max],"latencyPerInflightMs","fixedStatus",
///  "retryAfter","hang","failStatus"}.
boost::json::object to_json(const service_behavior& b);

} // namespace coffeeshop::sim
