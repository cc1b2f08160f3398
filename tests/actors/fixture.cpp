#include "fixture.hpp"

#include "coffeeshop/telemetry/event_journal.hpp"

#include <catch2/catch.hpp>

#include <map>

namespace cstest {

fake_response respond(int status, std::string body, std::optional<std::string> retry_after) {
  fake_response r;
  r.reply.status = status;
  r.reply.body = std::move(body);
  r.reply.retry_after = std::move(retry_after);
  return r;
}

fake_response respond_ok() { return respond(200, R"({"success":true,"reference":"ref-1"})"); }

fake_response fail_transport(transport_error e) {
  fake_response r;
  r.reply.error = e;
  r.reply.error_message = "scripted transport failure";
  return r;
}

fake_response hang() {
  fake_response r;
  r.what = fake_response::kind::hang;
  return r;
}

fake_response after(millis d, fake_response r) {
  r.delay = d;
  return r;
}

std::optional<std::string> recorded_call::header(const std::string& name) const {
  for (const auto& kv : call.headers)
    if (kv.first == name)
      return kv.second;
  return std::nullopt;
}

namespace {

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;

struct fake_state {
  uint64_t next_delayed = 1;
  std::map<uint64_t, std::pair<caf::typed_response_promise<http_reply>, http_reply>> delayed;
};

} // namespace

caf::behavior fake_transport(caf::event_based_actor* self, script_ptr script,
                             caf::actor_clock::time_point origin) {
  auto st = std::make_shared<fake_state>();
  return {
    [self, script, origin, st](call_atom, http_call& call) -> caf::result<http_reply> {
      auto index = script->calls.size();
      script->calls.push_back(
        recorded_call{call, std::chrono::duration_cast<millis>(self->clock().now() - origin)});
      fake_response r;
      if (!script->queue.empty()) {
        r = std::move(script->queue.front());
        script->queue.pop_front();
      } else if (script->fn) {
        r = script->fn(call, index);
      } else {
        r = script->fallback;
      }
      if (r.what == fake_response::kind::hang) {
        script->held.push_back(self->make_response_promise<http_reply>());
        return script->held.back();
      }
      if (r.delay.count() > 0) {
        auto id = st->next_delayed++;
        auto rp = self->make_response_promise<http_reply>();
        st->delayed.emplace(id, std::make_pair(rp, r.reply));
        self->delayed_send(self, r.delay, deliver_atom::value, id);
        return rp;
      }
      return r.reply;
    },
    [st](deliver_atom, uint64_t id) {
      auto i = st->delayed.find(id);
      if (i == st->delayed.end())
        return;
      i->second.first.deliver(i->second.second);
      st->delayed.erase(i);
    },
    [script](release_atom, const http_reply& reply) {
      auto held = std::move(script->held);
      script->held.clear();
      for (auto& rp : held)
        rp.deliver(reply);
    },
  };
}

test_config_holder::test_config_holder() { cfg.set("scheduler.policy", caf::atom("testing")); }

fixture::fixture()
  : sys(cfg),
    sched(dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler())),
    origin(sched.clock().now()) {
  deps.log = std::make_shared<logger>(log_level::error, log_format::json);
  deps.stats = std::make_shared<metrics>();
  deps.journal = std::make_shared<event_journal>(100000);
  deps.events = std::make_shared<event_sink>();
  deps.store = make_memory_order_store();
  reset_board(payment_settings().circuit_breaker, payment_settings().circuit_breaker);
  auto logger = sys.spawn(event_logger, deps);
  logger_actor = keep(caf::actor_cast<caf::actor>(logger));
  deps.events->bind(logger);
  sched.run();
}

fixture::~fixture() {
  for (auto& a : owned)
    caf::anon_send_exit(a, caf::exit_reason::kill);
  while (sched.run() || sched.trigger_timeouts()) {
  }
}

void fixture::reset_board(const breaker_settings& payment, const breaker_settings& notification) {
  deps.board = std::make_shared<integration_board>(payment, notification);
}

millis fixture::now() const {
  return std::chrono::duration_cast<millis>(sched.clock().now() - origin);
}

void fixture::advance(millis d) {
  sched.run();
  for (int64_t i = 0; i < d.count(); ++i) {
    sched.advance_time(std::chrono::milliseconds{1});
    sched.run();
  }
}

std::pair<caf::actor, script_ptr> fixture::make_fake() {
  auto script = std::make_shared<fake_script>();
  auto a = keep(sys.spawn(fake_transport, script, origin));
  return {a, script};
}

integration_spec fixture::spec_for(service_kind kind, const service_settings& s,
                                   caf::actor transport, std::string url) {
  integration_spec spec;
  spec.kind = kind;
  spec.settings = s;
  spec.url = std::move(url);
  // The scripted fake answers any number of calls at once: it stands in for
  // every worker, and a retired one simply stays in service.
  auto fake = caf::actor_cast<transport_actor>(transport);
  spec.workers.spawn = [fake](caf::local_actor*) { return fake; };
  spec.workers.retire = [](caf::local_actor*, const transport_actor&) {};
  spec.deps = deps;
  spec.jitter_seed = 42;
  return spec;
}

caf::actor fixture::spawn_payment(const service_settings& s, caf::actor transport) {
  auto a = keep(caf::actor_cast<caf::actor>(
    coffeeshop::spawn_payment(sys, spec_for(service_kind::payment, s, transport))));
  sched.run();
  return a;
}

caf::actor fixture::spawn_notification(const service_settings& s, caf::actor transport) {
  auto a = keep(caf::actor_cast<caf::actor>(coffeeshop::spawn_notification(
    sys, spec_for(service_kind::notification, s, transport, "http://upstream.test/notify"))));
  sched.run();
  return a;
}

void service_fixture::start_transport(const service_settings& s) {
  reset_board(s.circuit_breaker, s.circuit_breaker);
  std::tie(transport, script) = make_fake();
}

std::shared_ptr<watch_result> fixture::watch(const caf::actor& a) {
  auto res = std::make_shared<watch_result>();
  keep(sys.spawn([res, a](caf::event_based_actor* self) -> caf::behavior {
    self->set_down_handler([self, res](caf::down_msg& dm) {
      res->down = true;
      res->reason = dm.reason;
      self->quit();
    });
    self->monitor(a);
    return {[](stop_atom) {}};
  }));
  sched.run();
  return res;
}

std::vector<boost::json::object> fixture::events(const std::string& type,
                                                 std::optional<std::string> service,
                                                 std::optional<std::string> order_id) {
  sched.run();
  std::vector<boost::json::object> out;
  for (auto& v : deps.journal->recent(100000, service, order_id)) {
    auto& o = v.as_object();
    if (o.at("eventType").as_string() == type)
      out.push_back(o);
  }
  return out;
}

service_settings payment_settings() {
  service_settings s; // CONTRACT §2 defaults
  return s;
}

charge_request charge(const std::string& id, const std::string& trace) {
  charge_request c;
  c.order_id = id;
  c.amount = 450;
  c.currency = "USD";
  c.payment_method = "credit_card";
  c.trace_id = trace;
  return c;
}

create_order_command create_command(std::optional<std::string> key, std::string fingerprint) {
  create_order_command cmd;
  cmd.request.customer_email = "ana@example.com";
  cmd.request.payment_method = "credit_card";
  cmd.request.currency = "USD";
  cmd.request.items.push_back(order_line{"latte", "vanilla", 1, 450, 450});
  cmd.request.total = 450;
  cmd.idempotency_key = std::move(key);
  cmd.fingerprint = std::move(fingerprint);
  cmd.trace_id = "0123456789abcdef0123456789abcdef";
  return cmd;
}

int event_attempt(const boost::json::object& ev) {
  auto& meta = ev.at("metadata").as_object();
  auto* a = meta.if_contains("attempt");
  if (!a)
    return 0;
  return std::stoi(std::string{a->as_string()});
}

std::string str_of(const boost::json::value& v) {
  if (v.is_string())
    return std::string{v.get_string()};
  return boost::json::serialize(v);
}

coordinator_fixture::coordinator_fixture()
  : pay_settings(payment_settings()),
    notif_settings(payment_settings()),
    writer(make_inline_writer(*deps.store, deps.stats, deps.store_state)) {
  std::tie(pay_fake, pay) = make_fake();
  std::tie(notif_fake, notif) = make_fake();
}

void coordinator_fixture::start() {
  reset_board(pay_settings.circuit_breaker, notif_settings.circuit_breaker);
  coordinator_spec cs;
  cs.deps = deps;
  cs.supervision = supervision;
  cs.writer = writer;
  cs.start_payment = [this](caf::local_actor* parent) {
    return coffeeshop::spawn_payment(parent,
                                     spec_for(service_kind::payment, pay_settings, pay_fake));
  };
  cs.start_notification = [this](caf::local_actor* parent) {
    return coffeeshop::spawn_notification(parent,
                                          spec_for(service_kind::notification, notif_settings,
                                                   notif_fake, "http://upstream.test/notify"));
  };
  coord = keep(caf::actor_cast<caf::actor>(spawn_order_coordinator(sys, std::move(cs))));
  run();
}

slot_ptr<create_order_reply> coordinator_fixture::create(create_order_command cmd) {
  auto slot = ask<create_order_reply>(coord, create_atom::value, std::move(cmd));
  run();
  return slot;
}

slot_ptr<create_order_reply> coordinator_fixture::create() { return create(create_command()); }

slot_ptr<change_status_reply> coordinator_fixture::change(const std::string& id,
                                                          order_status target) {
  auto slot = ask<change_status_reply>(coord, status_atom::value,
                                       change_status_command{id, target, "trace"});
  run();
  return slot;
}

slot_ptr<integration_view> coordinator_fixture::circuit(service_kind kind, circuit_action action) {
  auto slot = ask<integration_view>(coord, circuit_atom::value, kind, action);
  run();
  return slot;
}

order coordinator_fixture::stored(const std::string& id) {
  auto o = deps.store->get(id);
  REQUIRE(o);
  return *o;
}

} // namespace cstest
