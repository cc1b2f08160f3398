#pragma once

// Deterministic actor harness: CAF's test coordinator (virtual time), a
// scripted fake transport, real telemetry (board, journal, event_logger) and
// an in-memory order store.

#include "event_logger.hpp"
#include "integration_actor.hpp"
#include "notification.hpp"
#include "order_coordinator.hpp"
#include "payment.hpp"
#include "runtime.hpp"
#include "supervisor.hpp"

#include "coffeeshop/store/write_queue.hpp"

#include "coffeeshop/messages.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <boost/json.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cstest {

using namespace coffeeshop;
using namespace std::chrono_literals;

using release_atom = caf::atom_constant<caf::atom("release")>;

// -- scripted fake transport ----------------------------------------------------

/// What the fake does with one call.
struct fake_response {
  enum class kind { reply, hang };
  kind what = kind::reply;
  http_reply reply;
  millis delay{0}; // answer this long (virtual time) after the call arrived
};

fake_response respond(int status, std::string body = "{}",
                      std::optional<std::string> retry_after = std::nullopt);
fake_response respond_ok(); // 200 {"success":true,"reference":"ref-1"}
fake_response fail_transport(transport_error e = transport_error::connect_failed);
fake_response hang();
fake_response after(millis d, fake_response r);

struct recorded_call {
  http_call call;
  millis at{0}; // virtual time since the fixture started

  std::optional<std::string> header(const std::string& name) const;
};

struct fake_script {
  /// Consumed first, in order.
  std::deque<fake_response> queue;
  /// Used when the queue is empty (index = 0-based number of the call).
  std::function<fake_response(const http_call&, std::size_t index)> fn;
  /// Used when the queue is empty and there is no fn.
  fake_response fallback = respond_ok();

  std::vector<recorded_call> calls;
  std::vector<caf::typed_response_promise<http_reply>> held; // hung calls
};

using script_ptr = std::shared_ptr<fake_script>;

/// `(call_atom, http_call) -> http_reply` from the script;
/// `(release_atom, http_reply)` answers every hung call with that reply.
caf::behavior fake_transport(caf::event_based_actor* self, script_ptr script,
                             caf::actor_clock::time_point origin);

// -- replies ------------------------------------------------------------------

template <class T>
struct reply_slot {
  std::optional<T> value;
  std::optional<caf::error> error;
  bool done() const { return value.has_value() || error.has_value(); }
};

template <class T>
using slot_ptr = std::shared_ptr<reply_slot<T>>;

/// Records the down message of a watched actor.
struct watch_result {
  bool down = false;
  caf::error reason;
};

// -- the fixture --------------------------------------------------------------

struct test_config_holder {
  test_config_holder();
  caf::actor_system_config cfg;
};

struct fixture : test_config_holder {
  fixture();
  ~fixture();

  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;

  caf::actor_system sys;
  caf::scheduler::test_coordinator& sched;
  caf::actor_clock::time_point origin;

  runtime_deps deps;
  caf::actor logger_actor;
  std::vector<caf::actor> owned; // stopped in the destructor

  /// Builds deps with a board for these breaker settings (what a restarted
  /// integration actor starts from). Called by the constructor with defaults;
  /// call again before spawning integration actors that use other settings.
  void reset_board(const breaker_settings& payment, const breaker_settings& notification = {});

  // time
  millis now() const; // virtual time since the fixture started
  /// Advances virtual time in 1 ms steps, running every job after each step.
  void advance(millis d);
  void run() { sched.run(); }

  // fakes and actors
  std::pair<caf::actor, script_ptr> make_fake();
  caf::actor keep(caf::actor a) {
    owned.push_back(a);
    return a;
  }
  integration_spec spec_for(service_kind kind, const service_settings& s, caf::actor transport,
                            std::string url = "http://upstream.test/pay");
  caf::actor spawn_payment(const service_settings& s, caf::actor transport);
  caf::actor spawn_notification(const service_settings& s, caf::actor transport);

  /// Sends a request from a fresh event-based probe; the slot fills when the
  /// reply arrives (after `run()` / `advance()`).
  template <class T, class... Ts>
  slot_ptr<T> ask(const caf::actor& dest, Ts... xs) {
    auto slot = std::make_shared<reply_slot<T>>();
    keep(sys.spawn([slot, dest, xs...](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then([slot](T& v) { slot->value = std::move(v); },
              [slot](caf::error& e) { slot->error = std::move(e); });
    }));
    return slot;
  }

  /// Watches `a` from a monitor probe.
  std::shared_ptr<watch_result> watch(const caf::actor& a);

  // events
  std::vector<boost::json::object> events(const std::string& type,
                                          std::optional<std::string> service = std::nullopt,
                                          std::optional<std::string> order_id = std::nullopt);
  std::size_t count_events(const std::string& type,
                           std::optional<std::string> service = std::nullopt) {
    return events(type, std::move(service)).size();
  }
};

/// One integration actor under test on its own scripted fake transport; the derived
/// fixture spawns the actor in its start().
struct service_fixture : fixture {
  caf::actor transport;
  script_ptr script;

  /// Resets the board to `s`'s breaker (for both services) and makes a fresh fake
  /// transport, so that an actor spawned next with `s` starts from a clean board.
  void start_transport(const service_settings& s);

  /// Number of calls the fake transport received so far.
  std::size_t calls() const { return script->calls.size(); }
};

/// An order coordinator with scripted payment and notification transports.
/// The fakes exist from construction, so a test can script them (or fill the
/// store) before start(); `writer` is where the coordinator's writes go.
struct coordinator_fixture : fixture {
  service_settings pay_settings;
  service_settings notif_settings;
  supervision_settings supervision;
  caf::actor pay_fake, notif_fake;
  script_ptr pay, notif;
  std::shared_ptr<write_queue> writer;
  caf::actor coord;

  coordinator_fixture();

  /// Spawns the coordinator (it recovers what the store holds at once).
  void start();

  slot_ptr<create_order_reply> create(create_order_command cmd);
  slot_ptr<create_order_reply> create();
  slot_ptr<change_status_reply> change(const std::string& id, order_status target);
  slot_ptr<integration_view> circuit(service_kind kind, circuit_action action);

  /// The stored order `id`, which must exist.
  order stored(const std::string& id);
};

/// Settings with quiet defaults for payment tests.
service_settings payment_settings();

/// A charge for order `id`, trace `trace`.
charge_request charge(const std::string& id, const std::string& trace = std::string(32, 'a'));

/// A priced create command.
create_order_command create_command(std::optional<std::string> key = std::nullopt,
                                    std::string fingerprint = "fp-1");

/// "attempt" of an event's metadata as an int (0 when absent).
int event_attempt(const boost::json::object& ev);
std::string str_of(const boost::json::value& v);

} // namespace cstest
