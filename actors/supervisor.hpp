#pragma once

// Supervision for CAF 0.17, which has monitors and links but no supervisors:
// child specs, restart types, strategies, restart intensity with backoff, and
// escalation to the parent (Erlang/OTP supervisor semantics).

#include "actor_interfaces.hpp"
#include "runtime.hpp"

#include "coffeeshop/resilience/supervision.hpp"

#include <caf/all.hpp>

#include <functional>
#include <string>
#include <vector>

namespace coffeeshop {

/// How to start, and when to restart, one child.
struct child_spec {
  std::string name;
  restart_type restart = restart_type::permanent;
  /// Spawns the child (not linked: the supervisor monitors it).
  std::function<caf::actor(caf::local_actor* parent)> start;
  /// Runs after every (re)start with the new handle, e.g. to rebind a sink
  /// or re-issue work the predecessor held.
  std::function<void(const caf::actor& child, bool restarted)> on_started;
};

/// Supervision embedded in an event-based actor (typed or not). The owner
/// forwards its down messages (`handle_down`) and the `supervisor_timers`
/// it receives (`handle_restart_timer`, `handle_shutdown_timer`), and calls
/// `stop_all` when it stops.
class supervisor_core {
public:
  supervisor_core(caf::scheduled_actor* self, std::string name, supervision_settings settings,
                  runtime_deps deps);

  /// Adds and starts a child (children start in the order added).
  void add(child_spec spec);

  /// Current handle of a child; invalid while it is down or waiting to restart.
  caf::actor child(const std::string& name) const;

  /// Handles a down message; false when it is not about one of our children.
  bool handle_down(const caf::down_msg& dm);

  /// Fires a delayed restart.
  void handle_restart_timer(uint64_t generation);

  /// Stops all children at once, in reverse start order, without waiting
  /// (for the owner's own termination, when it can no longer receive).
  void stop_all();

  /// Orderly stop: children one at a time in reverse start order, each given
  /// `timeout` to end before it is killed; then `done` runs. The owner
  /// forwards `(shutdown_atom, uint64_t)` timers to handle_shutdown_timer.
  void shutdown(millis timeout, std::function<void()> done);

  /// A child took longer than the shutdown timeout: kill it and go on.
  void handle_shutdown_timer(uint64_t step);

  /// Called when the intensity is exceeded; the default quits the owner with
  /// an error so its own supervisor sees an abnormal stop (escalation).
  std::function<void(const std::string& reason)> on_escalate;

private:
  struct entry {
    child_spec spec;
    caf::actor handle;
    bool restarting = false;         // stopped on purpose by a strategy, or waiting to restart
    uint64_t restart_generation = 0; // the restart timer this child waits for; 0: none
    std::string restart_reason;
  };

  void start(entry& e, bool restarted);
  entry* find(const caf::actor_addr& addr);
  void stop_next();

  caf::scheduled_actor* self_;
  std::string name_;
  restart_strategy strategy_;
  restart_intensity intensity_;
  runtime_deps deps_;
  std::vector<entry> children_;
  uint64_t generation_ = 0;
  // -- orderly shutdown state --
  bool shutting_down_ = false;
  std::size_t shutdown_next_ = 0; // children below this index are still to stop
  uint64_t shutdown_step_ = 0;
  millis shutdown_timeout_{0};
  std::function<void()> shutdown_done_;
};

} // namespace coffeeshop
