#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace coffeeshop::sim {

/// True for the built-in profiles: trio, fast, down, hang, flaky.
bool is_valid_profile(std::string_view name);

/// A non-deterministic seed (std::random_device), the default for simulator_options::seed.
uint64_t random_seed();

/// How a simulator starts. The behaviour can be changed later over HTTP (PUT /_sim/behavior).
struct simulator_options {
  /// Initial behaviour of both services; must satisfy is_valid_profile().
  std::string profile = "trio";
  /// Seeds failure draws, latencies and payment references (fixed seed = repeatable run).
  uint64_t seed = random_seed();
  /// HTTP worker threads. A request held by latency or "hang" occupies one.
  int threads = 64;
  /// When set, the control routes (/_sim/*) answer 401 unless the request carries
  /// `Authorization: Bearer <token>`. The daemon's built-in simulator sets a random one that
  /// it never shows, so nobody else on the machine can read its log or change its behaviour.
  std::optional<std::string> control_token;
  /// Record customer e-mail addresses masked (a***@example.com) in /_sim/requests.
  bool mask_emails = false;
};

/// The payment and notification upstream simulator (CONTRACT §6): an HTTP server on
/// background threads. Routes:
///   POST /api/v1/payment, POST /api/v1/notification (seed body, Trio body, Trio ?value=/?status=)
///   POST /v1.0/invoke/{app}/method/{method} (Dapr service invocation form)
///   GET|PUT /_sim/behavior, GET|DELETE /_sim/requests, GET|DELETE /_sim/ledger
///   (those need simulator_options::control_token when it is set)
/// All members are safe to call from any thread.
class simulator {
public:
  /// Throws std::invalid_argument for an unknown profile or threads < 1.
  explicit simulator(simulator_options opts);
  /// Calls stop().
  ~simulator();

  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Binds host:port (port 0 = any free port) and serves on background threads.
  /// Returns the bound port, or nullopt and sets `error` (bind failure, or already started).
  /// A simulator starts at most once.
  std::optional<int> start(const std::string& host, int port, std::string& error);

  /// Stops serving: requests held by "hang" or a latency wait are released at once
  /// (answered 503), then the server threads are joined. Idempotent.
  void stop();

  /// The port bound by start(), if it succeeded.
  std::optional<int> port() const;

  /// Name of the profile the simulator was created with.
  const std::string& profile() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace coffeeshop::sim
