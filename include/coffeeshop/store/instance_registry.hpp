#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace coffeeshop {

/// One daemon as the others see it (CONTRACT §3.5 /api/v1/instances).
struct instance_info {
  std::string id;
  std::string address; ///< HOST:PORT it serves HTTP on
  std::string version;
  int64_t started_at_ms = 0;
  int64_t heartbeat_at_ms = 0;
};

/// Where daemons sharing a store announce that they live.
class instance_registry {
public:
  virtual ~instance_registry() = default;

  /// Records `self` as alive now (heartbeat_at_ms); false when the store
  /// cannot be written.
  virtual bool heartbeat(const instance_info& self) = 0;

  /// The daemons whose last heartbeat is within `lease_ms` of `now_ms`,
  /// ordered by id.
  virtual std::vector<instance_info> live(int64_t now_ms, int64_t lease_ms) const = 0;

  /// Removes `id` (a clean shutdown: the others stop listing it at once).
  virtual void leave(const std::string& id) = 0;
};

/// A registry of one process (sqlite, memory): what it lists is what this
/// daemon heartbeat last.
std::unique_ptr<instance_registry> make_local_instance_registry();

/// Sends heartbeats every `interval_ms` on a thread of its own from
/// construction until stop() (or destruction), then leaves the registry.
class heartbeat_loop {
public:
  heartbeat_loop(std::shared_ptr<instance_registry> registry, instance_info self,
                 int64_t interval_ms);
  heartbeat_loop(const heartbeat_loop&) = delete;
  heartbeat_loop& operator=(const heartbeat_loop&) = delete;
  ~heartbeat_loop();

  /// Stops beating and removes this daemon from the registry. Idempotent.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace coffeeshop
