#include "config_reloader.hpp"

#include "coffeeshop/config_reload.hpp"

#include <boost/json.hpp>

namespace coffeeshop {

namespace {

boost::json::array as_json(const std::vector<std::string>& items) {
  return boost::json::array(items.begin(), items.end());
}

} // namespace

config_reloader::config_reloader(config running, config_source load, std::shared_ptr<logger> log,
                                 std::shared_ptr<live_settings> live)
  : running_(std::move(running)),
    load_(std::move(load)),
    log_(std::move(log)),
    live_(std::move(live)) {}

bool config_reloader::reload() {
  auto loaded = load_();
  auto plan = loaded.value ? plan_reload(running_, *loaded.value) : config_reload{};
  if (!loaded.value || !plan.next) {
    const auto& errors = loaded.value ? plan.errors : loaded.errors;
    log_->error("config reload failed: the running config is kept", {{"errors", as_json(errors)}});
    return false;
  }
  running_ = std::move(*plan.next);
  if (auto level = parse_log_level(running_.logging.level))
    log_->set_level(*level);
  live_->replace(running_);
  // Written whatever the level: an operator who sent SIGHUP looks for this line.
  log_->announce("config reloaded", {{"applied", as_json(plan.applied)},
                                     {"needsRestart", as_json(plan.needs_restart)}});
  if (!plan.needs_restart.empty())
    log_->warn("config changes need a restart to apply",
               {{"keys", as_json(plan.needs_restart)}});
  return true;
}

} // namespace coffeeshop
