// supervisor_core embedded in a small test actor whose children can be told
// to crash or to stop normally.

#include "fixture.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace cstest;

namespace {

/// What happened to the children, in order.
struct sup_log {
  struct entry {
    std::string what; // "start", "restart", "stop"
    std::string name;
    millis at;
  };
  std::vector<entry> entries;
  std::map<std::string, caf::actor> current;

  std::vector<std::string> names(const std::string& what) const {
    std::vector<std::string> out;
    for (const auto& e : entries)
      if (e.what == what)
        out.push_back(e.name);
    return out;
  }
  std::vector<millis> times(const std::string& what, const std::string& name) const {
    std::vector<millis> out;
    for (const auto& e : entries)
      if (e.what == what && e.name == name)
        out.push_back(e.at);
    return out;
  }
};

using log_ptr = std::shared_ptr<sup_log>;

millis since(caf::local_actor* self, caf::actor_clock::time_point origin) {
  return std::chrono::duration_cast<millis>(self->clock().now() - origin);
}

/// A child: `crash_atom` throws, `stop_atom` exits normally. A stubborn one
/// ignores exit messages (only `kill` ends it).
caf::behavior worker(caf::event_based_actor* self, std::string name, log_ptr log,
                     caf::actor_clock::time_point origin, bool stubborn) {
  if (stubborn)
    self->set_exit_handler([](caf::exit_msg&) {});
  // Quiet: CAF's default handler prints every rehearsed crash.
  self->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr&) -> caf::error {
    return caf::make_error(caf::sec::runtime_error);
  });
  self->attach_functor([self, name, log, origin](const caf::error&) {
    log->entries.push_back({"stop", name, since(self, origin)});
  });
  return {
    [](crash_atom) { throw std::runtime_error("told to crash"); },
    [self](stop_atom) { self->quit(); },
  };
}

struct child_def {
  std::string name;
  restart_type restart = restart_type::permanent;
  std::function<caf::actor(caf::local_actor*)> start;
};

/// A supervisor actor built on supervisor_core.
caf::behavior test_supervisor(caf::event_based_actor* self, std::string name,
                              supervision_settings settings, std::vector<child_def> defs,
                              runtime_deps deps, log_ptr log, caf::actor_clock::time_point origin) {
  auto sup = std::make_shared<supervisor_core>(self, name, settings, deps);
  for (auto& d : defs) {
    sup->add(child_spec{
      d.name, d.restart, d.start,
      [self, log, origin, n = d.name](const caf::actor& a, bool restarted) {
        log->current[n] = a;
        log->entries.push_back({restarted ? "restart" : "start", n, since(self, origin)});
      }});
  }
  self->set_down_handler([sup](caf::down_msg& dm) { sup->handle_down(dm); });
  self->attach_functor([sup](const caf::error&) { sup->stop_all(); });
  return {
    [sup](restart_atom, uint64_t generation) { sup->handle_restart_timer(generation); },
    [self, sup, log, origin](stop_atom) {
      sup->shutdown(millis{500}, [self, log, origin] {
        log->entries.push_back({"done", "", since(self, origin)});
        self->quit();
      });
    },
    [sup](shutdown_atom, uint64_t step) { sup->handle_shutdown_timer(step); },
  };
}

struct sup_fixture : fixture {
  log_ptr log = std::make_shared<sup_log>();
  supervision_settings settings;
  caf::actor sup;

  child_def worker_def(const std::string& name, restart_type t = restart_type::permanent,
                       bool stubborn = false) {
    auto l = log;
    auto o = origin;
    return child_def{name, t, [name, l, o, stubborn](caf::local_actor* parent) {
                       return parent->spawn(worker, name, l, o, stubborn);
                     }};
  }

  caf::actor spawn_sup(const std::string& name, std::vector<child_def> defs) {
    auto a = keep(sys.spawn(test_supervisor, name, settings, std::move(defs), deps, log, origin));
    run();
    return a;
  }

  void crash(const std::string& name) {
    anon_send(log->current.at(name), crash_atom::value);
    run();
  }
  void stop(const std::string& name) {
    anon_send(log->current.at(name), stop_atom::value);
    run();
  }
  caf::actor_addr addr(const std::string& name) { return log->current.at(name).address(); }
};

using names = std::vector<std::string>;

} // namespace

TEST_CASE_METHOD(sup_fixture, "supervisor: children start in the order added", "[supervisor]") {
  spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  CHECK(log->names("start") == names{"a", "b", "c"});
  CHECK(log->names("restart").empty());
}

TEST_CASE_METHOD(sup_fixture, "supervisor: one_for_one restarts only the failed child",
                 "[supervisor]") {
  settings.strategy = restart_strategy::one_for_one;
  spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  auto a = addr("a"), b = addr("b"), c = addr("c");
  crash("b");
  CHECK(log->names("stop") == names{"b"});
  CHECK(log->names("restart").empty());
  advance(100ms);
  CHECK(log->names("restart") == names{"b"});
  CHECK(log->names("stop") == names{"b"});
  CHECK(addr("a") == a);
  CHECK(addr("b") != b);
  CHECK(addr("c") == c);
  auto restarted = events("actor_restarted", "supervisor");
  REQUIRE(restarted.size() == 1);
  CHECK(restarted[0].at("payload").at("actor").as_string() == "b");
  CHECK(restarted[0].at("payload").at("strategy").as_string() == "one_for_one");
  // The new b is supervised too.
  crash("b");
  advance(1000ms);
  CHECK(log->names("restart") == names{"b", "b"});
}

TEST_CASE_METHOD(sup_fixture, "supervisor: one_for_all restarts all children in start order",
                 "[supervisor]") {
  settings.strategy = restart_strategy::one_for_all;
  spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  auto a = addr("a"), c = addr("c");
  crash("b");
  // b crashed; the others are stopped in reverse start order.
  CHECK(log->names("stop") == names{"b", "c", "a"});
  advance(99ms);
  CHECK(log->names("restart").empty());
  advance(1ms);
  CHECK(log->names("restart") == names{"a", "b", "c"});
  CHECK(addr("a") != a);
  CHECK(addr("c") != c);
  CHECK(count_events("actor_restarted", "supervisor") == 3);
  // Stopping the siblings did not count as more failures.
  advance(10000ms);
  CHECK(log->names("restart").size() == 3);
}

TEST_CASE_METHOD(sup_fixture, "supervisor: rest_for_one restarts the failed and later children",
                 "[supervisor]") {
  settings.strategy = restart_strategy::rest_for_one;
  spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  auto a = addr("a");
  crash("b");
  CHECK(log->names("stop") == names{"b", "c"});
  advance(100ms);
  CHECK(log->names("restart") == names{"b", "c"});
  CHECK(addr("a") == a);
}

TEST_CASE_METHOD(sup_fixture, "supervisor: restart delays double up to max_restart_delay_ms",
                 "[supervisor]") {
  settings.max_restarts = 20;
  settings.within_ms = 600000;
  settings.restart_delay_ms = 100;
  settings.max_restart_delay_ms = 500;
  spawn_sup("test", {worker_def("a")});
  for (auto expected : {100, 200, 400, 500, 500}) {
    auto crashed_at = now();
    crash("a");
    auto before = log->names("restart").size();
    advance(millis{expected - 1});
    CHECK(log->names("restart").size() == before);
    advance(1ms);
    REQUIRE(log->names("restart").size() == before + 1);
    CHECK(log->times("restart", "a").back() - crashed_at == millis{expected});
  }
}

TEST_CASE_METHOD(sup_fixture,
                 "supervisor: exceeding the intensity escalates to the owner's monitor",
                 "[supervisor]") {
  settings.max_restarts = 3;
  settings.within_ms = 10000;
  auto s = spawn_sup("test", {worker_def("a"), worker_def("b")});
  auto w = watch(s);
  for (int i = 0; i < 3; ++i) {
    crash("a");
    advance(1000ms);
  }
  CHECK(log->names("restart").size() == 3);
  CHECK_FALSE(w->down);
  crash("a"); // 4th restart within 10 s
  REQUIRE(w->down);
  CHECK(w->reason == caf::sec::runtime_error);
  auto esc = events("actor_escalated", "supervisor");
  REQUIRE(esc.size() == 1);
  CHECK(esc[0].at("payload").at("actor").as_string() == "a");
  CHECK(esc[0].at("payload").at("supervisor").as_string() == "test");
  // The owner's children are stopped with it and nothing restarts.
  advance(10000ms);
  CHECK(log->names("restart").size() == 3);
  auto stops = log->names("stop");
  CHECK(std::count(stops.begin(), stops.end(), "b") == 1);
}

TEST_CASE_METHOD(sup_fixture, "supervisor: the intensity window slides", "[supervisor]") {
  settings.max_restarts = 2;
  settings.within_ms = 1000;
  auto s = spawn_sup("test", {worker_def("a")});
  auto w = watch(s);
  for (int i = 0; i < 8; ++i) {
    auto crashed_at = now();
    crash("a");
    advance(1100ms);
    // Alone in its window: the delay never grows.
    CHECK(log->times("restart", "a").back() - crashed_at == 100ms);
  }
  CHECK_FALSE(w->down);
  CHECK(log->names("restart").size() == 8);
  CHECK(count_events("actor_escalated") == 0);
}

TEST_CASE_METHOD(sup_fixture, "supervisor: transient children restart only after a crash",
                 "[supervisor]") {
  spawn_sup("test", {worker_def("t", restart_type::transient)});
  crash("t");
  advance(100ms);
  CHECK(log->names("restart") == names{"t"});
  stop("t");
  advance(10000ms);
  CHECK(log->names("restart") == names{"t"});
}

TEST_CASE_METHOD(sup_fixture, "supervisor: temporary children are never restarted",
                 "[supervisor]") {
  spawn_sup("test",
            {worker_def("x", restart_type::temporary), worker_def("y", restart_type::temporary)});
  crash("x");
  stop("y");
  advance(10000ms);
  CHECK(log->names("restart").empty());
}

TEST_CASE_METHOD(sup_fixture, "supervisor: permanent children restart after a normal exit too",
                 "[supervisor]") {
  spawn_sup("test", {worker_def("p", restart_type::permanent)});
  stop("p");
  advance(100ms);
  CHECK(log->names("restart") == names{"p"});
}

TEST_CASE_METHOD(sup_fixture, "supervisor: stopping the owner stops the children", "[supervisor]") {
  auto s = spawn_sup("test", {worker_def("a"), worker_def("b")});
  anon_send_exit(s, caf::exit_reason::user_shutdown);
  run();
  CHECK(log->names("stop") == names{"b", "a"});
  advance(1000ms);
  CHECK(log->names("restart").empty());
}

TEST_CASE_METHOD(sup_fixture, "supervisor: escalation through two levels", "[supervisor]") {
  // inner gives up at its first restart; outer restarts inner once, then gives up.
  supervision_settings inner_settings;
  inner_settings.max_restarts = 0;
  settings.max_restarts = 1;
  settings.within_ms = 60000;
  auto d = worker_def("inner.w");
  auto l = log;
  auto o = origin;
  auto dd = deps;
  child_def inner{"inner", restart_type::permanent,
                  [inner_settings, d, dd, l, o](caf::local_actor* parent) {
                    return parent->spawn(test_supervisor, std::string{"inner"}, inner_settings,
                                         std::vector<child_def>{d}, dd, l, o);
                  }};
  auto outer = spawn_sup("outer", {inner, worker_def("sibling")});
  auto w = watch(outer);
  auto sibling = addr("sibling");
  // inner starts its own child once it runs, after outer added "sibling".
  REQUIRE(log->names("start") == names{"inner", "sibling", "inner.w"});

  crash("inner.w");
  advance(100ms);
  CHECK(log->names("restart") == names{"inner"});
  CHECK(log->names("start") == names{"inner", "sibling", "inner.w", "inner.w"});
  CHECK_FALSE(w->down);
  CHECK(addr("sibling") == sibling); // one_for_one at the outer level
  CHECK(count_events("actor_escalated") == 1);

  crash("inner.w"); // the new inner escalates again: outer exceeds 1 restart
  REQUIRE(w->down);
  CHECK(w->reason == caf::sec::runtime_error);
  auto esc = events("actor_escalated", "supervisor");
  REQUIRE(esc.size() == 3);
  CHECK(esc[0].at("payload").at("supervisor").as_string() == "inner");
  CHECK(esc[1].at("payload").at("supervisor").as_string() == "inner");
  CHECK(esc[2].at("payload").at("supervisor").as_string() == "outer");
  CHECK(esc[2].at("payload").at("actor").as_string() == "inner");
}

// Known bug: handle_down() overwrites pending_restart_ and bumps generation_ for
// every failure, so a second child that fails while the first one's restart
// timer is pending cancels that restart: the first child is never restarted.
TEST_CASE_METHOD(sup_fixture,
                 "supervisor: one_for_one restarts two children that fail within the delay",
                 "[supervisor]") {
  settings.strategy = restart_strategy::one_for_one;
  spawn_sup("test", {worker_def("a"), worker_def("b")});
  crash("a");
  advance(50ms);
  crash("b");
  advance(5000ms);
  auto restarts = log->names("restart");
  CHECK(std::count(restarts.begin(), restarts.end(), "a") == 1);
  CHECK(std::count(restarts.begin(), restarts.end(), "b") == 1);
}

TEST_CASE_METHOD(sup_fixture,
                 "supervisor: rest_for_one group restart covers a pending restart of a later child",
                 "[supervisor]") {
  settings.strategy = restart_strategy::rest_for_one;
  spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  crash("c"); // restarts c at +100 ms
  advance(10ms);
  crash("a"); // restarts a, b, c at +200 ms
  advance(5000ms);
  auto restarts = log->names("restart");
  CHECK(restarts == names{"a", "b", "c"});
}

// -- orderly shutdown -------------------------------------------------------------

TEST_CASE_METHOD(sup_fixture,
                 "supervisor: orderly shutdown stops children in reverse order, then done",
                 "[supervisor][shutdown]") {
  auto s = spawn_sup("test", {worker_def("a"), worker_def("b"), worker_def("c")});
  auto w = watch(s);
  anon_send(s, stop_atom::value);
  run();
  CHECK(log->names("stop") == names{"c", "b", "a"});
  CHECK(log->names("done").size() == 1);
  REQUIRE(w->down);
  CHECK_FALSE(w->reason);
  advance(1000ms);
  CHECK(log->names("restart").empty());
}

TEST_CASE_METHOD(sup_fixture,
                 "supervisor: orderly shutdown waits for each child, kills a stuck one",
                 "[supervisor][shutdown]") {
  auto s = spawn_sup("test", {worker_def("a"), worker_def("b", restart_type::permanent, true),
                              worker_def("c")});
  auto w = watch(s);
  anon_send(s, stop_atom::value);
  run();
  CHECK(log->names("stop") == names{"c"});
  advance(499ms);
  CHECK(log->names("stop") == names{"c"}); // a waits for b
  CHECK_FALSE(w->down);
  advance(1ms);
  CHECK(log->names("stop") == names{"c", "b", "a"});
  CHECK(log->names("done").size() == 1);
  CHECK(w->down);
  CHECK(log->names("restart").empty());
}

TEST_CASE_METHOD(sup_fixture, "supervisor: a restart pending at shutdown does not happen",
                 "[supervisor][shutdown]") {
  auto s = spawn_sup("test", {worker_def("a"), worker_def("b")});
  crash("a"); // restart due at +100 ms
  anon_send(s, stop_atom::value);
  run();
  advance(1000ms);
  CHECK(log->names("restart").empty());
  CHECK(log->names("done").size() == 1);
}

// Known deviation from the Erlang/OTP semantics the header promises: a
// temporary child is never restarted, not even when a sibling's failure makes
// one_for_all / rest_for_one restart the group; handle_down() restarts every
// index children_to_restart() returns, whatever its restart type and even if
// it had already ended on its own.
TEST_CASE_METHOD(sup_fixture, "supervisor: one_for_all does not bring back temporary children",
                 "[supervisor]") {
  settings.strategy = restart_strategy::one_for_all;
  spawn_sup("test", {worker_def("a"), worker_def("done", restart_type::temporary),
                     worker_def("tmp", restart_type::temporary)});
  stop("done"); // a temporary child that finished its work
  crash("a");
  advance(1000ms);
  CHECK(log->names("restart") == names{"a"});
}
