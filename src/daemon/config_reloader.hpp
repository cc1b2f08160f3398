#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/live_settings.hpp"
#include "coffeeshop/telemetry/logger.hpp"

#include <functional>
#include <memory>

namespace coffeeshop {

/// Loads the config as at start: the same file and `--set` overrides.
using config_source = std::function<config_result()>;

/// What SIGHUP does (CONTRACT §1): loads the config again, applies what can change at run
/// time (the log level; the live settings the HTTP layer and actors read) and logs which
/// keys changed and which need a restart. An invalid config is logged and the running one
/// kept. Called from one thread (the signal waiter).
class config_reloader {
public:
  config_reloader(config running, config_source load, std::shared_ptr<logger> log,
                  std::shared_ptr<live_settings> live);

  /// One reload; false when the loaded config was refused.
  bool reload();

  /// The config running now: the start one with every reload's run-time part.
  const config& running() const { return running_; }

private:
  config running_;
  config_source load_;
  std::shared_ptr<logger> log_;
  std::shared_ptr<live_settings> live_;
};

} // namespace coffeeshop
