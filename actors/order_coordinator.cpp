#include "order_coordinator.hpp"

#include "notification.hpp"
#include "payment.hpp"
#include "supervisor.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

#include <caf/all.hpp>

#include <memory>
#include <optional>
#include <unordered_map>

namespace coffeeshop {

namespace {

constexpr const char* payment_child = "payment";
constexpr const char* notification_child = "notification";

struct coordinator_state {
  struct pending_payment {
    /// The order as stored: this actor is its only writer, so while the
    /// payment runs this copy is current and no store read is needed.
    order placed;
    caf::typed_response_promise<create_order_reply> promise;
    uint64_t issue = 0; // which request is current; replies to older ones are stale
  };
  struct pending_notification {
    notify_request request;
    std::size_t index = 0; // position in order.notifications
    uint64_t issue = 0;
  };

  coordinator_spec spec;
  std::shared_ptr<supervisor_core> supervisor;
  std::unordered_map<std::string, pending_payment> payments; // by order id
  std::unordered_map<std::string, std::string> keys_in_progress; // Idempotency-Key -> order id
  std::unordered_map<uint64_t, pending_notification> notifications;
  uint64_t next_issue = 1;
  uint64_t next_notification = 1;

  static inline const char* name = "order_coordinator";
};

/// The interface plus the timers the coordinator's supervisor sends it.
using coordinator_impl = coordinator_actor::extend_with<supervisor_timers>;
using coordinator_self = coordinator_impl::stateful_pointer<coordinator_state>;

void emit_order_event(coordinator_self self, const order& o, const char* type,
                      boost::json::object payload) {
  payload["status"] = to_string(o.status);
  self->state.spec.deps.events->emit(
    make_event("orders", type, o.trace_id, o.id, 0, std::move(payload)));
}

void record_status(coordinator_self self, const order& o) {
  self->state.spec.deps.stats->orders.add({{"status", to_string(o.status)}});
}

/// A new order from a validated create command, status pending_payment.
order open_order(create_order_command& cmd) {
  order o;
  o.id = make_order_id();
  o.items = std::move(cmd.request.items);
  o.total = cmd.request.total;
  o.currency = std::move(cmd.request.currency);
  o.customer_email = std::move(cmd.request.customer_email);
  o.payment_method = std::move(cmd.request.payment_method);
  o.created_at_ms = o.updated_at_ms = now_ms();
  o.trace_id = cmd.trace_id;
  o.idempotency_key = cmd.idempotency_key;
  o.request_fingerprint = std::move(cmd.fingerprint);
  return o;
}

/// Stores an order whose payment is never attempted as payment_failed and
/// answers with `why` (which the ingress maps onto 503).
create_order_reply record_unpaid_order(coordinator_self self, order o, call_outcome why,
                                       const char* event_type) {
  o.status = order_status::payment_failed;
  o.payment.status = "failed";
  o.updated_at_ms = now_ms();
  put_order(*self->state.spec.deps.store, o);
  record_status(self, o);
  emit_order_event(self, o, event_type, {{"reason", why.detail}});
  create_order_reply reply;
  reply.result = create_result::payment_failed;
  reply.payment = std::move(why);
  reply.placed = std::move(o);
  return reply;
}

/// Fail fast: while the payment breaker (as its actor last reported it) is
/// open, a new order is recorded unpaid without a hop to the payment actor.
/// Keyed requests still go through it, with the keys in progress tracked.
create_order_reply refuse_at_once(coordinator_self self, order o, millis refusing) {
  call_outcome why;
  why.result = call_result::circuit_open;
  why.retry_after = refusing;
  why.detail = "the payment circuit is open";
  auto reply = record_unpaid_order(self, std::move(o), std::move(why), "order_created");
  auto& deps = self->state.spec.deps;
  count_rejected_call(deps, service_kind::payment);
  deps.events->emit(make_event(service_kind::payment, "call_rejected", reply.placed.trace_id,
                               reply.placed.id, 1,
                               {{"reason", "circuit open"},
                                {"retryAfterMs", refusing.count()},
                                {"where", "coordinator"}}));
  return reply;
}

/// Sends work to a child and routes its outcome to `complete`, unless the work
/// was re-issued meanwhile (a newer issue number) or the child died holding it
/// (its successor gets it again). No timeout, so no timer per call: the
/// integration actors end every call within their own budget.
template <class Child, class Map, class Request, class Complete>
void ask_child(coordinator_self self, const Child& child, Map coordinator_state::*pending,
               typename Map::key_type key, uint64_t issue, Request req, Complete complete) {
  auto current = [self, pending, key, issue] {
    auto& m = self->state.*pending;
    auto j = m.find(key);
    return j != m.end() && j->second.issue == issue;
  };
  self->request(child, caf::infinite, call_atom::value, std::move(req))
    .then(
      [self, key, current, complete](call_outcome& out) {
        if (current())
          complete(self, key, out);
      },
      [self, key, current, complete](caf::error& err) {
        if (!current() || err == caf::sec::request_receiver_down)
          return;
        call_outcome out;
        out.result = call_result::timed_out;
        out.detail = "the integration actor failed: " + self->system().render(err);
        complete(self, key, out);
      });
}

void issue_notification(coordinator_self self, uint64_t id);

void queue_notification(coordinator_self self, const order& o) {
  auto& st = self->state;
  auto id = st.next_notification++;
  coordinator_state::pending_notification pn;
  pn.request = notify_request{o.id, std::string{to_string(o.status)}, o.customer_email, o.trace_id};
  pn.index = o.notifications.size() - 1;
  st.notifications.emplace(id, std::move(pn));
  issue_notification(self, id);
}

void complete_notification(coordinator_self self, uint64_t id, const call_outcome& out) {
  auto& st = self->state;
  auto i = st.notifications.find(id);
  if (i == st.notifications.end())
    return;
  auto pn = std::move(i->second);
  st.notifications.erase(i);
  auto o = st.spec.deps.store->get(pn.request.order_id);
  if (!o || pn.index >= o->notifications.size())
    return;
  auto& rec = o->notifications[pn.index];
  rec.state = out.result == call_result::succeeded ? "sent" : "failed";
  rec.attempts += out.attempts;
  o->updated_at_ms = now_ms();
  put_order(*st.spec.deps.store, *o);
}

void issue_notification(coordinator_self self, uint64_t id) {
  auto& st = self->state;
  auto i = st.notifications.find(id);
  if (i == st.notifications.end())
    return;
  auto child = caf::actor_cast<notification_actor>(st.supervisor->child(notification_child));
  if (!child)
    return; // re-issued when the successor starts
  auto issue = i->second.issue = st.next_issue++;
  ask_child(self, child, &coordinator_state::notifications, id, issue, i->second.request,
            complete_notification);
}

void complete_payment(coordinator_self self, const std::string& order_id,
                      const call_outcome& out) {
  auto& st = self->state;
  auto i = st.payments.find(order_id);
  if (i == st.payments.end())
    return;
  auto pending = std::move(i->second);
  st.payments.erase(i);
  create_order_reply reply;
  reply.payment = out;
  auto* o = &pending.placed;
  if (o->idempotency_key)
    st.keys_in_progress.erase(*o->idempotency_key);
  bool paid = out.result == call_result::succeeded;
  o->status = paid ? order_status::waiting : order_status::payment_failed;
  o->payment.status = paid ? "succeeded" : "failed";
  o->payment.attempts += out.attempts;
  if (out.reference)
    o->payment.reference = out.reference;
  o->updated_at_ms = now_ms();
  put_order(*st.spec.deps.store, *o);
  record_status(self, *o);
  boost::json::object payload{{"from", "pending_payment"}, {"attempts", out.attempts}};
  if (!paid)
    payload["reason"] = out.detail;
  emit_order_event(self, *o, "order_status_changed", std::move(payload));
  reply.result = paid ? create_result::created : create_result::payment_failed;
  reply.placed = std::move(*o);
  pending.promise.deliver(std::move(reply));
}

void issue_payment(coordinator_self self, const std::string& order_id) {
  auto& st = self->state;
  auto i = st.payments.find(order_id);
  if (i == st.payments.end())
    return;
  auto child = caf::actor_cast<payment_actor>(st.supervisor->child(payment_child));
  if (!child)
    return; // re-issued when the successor starts
  const auto& o = i->second.placed;
  auto issue = i->second.issue = st.next_issue++;
  charge_request req{o.id, o.total, o.currency, o.payment_method, o.trace_id};
  ask_child(self, child, &coordinator_state::payments, order_id, issue, std::move(req),
            complete_payment);
}

/// Re-issues every payment or notification the crashed child may have held.
/// Payments keep their Idempotency-Key (the order id), so none is charged twice.
void reissue(coordinator_self self, const std::string& child) {
  auto& st = self->state;
  if (child == payment_child) {
    std::vector<std::string> ids;
    for (const auto& kv : st.payments)
      ids.push_back(kv.first);
    for (const auto& id : ids)
      issue_payment(self, id);
  } else {
    std::vector<uint64_t> ids;
    for (const auto& kv : st.notifications)
      ids.push_back(kv.first);
    for (auto id : ids)
      issue_notification(self, id);
  }
}

caf::result<create_order_reply> create_order(coordinator_self self,
                                             create_order_command& cmd) {
  auto& st = self->state;
  auto& store = *st.spec.deps.store;
  std::optional<order> retrying;
  if (cmd.idempotency_key) {
    if (auto k = st.keys_in_progress.find(*cmd.idempotency_key); k != st.keys_in_progress.end()) {
      create_order_reply reply;
      reply.result = create_result::in_progress;
      if (auto o = store.get(k->second))
        reply.placed = std::move(*o);
      return reply;
    }
    if (auto existing = store.find_by_idempotency_key(*cmd.idempotency_key)) {
      create_order_reply reply;
      reply.placed = *existing;
      if (existing->request_fingerprint != cmd.fingerprint) {
        reply.result = create_result::key_mismatch;
        return reply;
      }
      if (existing->status != order_status::payment_failed) {
        reply.result = create_result::replayed;
        return reply;
      }
      retrying = std::move(existing);
    }
  }
  order o;
  if (retrying) {
    o = std::move(*retrying);
    o.status = order_status::pending_payment;
    o.payment.status = "pending";
    o.updated_at_ms = now_ms();
  } else {
    o = open_order(cmd);
  }
  if (!retrying && !cmd.idempotency_key)
    if (auto refusing = st.spec.deps.board->refusing_for(service_kind::payment, self->clock().now()))
      return refuse_at_once(self, std::move(o), *refusing);
  if (cmd.shed) {
    call_outcome why;
    why.result = call_result::overloaded;
    why.retry_after = millis{1000};
    why.detail = "too many orders in flight (http.max_inflight_orders); retry later";
    return record_unpaid_order(self, std::move(o), std::move(why),
                               retrying ? "order_status_changed" : "order_created");
  }
  put_order(store, o);
  record_status(self, o);
  if (!retrying)
    emit_order_event(self, o, "order_created",
                     {{"total", to_wire_amount(o.total)},
                      {"items", static_cast<int64_t>(o.items.size())},
                      {"customerEmail", mask_email(o.customer_email)}});
  else
    emit_order_event(self, o, "order_status_changed",
                     {{"from", "payment_failed"}, {"reason", "payment retried by idempotent request"}});
  if (o.idempotency_key)
    st.keys_in_progress.emplace(*o.idempotency_key, o.id);
  auto rp = self->make_response_promise<create_order_reply>();
  auto id = o.id;
  st.payments.emplace(id, coordinator_state::pending_payment{std::move(o), rp, 0});
  issue_payment(self, id);
  return rp;
}

change_status_reply change_status(coordinator_self self, const change_status_command& cmd) {
  auto& store = *self->state.spec.deps.store;
  change_status_reply reply;
  auto o = store.get(cmd.order_id);
  if (!o) {
    reply.result = change_result::not_found;
    return reply;
  }
  if (!can_transition(o->status, cmd.target)) {
    reply.result = change_result::conflict;
    reply.current = std::move(*o);
    return reply;
  }
  auto from = o->status;
  o->status = cmd.target;
  o->notifications.push_back(notification_record{std::string{to_string(cmd.target)}});
  o->updated_at_ms = now_ms();
  put_order(store, *o);
  record_status(self, *o);
  emit_order_event(self, *o, "order_status_changed", {{"from", to_string(from)}});
  queue_notification(self, *o);
  reply.result = change_result::changed;
  reply.current = std::move(*o);
  return reply;
}

coordinator_impl::behavior_type coordinator_behavior(coordinator_self self, coordinator_spec spec);

/// Forwards an operator's circuit action to the integration actor of `kind`.
template <class Child>
caf::result<integration_view> forward_circuit(coordinator_self self, const Child& child,
                                              circuit_action action) {
  if (!child)
    return caf::make_error(caf::sec::request_receiver_down, "integration actor restarting");
  auto rp = self->make_response_promise<integration_view>();
  self->request(child, std::chrono::seconds{5}, circuit_atom::value, action)
    .then([rp](integration_view& v) mutable { rp.deliver(std::move(v)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

} // namespace

coordinator_actor spawn_order_coordinator(caf::local_actor* parent, coordinator_spec spec) {
  return parent->spawn(coordinator_behavior, std::move(spec));
}

coordinator_actor spawn_order_coordinator(caf::actor_system& sys, coordinator_spec spec) {
  return sys.spawn(coordinator_behavior, std::move(spec));
}

namespace {

coordinator_impl::behavior_type coordinator_behavior(coordinator_self self, coordinator_spec spec) {
  auto& st = self->state;
  st.spec = std::move(spec);
  st.supervisor = std::make_shared<supervisor_core>(self, "order_coordinator",
                                                    st.spec.supervision, st.spec.deps);
  for (const char* name : {payment_child, notification_child}) {
    child_spec cs;
    cs.name = name;
    cs.restart = restart_type::permanent;
    if (name == std::string{payment_child})
      cs.start = [start = st.spec.start_payment](caf::local_actor* parent) {
        return caf::actor_cast<caf::actor>(start(parent));
      };
    else
      cs.start = [start = st.spec.start_notification](caf::local_actor* parent) {
        return caf::actor_cast<caf::actor>(start(parent));
      };
    cs.on_started = [self, child = std::string{name}](const caf::actor&, bool restarted) {
      if (restarted)
        reissue(self, child);
    };
    st.supervisor->add(std::move(cs));
  }
  self->set_down_handler([self](caf::down_msg& dm) { self->state.supervisor->handle_down(dm); });
  self->attach_functor([sup = st.supervisor](const caf::error&) { sup->stop_all(); });
  return {
    [self](create_atom, create_order_command& cmd) { return create_order(self, cmd); },
    [self](status_atom, const change_status_command& cmd) { return change_status(self, cmd); },
    [self](circuit_atom, service_kind kind,
           circuit_action action) -> caf::result<integration_view> {
      auto child = self->state.supervisor->child(to_string(kind));
      if (kind == service_kind::payment)
        return forward_circuit(self, caf::actor_cast<payment_actor>(child), action);
      return forward_circuit(self, caf::actor_cast<notification_actor>(child), action);
    },
    [self](crash_atom, const std::string& name) {
      auto child = self->state.supervisor->child(name);
      if (name == payment_child)
        self->send(caf::actor_cast<payment_actor>(child), crash_atom::value);
      else if (name == notification_child)
        self->send(caf::actor_cast<notification_actor>(child), crash_atom::value);
    },
    [self](restart_atom, uint64_t generation) {
      self->state.supervisor->handle_restart_timer(generation);
    },
    [self](shutdown_atom, uint64_t step) { self->state.supervisor->handle_shutdown_timer(step); },
  };
}

} // namespace

} // namespace coffeeshop
