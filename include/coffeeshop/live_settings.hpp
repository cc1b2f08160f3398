#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/service_kind.hpp"

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

namespace coffeeshop {

/// The settings a reload (SIGHUP) may replace while the daemon runs, shared by the daemon
/// that replaces them and the HTTP layer and actors that read them. A reader keeps the
/// version() it last applied, so checking for a change costs one atomic load.
class live_settings {
public:
  explicit live_settings(const config& cfg);

  /// Counts replacements; 0 until the first.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  /// The service's settings as they are now.
  service_settings service(service_kind kind) const;

  /// The service's total_timeout_ms as it is now: the one setting read on every request
  /// (the HTTP layer's create wait), so it is an atomic load, not a lock.
  int64_t total_timeout_ms(service_kind kind) const {
    return total_timeout_ms_[static_cast<int>(kind)].load(std::memory_order_relaxed);
  }

  std::optional<std::string> admin_token() const;

  /// Takes the run-time settings of `cfg` (see take_runtime_settings); the rest of a
  /// service's settings stay as they were at start.
  void replace(const config& cfg);

private:
  /// Copies the services' total_timeout_ms into the atomics (under mtx_ when replacing).
  void publish_timeouts();

  mutable std::mutex mtx_;
  service_settings payment_;
  service_settings notification_;
  std::optional<std::string> admin_token_;
  std::atomic<uint64_t> version_{0};
  /// By service_kind: payment, notification.
  std::atomic<int64_t> total_timeout_ms_[2];
};

} // namespace coffeeshop
