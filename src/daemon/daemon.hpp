#pragma once

#include "config_reloader.hpp"

#include "coffeeshop/config.hpp"

namespace coffeeshop {

/// Runs the daemon on `cfg` until SIGTERM/SIGINT or until the root supervisor
/// gives up; SIGHUP loads the config again from `reload_source`. Returns the process exit
/// status (CONTRACT §1): 0 clean shutdown, 1 fatal runtime error.
int run_daemon(const config& cfg, config_source reload_source);

} // namespace coffeeshop
