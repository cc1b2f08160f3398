#pragma once

// The shell shared by the payment and notification actors: it feeds the call
// engine (coffeeshop/resilience/call_engine.hpp) its inputs with clock
// readings and executes the commands it answers with. Attempts go straight to
// the actor's own transport workers; a worker replies to this actor directly.

#include "actor_interfaces.hpp"
#include "runtime.hpp"

#include "coffeeshop/config.hpp"
#include "coffeeshop/live_settings.hpp"
#include "coffeeshop/resilience/call_engine.hpp"

#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cassert>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace coffeeshop {

/// Where an integration actor gets its transport workers. It keeps
/// max_connections of them, one per attempt in flight.
struct transport_workers {
  /// Spawns a worker for `owner` (in the daemon: detached and linked to it,
  /// so it ends with its owner).
  std::function<transport_actor(caf::local_actor* owner)> spawn;
  /// Lets go of a worker still blocked in a call its owner gave up on; it
  /// ends when that call returns, and a fresh one takes its place.
  std::function<void(caf::local_actor* owner, const transport_actor& worker)> retire;
};

/// Everything an integration actor is built from.
struct integration_spec {
  service_kind kind = service_kind::payment;
  service_settings settings;
  /// Final URL of every call (the service URL, the simulator's, or the Dapr form).
  std::string url;
  transport_workers workers;
  runtime_deps deps;
  uint64_t jitter_seed = 0;
};

/// The actor-side state around the engine: who waits for which call, and
/// which workers are free.
struct integration_state {
  integration_spec spec;
  std::unique_ptr<call_hooks> hooks;
  std::optional<call_engine> engine;
  std::unordered_map<uint64_t, caf::typed_response_promise<call_outcome>> callers;
  uint64_t next_call_id = 1;
  /// A worker per attempt the engine may admit: idle ones, and busy ones by
  /// the call whose attempt they carry.
  struct busy_worker {
    transport_actor worker;
    int attempt = 0;
    /// When the attempt is given up if its worker has not answered.
    time_point expires_at;
  };
  std::vector<transport_actor> idle_workers;
  std::unordered_map<uint64_t, busy_worker> busy_workers;
  /// When the one expiry timer in flight fires: a timer per attempt would wake CAF's clock
  /// thread for every attempt, and attempts almost never expire.
  std::optional<time_point> expiry_timer_at;
  /// The commands of the step being executed (kept to reuse its capacity).
  call_commands scratch;
  /// The live_settings version the engine runs under.
  uint64_t settings_version = 0;

  static inline const char* name = "integration";
};

/// The messages an integration actor sends itself besides its interface.
template <class Call>
using integration_actor_impl = typename integration_interface<Call>::template extend<
  caf::reacts_to<retry_atom, uint64_t>, caf::reacts_to<expire_atom>>;

template <class Call>
using integration_self =
  typename integration_actor_impl<Call>::template stateful_pointer<integration_state>;

/// Non-template part of the shell (integration_actor.cpp).
namespace integration_shell {

/// Loads the spec, the hooks and the breaker its predecessor last reported; the settings
/// are the live ones when the deps have them (a reload before this start counts).
void init(integration_state& st, std::unique_ptr<call_hooks> hooks, integration_spec spec,
          time_point now);

/// Hands the engine's retry budget and concurrency limit to the board (what a restarted
/// successor starts from) and sets the limit gauge.
void report_load_now(integration_state& st, int limit);

/// Reading of both clocks for an engine input.
call_clock clock_of(time_point now);

/// Executes the telemetry commands (events, tallies, breaker reports); the
/// ones that need the actor (send, retry, finish) are left to `execute`.
void record(integration_state& st, const call_command& cmd, time_point now);

/// Takes the worker carrying attempt `attempt` of call `id` off the busy
/// list; none when that attempt is no longer waited for (it expired and its
/// worker was retired, or it was answered).
std::optional<transport_actor> take_busy_worker(integration_state& st, uint64_t id, int attempt);

/// The busy workers whose attempts expired by `now`, as (call, attempt).
std::vector<std::pair<uint64_t, int>> expired_attempts(const integration_state& st, time_point now);

/// When the expiry timer should fire next: the earliest expiry among the busy workers,
/// unless a timer already in flight fires no later; none when no new timer is needed.
std::optional<time_point> next_expiry_timer(const integration_state& st);

/// The integration's state as /api/v1/integrations shows it.
integration_view view(const integration_state& st, time_point now);

} // namespace integration_shell

/// Keeps max_connections workers: spawns the missing ones and retires idle ones beyond it
/// (busy ones beyond it are retired as their attempts end).
template <class Call>
void fit_workers(integration_self<Call> self) {
  auto& st = self->state;
  auto target = static_cast<std::size_t>(st.spec.settings.max_connections);
  auto total = st.idle_workers.size() + st.busy_workers.size();
  for (; total < target; ++total)
    st.idle_workers.push_back(st.spec.workers.spawn(self));
  for (; total > target && !st.idle_workers.empty(); --total) {
    st.spec.workers.retire(self, st.idle_workers.back());
    st.idle_workers.pop_back();
  }
}

/// Extra time the actor waits beyond the transport's own timeout, so the
/// transport's answer (with its precise error) normally arrives first.
constexpr millis transport_grace{2000};

/// Runs the commands the engine left in the state's scratch list.
template <class Call>
void execute(integration_self<Call> self);

/// Feeds the engine the outcome of attempt `attempt` of call `id`.
template <class Call>
void attempt_ended(integration_self<Call> self, uint64_t id, const http_reply& reply) {
  auto& st = self->state;
  st.engine->on_reply(id, reply, integration_shell::clock_of(self->clock().now()), st.scratch);
  execute<Call>(self);
}

/// A worker that is gone (died, or retired while stuck) is replaced by a
/// fresh one, and its attempt ends with `error`.
template <class Call>
void replace_worker_and_fail(integration_self<Call> self, uint64_t id, transport_error error,
                             std::string message) {
  fit_workers<Call>(self);
  http_reply reply;
  reply.error = error;
  reply.error_message = std::move(message);
  attempt_ended<Call>(self, id, reply);
}

/// Sets the expiry timer when the earliest busy attempt expires before the one in flight.
template <class Call>
void arm_expiry_timer(integration_self<Call> self) {
  auto& st = self->state;
  auto at = integration_shell::next_expiry_timer(st);
  if (!at)
    return;
  st.expiry_timer_at = at;
  self->delayed_send(self, std::max(*at - self->clock().now(), time_point::duration::zero()),
                     expire_atom::value);
}

template <class Call>
void dispatch(integration_self<Call> self, send_attempt send) {
  auto& st = self->state;
  // The engine admits at most max_connections attempts, and every attempt
  // holds one worker until it ends (a stuck worker is replaced when its
  // attempt expires), so a worker is always free here.
  assert(!st.idle_workers.empty());
  auto worker = std::move(st.idle_workers.back());
  st.idle_workers.pop_back();
  auto id = send.call;
  auto attempt = send.attempt;
  st.busy_workers[id] = {worker, attempt,
                         self->clock().now() + send.request.timeout + transport_grace};
  arm_expiry_timer<Call>(self);
  self->request(worker, caf::infinite, call_atom::value, std::move(send.request))
    .then(
      [self, id, attempt](http_reply& reply) {
        auto worker = integration_shell::take_busy_worker(self->state, id, attempt);
        if (!worker)
          return;
        self->state.idle_workers.push_back(std::move(*worker));
        fit_workers<Call>(self); // fewer after a reload
        attempt_ended<Call>(self, id, reply);
      },
      [self, id, attempt](caf::error& err) {
        // The worker died (it never fails a call on I/O errors).
        if (integration_shell::take_busy_worker(self->state, id, attempt))
          replace_worker_and_fail<Call>(self, id, transport_error::other,
                                        self->system().render(err));
      });
}

/// Attempt `attempt` of `id` got no reply within its timeout and the grace:
/// its worker is retired and replaced, and the attempt timed out.
template <class Call>
void expire(integration_self<Call> self, uint64_t id, int attempt) {
  auto worker = integration_shell::take_busy_worker(self->state, id, attempt);
  if (!worker)
    return; // answered in time
  self->state.spec.workers.retire(self, *worker);
  replace_worker_and_fail<Call>(self, id, transport_error::timeout,
                                "no reply from the transport within its timeout");
}

/// The expiry timer fired: every attempt past its expiry is expired, and the timer is set
/// again for the earliest one left.
template <class Call>
void sweep_expired(integration_self<Call> self) {
  auto& st = self->state;
  const auto now = self->clock().now();
  if (st.expiry_timer_at && *st.expiry_timer_at <= now)
    st.expiry_timer_at.reset(); // this is the timer in flight (a later one may be left over)
  for (auto [id, attempt] : integration_shell::expired_attempts(st, now))
    expire<Call>(self, id, attempt);
  arm_expiry_timer<Call>(self);
}

template <class Call>
void execute(integration_self<Call> self) {
  auto& st = self->state;
  // Executing never feeds the engine again synchronously (replies and timers
  // arrive as later messages), so the list is not appended to meanwhile.
  for (auto& cmd : st.scratch) {
    if (auto* send = std::get_if<send_attempt>(&cmd)) {
      dispatch<Call>(self, std::move(*send));
    } else if (auto* retry = std::get_if<schedule_retry>(&cmd)) {
      self->delayed_send(self, retry->delay, retry_atom::value, retry->call);
    } else if (auto* done = std::get_if<finish_call>(&cmd)) {
      if (auto i = st.callers.find(done->call); i != st.callers.end()) {
        auto promise = std::move(i->second);
        st.callers.erase(i);
        promise.deliver(std::move(done->outcome));
      }
    } else if (auto* sp = std::get_if<export_span>(&cmd)) {
      if (st.spec.deps.spans)
        st.spec.deps.spans->submit(std::move(sp->finished));
    } else {
      integration_shell::record(st, cmd, self->clock().now());
    }
  }
  st.scratch.clear();
}

/// Applies a reload this actor has not seen yet: the engine takes the new settings for the
/// calls to come and the workers follow max_connections.
template <class Call>
void follow_reload(integration_self<Call> self) {
  auto& st = self->state;
  const auto& live = st.spec.deps.live;
  if (!live || live->version() == st.settings_version)
    return;
  st.settings_version = live->version(); // before reading: a later change is seen next time
  st.spec.settings = live->service(st.spec.kind);
  st.engine->reconfigure(st.spec.settings, st.scratch);
  fit_workers<Call>(self);
  execute<Call>(self);
}

/// The behaviour of an integration actor. `to_call` turns the service's
/// request into the engine's outbound call.
template <class Call, class ToCall>
typename integration_actor_impl<Call>::behavior_type
make_integration_behavior(integration_self<Call> self, std::unique_ptr<call_hooks> hooks,
                          integration_spec spec, ToCall to_call) {
  report_uncaught_exceptions(self, spec.deps.log, to_string(spec.kind));
  integration_shell::init(self->state, std::move(hooks), std::move(spec), self->clock().now());
  fit_workers<Call>(self);
  auto step = [self](auto input) {
    auto& st = self->state;
    input(*st.engine, integration_shell::clock_of(self->clock().now()), st.scratch);
    execute<Call>(self);
  };
  return {
    [self, step, to_call](call_atom, const Call& req) -> caf::result<call_outcome> {
      follow_reload<Call>(self);
      auto& st = self->state;
      auto id = st.next_call_id++;
      auto rp = self->template make_response_promise<call_outcome>();
      st.callers.emplace(id, rp);
      step([&](call_engine& e, const call_clock& c, call_commands& out) {
        e.start(id, to_call(st.spec, req), c, out);
      });
      return rp;
    },
    [self, step](circuit_atom, circuit_action action) {
      step([action](call_engine& e, const call_clock& c, call_commands& out) {
        e.apply(action, c, out);
      });
      return integration_shell::view(self->state, self->clock().now());
    },
    [](crash_atom) { throw std::runtime_error("crash rehearsal requested through the admin API"); },
    [step](retry_atom, uint64_t id) {
      step([id](call_engine& e, const call_clock& c, call_commands& out) {
        e.on_retry_timer(id, c, out);
      });
    },
    [self](expire_atom) { sweep_expired<Call>(self); },
  };
}

} // namespace coffeeshop
