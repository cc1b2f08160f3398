#pragma once

// A config reload (SIGHUP, CONTRACT §1): which of a freshly loaded config's changes apply
// while the daemon runs and which wait for a restart.

#include "coffeeshop/config.hpp"

#include <string>
#include <vector>

namespace coffeeshop {

/// What a reload makes of a loaded config.
struct config_reload {
  /// The running config with the loaded one's run-time settings; empty when that mix fails
  /// validation (see errors).
  std::optional<config> next;
  /// Key paths (`services.payment.retry.max_retries`) whose change applies now.
  std::vector<std::string> applied;
  /// Key paths whose change keeps its running value until a restart.
  std::vector<std::string> needs_restart;
  /// Each reads `config: <key.path>: <reason>`.
  std::vector<std::string> errors;
};

/// Splits the differences between `running` and `loaded` (both valid) into what applies at
/// run time — `logging.level`, `admin.token` and each service's timeouts, `max_connections`,
/// `retry`, `circuit_breaker` and `adaptive_concurrency` — and what needs a restart.
config_reload plan_reload(const config& running, const config& loaded);

/// Copies the settings of a service that may change at run time from `from` into `into`;
/// its address, wire format and Dapr target stay.
void take_runtime_settings(service_settings& into, const service_settings& from);

} // namespace coffeeshop
