#include "event_logger.hpp"

#include "coffeeshop/util/clock.hpp"

#include <caf/all.hpp>

#include <stdexcept>

namespace coffeeshop {

event_logger_actor::behavior_type event_logger(event_logger_actor::pointer self,
                                               runtime_deps deps) {
  report_uncaught_exceptions(self, deps.log, "event-logger");
  return {
    [deps](event_atom) {
      for (auto& ev : deps.events->take()) {
        deps.stats->integration_events.add({{"service", ev.service}, {"type", ev.type}});
        if (deps.log->enabled(log_level::info))
          deps.log->info("integration_event", render_event(ev));
        deps.journal->append(std::move(ev));
      }
    },
    [](crash_atom) { throw std::runtime_error("crash rehearsal requested through the admin API"); },
  };
}

} // namespace coffeeshop
