#include "supervisor.hpp"

#include "coffeeshop/util/clock.hpp"

#include <algorithm>

namespace coffeeshop {

supervisor_core::supervisor_core(caf::scheduled_actor* self, std::string name,
                                 supervision_settings settings, runtime_deps deps)
  : self_(self),
    name_(std::move(name)),
    strategy_(settings.strategy),
    intensity_(settings),
    deps_(std::move(deps)) {
  on_escalate = [this](const std::string& reason) {
    self_->quit(caf::make_error(caf::sec::runtime_error, name_ + " gave up: " + reason));
  };
}

void supervisor_core::add(child_spec spec) {
  entry e;
  e.spec = std::move(spec);
  children_.push_back(std::move(e));
  start(children_.back(), false);
}

caf::actor supervisor_core::child(const std::string& name) const {
  for (const auto& e : children_)
    if (e.spec.name == name)
      return e.handle;
  return {};
}

void supervisor_core::start(entry& e, bool restarted) {
  e.handle = e.spec.start(self_);
  e.restarting = false;
  self_->monitor(e.handle);
  if (e.spec.on_started)
    e.spec.on_started(e.handle, restarted);
}

supervisor_core::entry* supervisor_core::find(const caf::actor_addr& addr) {
  for (auto& e : children_)
    if (e.handle && e.handle.address() == addr)
      return &e;
  return nullptr;
}

bool supervisor_core::handle_down(const caf::down_msg& dm) {
  auto* e = find(dm.source);
  if (!e)
    return false;
  e->handle = nullptr;
  if (shutting_down_) {
    if (static_cast<std::size_t>(e - children_.data()) == shutdown_next_)
      stop_next();
    return true;
  }
  if (e->restarting)
    return true; // stopped by us as part of a group restart
  bool abnormal = dm.reason && dm.reason != caf::exit_reason::normal;
  auto reason = abnormal ? self_->system().render(dm.reason) : std::string{"normal exit"};
  if (!should_restart(e->spec.restart, abnormal)) {
    deps_.log->info("child stopped", {{"supervisor", name_},
                                      {"actor", e->spec.name},
                                      {"restart", to_string(e->spec.restart)},
                                      {"reason", reason}});
    return true;
  }
  auto d = intensity_.record(self_->clock().now());
  if (d.escalate) {
    boost::json::object payload{{"actor", e->spec.name},
                                {"supervisor", name_},
                                {"reason", reason},
                                {"restarts", d.restarts_in_window - 1},
                                {"withinMs", intensity_.settings().within_ms}};
    deps_.events->emit(make_event("supervisor", "actor_escalated", "", "", 0, payload));
    deps_.log->error("actor_escalated", payload);
    on_escalate("restart intensity exceeded by " + e->spec.name + " (" + reason + ")");
    return true;
  }
  auto failed = static_cast<std::size_t>(e - children_.data());
  auto group = children_to_restart(strategy_, failed, children_.size());
  ++generation_;
  // Stop the rest of the group in reverse start order; they restart with it,
  // except temporary children (never restarted) and children that already
  // ended for good (nothing to bring back).
  for (auto i = group.rbegin(); i != group.rend(); ++i) {
    auto& other = children_[*i];
    bool alive_or_pending = other.handle || other.restart_generation != 0;
    if (*i != failed && (other.spec.restart == restart_type::temporary || !alive_or_pending)) {
      if (other.handle) {
        other.restarting = true;
        self_->send_exit(other.handle, caf::exit_reason::user_shutdown);
      }
      continue;
    }
    other.restarting = true;
    other.restart_generation = generation_;
    other.restart_reason = e->spec.name + ": " + reason;
    if (other.handle)
      self_->send_exit(other.handle, caf::exit_reason::user_shutdown);
  }
  deps_.log->warn("actor_down", {{"supervisor", name_},
                                 {"actor", e->spec.name},
                                 {"reason", reason},
                                 {"restartInMs", d.delay.count()},
                                 {"restartsInWindow", d.restarts_in_window}});
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self_), d.delay, restart_atom::value,
                         generation_);
  return true;
}

void supervisor_core::handle_restart_timer(uint64_t generation) {
  if (shutting_down_)
    return;
  // Children restart in start order; a child that joined a later group waits
  // for that group's timer instead.
  for (auto& e : children_) {
    if (e.restart_generation != generation)
      continue;
    e.restart_generation = 0;
    // A child stopped by the strategy may still be alive for a moment; its
    // down message is ignored because its handle is replaced here.
    start(e, true);
    deps_.stats->actor_restarts.add({{"actor", e.spec.name}});
    if (auto kind = parse_service_kind(e.spec.name))
      deps_.board->record_restart(*kind, now_ms());
    boost::json::object payload{{"actor", e.spec.name},
                                {"supervisor", name_},
                                {"strategy", to_string(strategy_)},
                                {"reason", e.restart_reason}};
    deps_.events->emit(make_event("supervisor", "actor_restarted", "", "", 0, payload));
    deps_.log->warn("actor_restarted", payload);
  }
}

void supervisor_core::shutdown(millis timeout, std::function<void()> done) {
  if (shutting_down_)
    return;
  shutting_down_ = true;
  shutdown_timeout_ = timeout;
  shutdown_done_ = std::move(done);
  shutdown_next_ = children_.size();
  stop_next();
}

void supervisor_core::stop_next() {
  while (shutdown_next_ > 0) {
    auto& e = children_[--shutdown_next_];
    e.restarting = true;
    if (!e.handle)
      continue;
    self_->send_exit(e.handle, caf::exit_reason::user_shutdown);
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self_), shutdown_timeout_,
                           shutdown_atom::value, ++shutdown_step_);
    return; // the child's down message (or the timer) continues the walk
  }
  if (shutdown_done_) {
    auto done = std::move(shutdown_done_);
    shutdown_done_ = nullptr;
    done();
  }
}

void supervisor_core::handle_shutdown_timer(uint64_t step) {
  if (!shutting_down_ || step != shutdown_step_ || shutdown_next_ >= children_.size())
    return;
  auto& e = children_[shutdown_next_];
  if (!e.handle)
    return; // it ended in time; its down message already moved on
  deps_.log->warn("child did not stop in time; killing it",
                  {{"supervisor", name_},
                   {"actor", e.spec.name},
                   {"timeoutMs", shutdown_timeout_.count()}});
  self_->send_exit(e.handle, caf::exit_reason::kill);
  e.handle = nullptr;
  stop_next();
}

void supervisor_core::stop_all() {
  for (auto i = children_.rbegin(); i != children_.rend(); ++i) {
    i->restarting = true;
    // Runs while the owner terminates: send without the owner as sender.
    if (i->handle)
      caf::anon_send_exit(i->handle, caf::exit_reason::user_shutdown);
  }
}

} // namespace coffeeshop
