#include "runtime.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

#include <caf/scheduled_actor.hpp>
#include <caf/sec.hpp>
#include <caf/send.hpp>

namespace coffeeshop {

void event_sink::bind(event_logger_actor logger) {
  bool waiting;
  {
    std::lock_guard guard{mtx_};
    logger_ = logger;
    waiting = !pending_.empty();
  }
  // Events queued while no logger ran (or whose wake-up went to the dead one).
  if (waiting && logger)
    caf::anon_send(logger, event_atom::value);
}

event_logger_actor event_sink::current() const {
  std::lock_guard guard{mtx_};
  return logger_;
}

void event_sink::emit(integration_event ev) {
  if (ev.event_id.empty())
    ev.event_id = make_uuid();
  if (ev.timestamp_ms == 0)
    ev.timestamp_ms = now_ms();
  if (ev.instance.empty())
    ev.instance = instance_;
  event_logger_actor wake;
  {
    std::lock_guard guard{mtx_};
    if (pending_.empty())
      wake = logger_;
    pending_.push_back(std::move(ev));
  }
  // Only the first event of a batch wakes the logger; it drains all of them.
  if (wake)
    caf::anon_send(wake, event_atom::value);
}

std::vector<integration_event> event_sink::take() {
  std::vector<integration_event> out;
  std::lock_guard guard{mtx_};
  out.swap(pending_);
  return out;
}

void report_uncaught_exceptions(caf::scheduled_actor* self, std::shared_ptr<logger> log,
                                std::string actor_name) {
  self->set_exception_handler(
    [log, actor_name](caf::scheduled_actor*, std::exception_ptr& ep) -> caf::error {
      auto what = exception_message(ep);
      log->error("uncaught exception", {{"actor", actor_name}, {"error", what}});
      return caf::make_error(caf::sec::runtime_error, what);
    });
}

void count_rejected_call(const runtime_deps& deps, service_kind kind) {
  deps.board->count(kind, integration_board::counter::rejected);
  deps.stats->integration(kind).rejected();
}

} // namespace coffeeshop
