#include "order_coordinator.hpp"

#include "notification.hpp"
#include "payment.hpp"
#include "supervisor.hpp"

#include "coffeeshop/live_settings.hpp"
#include "coffeeshop/store/work_leases.hpp"
#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

#include <caf/all.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

namespace coffeeshop {

namespace {

constexpr const char* payment_child = "payment";
constexpr const char* notification_child = "notification";

/// How long a notification waits before it is tried again when the
/// notification actor could not take it or its result could not be committed.
constexpr millis redelivery_delay{1000};

struct coordinator_state {
  struct pending_payment {
    /// The order as committed: this actor is its only writer, so while the
    /// payment runs this copy is current and no store read is needed.
    order placed;
    /// Empty for an order resumed at start: nobody waits for its reply.
    std::optional<caf::typed_response_promise<create_order_reply>> promise;
    uint64_t issue = 0; // which request is current; replies to older ones are stale
    /// Paid before by an earlier run or call (resumed from pending_payment):
    /// the upstream may already have charged it under its key, so a refusal
    /// that sent nothing must not fail it.
    bool resumed = false;
    /// The span of the request that asked for this payment, parent of its call span;
    /// empty when no request of the order's trace waits (resumed at start).
    std::string parent_span;
    /// That request's trace-flags, sent upstream as received; the order's stored ones
    /// (order::trace_flags) when resumed.
    std::string trace_flags = "01";
  };
  struct delivery {
    notify_request request;
    uint64_t issue = 0;
  };

  coordinator_spec spec;
  std::shared_ptr<supervisor_core> supervisor;
  std::unordered_map<std::string, pending_payment> payments;     // by order id
  std::unordered_map<std::string, std::string> keys_in_progress; // Idempotency-Key -> order id
  uint64_t next_issue = 1;
  /// The live_settings version spec.notification_concurrency was read at.
  uint64_t settings_version = 0;

  // -- the outbox: per order, its entries in status order; the front one is
  // being delivered (in `delivering`) or waits in `ready` for a slot.
  std::unordered_map<std::string, std::deque<outbox_entry>> outbox;
  std::unordered_map<std::string, delivery> delivering; // by order id
  std::deque<std::string> ready;
  /// Orders whose front entry waits out an open breaker or a full bulkhead.
  std::unordered_set<std::string> paused;

  // -- writes: continuations by ticket; per order, operations wait while a
  // write of that order is being committed, so each reads what the last one wrote.
  std::unordered_map<uint64_t, std::function<void(const commit_result&)>> commits;
  uint64_t next_ticket = 1;
  std::unordered_set<std::string> writing;
  std::unordered_map<std::string, std::deque<std::function<void()>>> waiting_ops;
  bool store_ok = true;

  static inline const char* name = "order_coordinator";
};

/// The interface plus the messages the coordinator sends itself.
using coordinator_impl = coordinator_actor::extend_with<supervisor_timers>::extend<
  caf::reacts_to<committed_atom, uint64_t, commit_result>,
  caf::reacts_to<redeliver_atom, std::string>, caf::reacts_to<repay_atom, std::string>,
  caf::reacts_to<adopt_atom, claimed_orders>>;
using coordinator_self = coordinator_impl::stateful_pointer<coordinator_state>;

void emit_order_event(coordinator_self self, const order& o, const char* type,
                      boost::json::object payload) {
  payload["status"] = to_string(o.status);
  self->state.spec.deps.events->emit(
    make_event("orders", type, o.trace_id, o.id, 0, std::move(payload)));
}

/// Several daemons share the store: an order's work is done by the daemon
/// holding its lease (CONTRACT §8).
bool shared_store(coordinator_self self) { return self->state.spec.deps.store_shared; }

/// Marks `w` as changing the lease on `order_id`'s work.
void change_lease(store_write& w, const std::string& order_id, store_write::lease_change c) {
  w.lease = c;
  w.lease_order = order_id;
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
  // Kept with the order: a payment resumed after a restart and the notifications go out
  // with the sampling decision of the request that made it.
  if (!cmd.trace_flags.empty())
    o.trace_flags = cmd.trace_flags;
  o.idempotency_key = cmd.idempotency_key;
  o.request_fingerprint = std::move(cmd.fingerprint);
  return o;
}

// -- writes -----------------------------------------------------------------------

/// Announces a store that stopped (or started again) taking commits.
void note_store(coordinator_self self, const commit_result& r) {
  auto& st = self->state;
  if (r.ok == st.store_ok)
    return;
  st.store_ok = r.ok;
  boost::json::object payload;
  if (!r.ok)
    payload["error"] = r.error;
  st.spec.deps.events->emit(
    make_event("store", r.ok ? "store_recovered" : "store_failed", "", "", 0, std::move(payload)));
  if (r.ok)
    st.spec.deps.log->info("store_recovered", {});
  else
    st.spec.deps.log->error("store_failed", {{"error", r.error}});
}

/// Hands `w` to the writer; `then` runs in this actor once it committed or failed.
void submit(coordinator_self self, store_write w, std::function<void(const commit_result&)> then) {
  auto& st = self->state;
  auto ticket = st.next_ticket++;
  st.commits.emplace(ticket, std::move(then));
  // A writer that answers inside submit() (the memory store's) gets its
  // continuation run right here; one on another thread sends a message.
  struct handoff {
    std::mutex mtx;
    bool submitting = true;
    std::optional<commit_result> early;
  };
  auto h = std::make_shared<handoff>();
  auto me = caf::actor_cast<caf::actor>(self);
  st.spec.writer->submit(std::move(w), [h, me, ticket](const commit_result& r) {
    {
      std::lock_guard guard{h->mtx};
      if (h->submitting) {
        h->early = r;
        return;
      }
    }
    caf::anon_send(me, committed_atom::value, ticket, r);
  });
  std::optional<commit_result> early;
  {
    std::lock_guard guard{h->mtx};
    h->submitting = false;
    early = std::move(h->early);
  }
  if (early) {
    auto i = st.commits.find(ticket);
    auto then = std::move(i->second);
    st.commits.erase(i);
    then(*early);
  }
}

void run_waiting(coordinator_self self, const std::string& order_id);

/// Runs `op` once no write of `order_id` is being committed.
void on_order(coordinator_self self, const std::string& order_id, std::function<void()> op) {
  auto& st = self->state;
  if (st.writing.count(order_id) == 0 && st.waiting_ops.count(order_id) == 0) {
    op();
    return;
  }
  st.waiting_ops[order_id].push_back(std::move(op));
  run_waiting(self, order_id);
}

void run_waiting(coordinator_self self, const std::string& order_id) {
  auto& st = self->state;
  while (st.writing.count(order_id) == 0) {
    auto i = st.waiting_ops.find(order_id);
    if (i == st.waiting_ops.end())
      return;
    auto op = std::move(i->second.front());
    i->second.pop_front();
    if (i->second.empty())
      st.waiting_ops.erase(i);
    op();
  }
}

/// Commits a write of one order; that order's next operation waits for it.
void write_order(coordinator_self self, const std::string& order_id, store_write w,
                 std::function<void(const commit_result&)> then) {
  self->state.writing.insert(order_id);
  submit(self, std::move(w), [self, order_id, then = std::move(then)](const commit_result& r) {
    self->state.writing.erase(order_id);
    then(r);
    run_waiting(self, order_id);
  });
}

store_write write_of(const order& o) {
  store_write w;
  w.orders.push_back(o);
  return w;
}

create_order_reply store_failed_reply(order o) {
  create_order_reply reply;
  reply.result = create_result::store_failed;
  reply.placed = std::move(o);
  return reply;
}

// -- unpaid orders ----------------------------------------------------------------

/// Commits an order whose payment is never attempted as payment_failed and
/// answers with `why` (which the ingress maps onto 503).
caf::result<create_order_reply> record_unpaid_order(coordinator_self self, order o,
                                                    call_outcome why, const char* event_type,
                                                    std::function<void(const order&)> after = {}) {
  o.status = order_status::payment_failed;
  o.payment.status = "failed";
  o.updated_at_ms = now_ms();
  auto rp = self->make_response_promise<create_order_reply>();
  auto id = o.id;
  auto w = write_of(o);
  write_order(self, id, std::move(w),
              [self, rp, o = std::move(o), why = std::move(why), event_type,
               after = std::move(after)](const commit_result& r) mutable {
                note_store(self, r);
                if (!r.ok) {
                  rp.deliver(store_failed_reply(std::move(o)));
                  return;
                }
                record_status(self, o);
                emit_order_event(self, o, event_type, {{"reason", why.detail}});
                if (after)
                  after(o);
                create_order_reply reply;
                reply.result = create_result::payment_failed;
                reply.payment = std::move(why);
                reply.placed = std::move(o);
                rp.deliver(std::move(reply));
              });
  return rp;
}

/// Fail fast: while the payment breaker (as its actor last reported it) is
/// open, a new order is recorded unpaid without a hop to the payment actor.
/// Keyed requests still go through it, with the keys in progress tracked.
caf::result<create_order_reply> refuse_at_once(coordinator_self self, order o, millis refusing) {
  call_outcome why;
  why.result = call_result::circuit_open;
  why.retry_after = refusing;
  why.detail = "the payment circuit is open";
  return record_unpaid_order(self, std::move(o), std::move(why), "order_created",
                             [self, refusing](const order& placed) {
                               auto& deps = self->state.spec.deps;
                               count_rejected_call(deps, service_kind::payment);
                               deps.events->emit(make_event(service_kind::payment, "call_rejected",
                                                            placed.trace_id, placed.id, 1,
                                                            {{"reason", "circuit open"},
                                                             {"retryAfterMs", refusing.count()},
                                                             {"where", "coordinator"}}));
                             });
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

// -- the outbox -------------------------------------------------------------------

void issue_delivery(coordinator_self self, const std::string& order_id);
void adopt(coordinator_self self, const std::string& order_id);

/// The notification bulkhead: the live notification max_connections (a reload may have
/// changed it), else the one the coordinator was started with.
int notification_concurrency(coordinator_state& st) {
  const auto& live = st.spec.deps.live;
  if (live && live->version() != st.settings_version) {
    st.settings_version = live->version();
    st.spec.notification_concurrency = live->service(service_kind::notification).max_connections;
  }
  return st.spec.notification_concurrency;
}

/// Starts the next deliveries while the notification bulkhead has room.
void pump(coordinator_self self) {
  auto& st = self->state;
  const int bulkhead = notification_concurrency(st);
  while (!st.ready.empty() && static_cast<int>(st.delivering.size()) < bulkhead) {
    auto order_id = std::move(st.ready.front());
    st.ready.pop_front();
    if (st.delivering.count(order_id) == 0)
      issue_delivery(self, order_id);
  }
}

/// Queues a committed entry behind its order's earlier ones.
void outbox_append(coordinator_self self, outbox_entry e) {
  auto& st = self->state;
  auto& q = st.outbox[e.order_id];
  q.push_back(std::move(e));
  if (q.size() == 1) {
    st.ready.push_back(q.front().order_id);
    pump(self);
  }
}

void complete_delivery(coordinator_self self, const std::string& order_id, const call_outcome& out);

void issue_delivery(coordinator_self self, const std::string& order_id) {
  auto& st = self->state;
  auto q = st.outbox.find(order_id);
  if (q == st.outbox.end() || q->second.empty())
    return;
  auto& d = st.delivering[order_id];
  if (d.request.entry_id != q->second.front().id) {
    const auto& e = q->second.front();
    auto o = st.spec.deps.store->get(order_id);
    d.request = notify_request{order_id,
                               e.id,
                               e.status,
                               o ? o->customer_email : std::string{},
                               o ? o->trace_id : std::string{},
                               o ? o->trace_flags : std::string{"01"}};
  }
  auto child = caf::actor_cast<notification_actor>(st.supervisor->child(notification_child));
  if (!child)
    return; // re-issued when the successor starts
  auto issue = d.issue = st.next_issue++;
  ask_child(self, child, &coordinator_state::delivering, order_id, issue, d.request,
            complete_delivery);
}

/// The entry waits and is tried again later: it is not failed.
void redeliver_later(coordinator_self self, const std::string& order_id, millis delay) {
  self->state.delivering.erase(order_id);
  self->state.paused.insert(order_id);
  self->delayed_send(self, delay, redeliver_atom::value, order_id);
  pump(self);
}

/// Paused orders try their front entry again (their wait ended, or the
/// notification breaker was reset).
void resume_paused(coordinator_self self, std::vector<std::string> order_ids) {
  auto& st = self->state;
  for (auto& id : order_ids)
    if (st.paused.erase(id) > 0 && st.outbox.count(id) > 0)
      st.ready.push_back(std::move(id));
  pump(self);
}

void complete_delivery(coordinator_self self, const std::string& order_id,
                       const call_outcome& out) {
  // An open breaker or a full bulkhead pauses delivery; it does not fail entries.
  if (out.refused_unsent()) {
    redeliver_later(self, order_id, std::max(out.retry_after, redelivery_delay));
    return;
  }
  on_order(self, order_id, [self, order_id, out] {
    auto& st = self->state;
    auto q = st.outbox.find(order_id);
    if (q == st.outbox.end() || q->second.empty())
      return;
    auto entry = q->second.front();
    bool sent = out.result == call_result::succeeded;
    entry.state = sent ? outbox_state::sent : outbox_state::failed;
    entry.attempts += out.attempts;
    entry.last_error = sent ? std::string{} : out.detail;
    store_write w;
    if (auto o = st.spec.deps.store->get(order_id)) {
      for (auto& rec : o->notifications)
        if (rec.id == entry.id) {
          rec.state = sent ? "sent" : "failed";
          rec.attempts += out.attempts;
        }
      o->updated_at_ms = now_ms();
      w.orders.push_back(std::move(*o));
    }
    w.outbox.push_back(entry);
    if (shared_store(self))
      change_lease(w, order_id, store_write::lease_change::give_back);
    write_order(self, order_id, std::move(w), [self, order_id](const commit_result& r) {
      note_store(self, r);
      auto& st = self->state;
      if (!r.ok) {
        // Delivered at least once: sent again once the store takes the result.
        redeliver_later(self, order_id, redelivery_delay);
        return;
      }
      st.delivering.erase(order_id);
      auto q = st.outbox.find(order_id);
      if (q != st.outbox.end()) {
        q->second.pop_front();
        if (q->second.empty())
          st.outbox.erase(q);
        else
          st.ready.push_back(order_id);
      }
      // Still holding the lease with nothing queued here: another daemon
      // added to the order's outbox since.
      if (shared_store(self) && r.leased && st.outbox.count(order_id) == 0)
        adopt(self, order_id);
      pump(self);
    });
  });
}

// -- payments ---------------------------------------------------------------------

/// `trace_flags` empty: the order's own (order::trace_flags).
void start_payment(coordinator_self self, order o,
                   std::optional<caf::typed_response_promise<create_order_reply>> promise,
                   bool resumed = false, std::string parent_span = {},
                   std::string trace_flags = {});

/// Takes up the work of an order whose lease this daemon holds (claimed, or
/// kept because work remained): its payment if still pending, and its
/// pending notifications, in status order, behind those queued here.
void adopt(coordinator_self self, const std::string& order_id) {
  on_order(self, order_id, [self, order_id] {
    auto& st = self->state;
    auto& store = *st.spec.deps.store;
    if (st.payments.count(order_id) == 0)
      if (auto o = store.get(order_id); o && o->status == order_status::pending_payment)
        start_payment(self, std::move(*o), std::nullopt, true);
    for (auto& e : store.outbox_pending_for(order_id)) {
      auto q = st.outbox.find(order_id);
      const bool queued = q != st.outbox.end() &&
                          std::any_of(q->second.begin(), q->second.end(),
                                      [&](const outbox_entry& known) { return known.id == e.id; });
      if (!queued)
        outbox_append(self, std::move(e));
    }
  });
}

/// A committed entry goes to this daemon's outbox when it holds the order's
/// lease; otherwise its holder (told by the store) delivers it.
void take_up(coordinator_self self, const commit_result& r, outbox_entry e) {
  if (!shared_store(self)) {
    outbox_append(self, std::move(e));
    return;
  }
  if (r.leased)
    adopt(self, e.order_id);
}

void complete_payment(coordinator_self self, const std::string& order_id, const call_outcome& out) {
  auto& st = self->state;
  auto i = st.payments.find(order_id);
  if (i == st.payments.end())
    return;
  if (i->second.resumed && out.refused_unsent()) {
    // Nothing was sent this time, but an earlier attempt may have charged it:
    // it stays pending_payment and is paid again later. A client waiting for
    // it hears why now (503) and finds it paid or failed when it asks again.
    auto& pending = i->second;
    if (pending.promise) {
      create_order_reply reply;
      reply.result = create_result::payment_failed;
      reply.payment = out;
      reply.placed = pending.placed;
      pending.promise->deliver(std::move(reply));
      pending.promise.reset();
    }
    self->delayed_send(self, std::max(out.retry_after, redelivery_delay), repay_atom::value,
                       order_id);
    return;
  }
  auto pending = std::move(i->second);
  st.payments.erase(i);
  auto o = std::move(pending.placed);
  bool paid = out.result == call_result::succeeded;
  o.status = paid ? order_status::waiting : order_status::payment_failed;
  o.payment.status = paid ? "succeeded" : "failed";
  o.payment.attempts += out.attempts;
  if (out.reference)
    o.payment.reference = out.reference;
  o.updated_at_ms = now_ms();
  auto w = write_of(o);
  if (shared_store(self))
    change_lease(w, order_id, store_write::lease_change::give_back);
  write_order(
    self, order_id, std::move(w),
    [self, o = std::move(o), out,
     promise = std::move(pending.promise)](const commit_result& r) mutable {
      note_store(self, r);
      auto& st = self->state;
      if (o.idempotency_key)
        st.keys_in_progress.erase(*o.idempotency_key);
      if (!r.ok) {
        // Left pending_payment in the store: resumed with the same key.
        if (promise)
          promise->deliver(store_failed_reply(std::move(o)));
        return;
      }
      if (shared_store(self) && r.leased)
        adopt(self, o.id); // another daemon queued work on it meanwhile
      record_status(self, o);
      boost::json::object payload{{"from", "pending_payment"}, {"attempts", out.attempts}};
      if (out.result != call_result::succeeded)
        payload["reason"] = out.detail;
      if (!promise) {
        emit_order_event(self, o, "order_recovered", std::move(payload));
        return;
      }
      emit_order_event(self, o, "order_status_changed", std::move(payload));
      create_order_reply reply;
      reply.payment = out;
      reply.result = out.result == call_result::succeeded ? create_result::created
                                                          : create_result::payment_failed;
      reply.placed = std::move(o);
      promise->deliver(std::move(reply));
    });
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
  charge_request req{o.id,
                     o.total,
                     o.currency,
                     o.payment_method,
                     o.trace_id,
                     i->second.parent_span,
                     i->second.trace_flags};
  ask_child(self, child, &coordinator_state::payments, order_id, issue, std::move(req),
            complete_payment);
}

/// Starts the payment of a committed pending order (new, retried, or resumed).
void start_payment(coordinator_self self, order o,
                   std::optional<caf::typed_response_promise<create_order_reply>> promise,
                   bool resumed, std::string parent_span, std::string trace_flags) {
  auto& st = self->state;
  if (o.idempotency_key)
    st.keys_in_progress[*o.idempotency_key] = o.id;
  if (trace_flags.empty())
    trace_flags = o.trace_flags;
  auto id = o.id;
  st.payments[id] = coordinator_state::pending_payment{
    std::move(o), std::move(promise), 0, resumed, std::move(parent_span), std::move(trace_flags)};
  issue_payment(self, id);
}

/// Re-issues every payment or notification the crashed child may have held.
/// Both keep their Idempotency-Key, so nothing is charged or sent twice.
void reissue(coordinator_self self, const std::string& child) {
  auto& st = self->state;
  std::vector<std::string> ids;
  if (child == payment_child) {
    for (const auto& kv : st.payments)
      ids.push_back(kv.first);
    for (const auto& id : ids)
      issue_payment(self, id);
  } else {
    for (const auto& kv : st.delivering)
      ids.push_back(kv.first);
    for (const auto& id : ids)
      issue_delivery(self, id);
  }
}

/// Resumes what the store says was left unfinished: orders in
/// pending_payment (paid again with the same Idempotency-Key) and
/// notifications still pending (delivered in status order).
void recover(coordinator_self self) {
  auto& st = self->state;
  auto& store = *st.spec.deps.store;
  if (shared_store(self)) {
    // Only the work this daemon holds leases on (a restarted coordinator);
    // the claimer hands over what it claims from others, now and later.
    if (st.spec.deps.leases)
      for (const auto& id : st.spec.deps.leases->held())
        adopt(self, id);
    if (st.spec.deps.claimer)
      st.spec.deps.claimer->listen(
        self->id(), [me = caf::actor_cast<caf::actor>(self)](std::vector<std::string> ids) {
          caf::anon_send(me, adopt_atom::value, claimed_orders{std::move(ids)});
        });
    return;
  }
  std::optional<std::string> after;
  while (true) {
    auto page = store.list(order_status::pending_payment, 500, after);
    for (auto& o : page.orders)
      start_payment(self, std::move(o), std::nullopt, true);
    if (!page.next)
      break;
    after = page.next;
  }
  for (auto& e : store.outbox_list(outbox_state::pending, std::numeric_limits<std::size_t>::max()))
    outbox_append(self, std::move(e));
}

// -- commands ---------------------------------------------------------------------

/// An operator puts a failed notification back: pending, attempts reset,
/// delivered again behind its order's other entries.
void requeue(coordinator_self self, const std::string& entry_id,
             caf::typed_response_promise<requeue_reply> rp) {
  auto& store = *self->state.spec.deps.store;
  requeue_reply reply;
  auto e = store.outbox_get(entry_id);
  if (!e) {
    reply.result = requeue_result::not_found;
    rp.deliver(std::move(reply));
    return;
  }
  if (e->state != outbox_state::failed) {
    reply.result = requeue_result::not_failed;
    reply.entry = std::move(*e);
    rp.deliver(std::move(reply));
    return;
  }
  e->state = outbox_state::pending;
  e->attempts = 0;
  e->last_error.clear();
  store_write w;
  std::string trace_id;
  if (auto o = store.get(e->order_id)) {
    trace_id = o->trace_id;
    for (auto& rec : o->notifications)
      if (rec.id == e->id) {
        rec.state = "pending";
        rec.attempts = 0;
      }
    w.orders.push_back(std::move(*o));
  }
  w.outbox.push_back(*e);
  auto order_id = e->order_id;
  if (shared_store(self))
    change_lease(w, order_id, store_write::lease_change::take);
  write_order(self, order_id, std::move(w),
              [self, rp, trace_id, e = std::move(*e)](const commit_result& r) mutable {
                note_store(self, r);
                requeue_reply reply;
                if (!r.ok) {
                  reply.result = requeue_result::store_failed;
                  rp.deliver(std::move(reply));
                  return;
                }
                self->state.spec.deps.events->emit(
                  make_event(service_kind::notification, "outbox_retried", trace_id, e.order_id, 0,
                             {{"entryId", e.id}, {"status", e.status}}));
                reply.entry = e;
                take_up(self, r, std::move(e));
                rp.deliver(std::move(reply));
              });
}

/// The request's server span when it belongs to the order's trace: an order paid again
/// under its Idempotency-Key keeps the trace of the request that created it.
std::string parent_span_for(const order& o, const create_order_command& cmd) {
  return o.trace_id == cmd.trace_id ? cmd.span_id : std::string{};
}

/// The request's trace-flags for the same case; for another trace, the flags stored with
/// the order (those of the request that created it).
std::string trace_flags_for(const order& o, const create_order_command& cmd) {
  if (o.trace_id == cmd.trace_id && !cmd.trace_flags.empty())
    return cmd.trace_flags;
  return o.trace_flags;
}

/// The answer to a request whose key another request (here or on another
/// daemon) holds: 422 for another body, 409 while it is not settled, the
/// replay once it is.
create_order_reply reply_to_key_holder(order holder, const std::string& fingerprint) {
  create_order_reply reply;
  if (holder.request_fingerprint != fingerprint)
    reply.result = create_result::key_mismatch;
  else if (holder.status == order_status::pending_payment ||
           holder.status == order_status::payment_failed)
    reply.result = create_result::in_progress;
  else
    reply.result = create_result::replayed;
  reply.placed = std::move(holder);
  return reply;
}

caf::result<create_order_reply> create_order(coordinator_self self, create_order_command& cmd) {
  auto& st = self->state;
  auto& store = *st.spec.deps.store;
  std::optional<order> retrying;
  if (cmd.idempotency_key) {
    if (auto k = st.keys_in_progress.find(*cmd.idempotency_key); k != st.keys_in_progress.end()) {
      if (st.writing.count(k->second) > 0 && st.payments.count(k->second) == 0) {
        // The order holding the key here is not committed yet and may still lose the key to
        // another daemon: answered as whoever holds it once that commit is in.
        auto rp = self->make_response_promise<create_order_reply>();
        on_order(self, k->second,
                 [self, rp, key = *cmd.idempotency_key, fingerprint = cmd.fingerprint]() mutable {
                   auto holder = self->state.spec.deps.store->find_by_idempotency_key(key);
                   rp.deliver(holder ? reply_to_key_holder(std::move(*holder), fingerprint)
                                     : store_failed_reply(order{}));
                 });
        return rp;
      }
      create_order_reply reply;
      reply.result = create_result::in_progress;
      if (auto p = st.payments.find(k->second); p != st.payments.end())
        reply.placed = p->second.placed;
      else
        reply.placed.id = k->second;
      return reply;
    }
    if (auto existing = store.find_by_idempotency_key(*cmd.idempotency_key)) {
      if (existing->request_fingerprint != cmd.fingerprint ||
          (existing->status == order_status::pending_payment && st.spec.deps.store_shared))
        return reply_to_key_holder(std::move(*existing), cmd.fingerprint);
      create_order_reply reply;
      reply.placed = *existing;
      if (existing->status == order_status::pending_payment) {
        // Committed, but its outcome was not: resume it under the same key.
        auto rp = self->make_response_promise<create_order_reply>();
        auto parent = parent_span_for(*existing, cmd);
        auto flags = trace_flags_for(*existing, cmd);
        start_payment(self, std::move(*existing), rp, true, std::move(parent), std::move(flags));
        return rp;
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
    if (auto refusing = st.spec.deps.board->refusing_for(service_kind::payment,
                                                         self->clock().now()))
      return refuse_at_once(self, std::move(o), *refusing);
  if (cmd.shed) {
    call_outcome why;
    why.result = call_result::overloaded;
    why.retry_after = millis{1000};
    why.detail = "too many orders in flight (http.max_inflight_orders); retry later";
    return record_unpaid_order(self, std::move(o), std::move(why),
                               retrying ? "order_status_changed" : "order_created");
  }
  auto rp = self->make_response_promise<create_order_reply>();
  if (o.idempotency_key)
    st.keys_in_progress[*o.idempotency_key] = o.id;
  auto id = o.id;
  auto w = write_of(o);
  bool retried = retrying.has_value();
  auto parent = parent_span_for(o, cmd);
  auto flags = trace_flags_for(o, cmd);
  // Another daemon sharing the store may take the key (or retry the failed
  // order) between the lookup above and this commit: the store refuses the
  // second, which is then answered as the holder's.
  w.claim_keys = !retried;
  if (retried)
    w.expect_status = order_status::payment_failed;
  if (shared_store(self))
    change_lease(w, id, store_write::lease_change::take);
  // Committed before the first payment attempt, so a crash mid-payment is
  // resumed at start with the same Idempotency-Key.
  auto fingerprint = o.request_fingerprint;
  write_order(self, id, std::move(w),
              [self, rp, o = std::move(o), retried, parent, flags,
               fingerprint = std::move(fingerprint)](const commit_result& r) mutable {
                note_store(self, r);
                if (!r.ok || r.conflict) {
                  if (o.idempotency_key)
                    self->state.keys_in_progress.erase(*o.idempotency_key);
                  if (!r.ok) {
                    rp.deliver(store_failed_reply(std::move(o)));
                    return;
                  }
                  auto holder = self->state.spec.deps.store->find_by_idempotency_key(
                    o.idempotency_key.value_or(""));
                  rp.deliver(
                    reply_to_key_holder(holder ? std::move(*holder) : std::move(o), fingerprint));
                  return;
                }
                record_status(self, o);
                if (!retried)
                  emit_order_event(self, o, "order_created",
                                   {{"total", to_wire_amount(o.total)},
                                    {"items", static_cast<int64_t>(o.items.size())},
                                    {"customerEmail", mask_email(o.customer_email)}});
                else
                  emit_order_event(self, o, "order_status_changed",
                                   {{"from", "payment_failed"},
                                    {"reason", "payment retried by idempotent request"}});
                start_payment(self, std::move(o), rp, false, std::move(parent), std::move(flags));
              });
  return rp;
}

void change_status(coordinator_self self, const change_status_command& cmd,
                   caf::typed_response_promise<change_status_reply> rp) {
  auto& store = *self->state.spec.deps.store;
  change_status_reply reply;
  auto o = store.get(cmd.order_id);
  if (!o) {
    reply.result = change_result::not_found;
    rp.deliver(std::move(reply));
    return;
  }
  if (!can_transition(o->status, cmd.target)) {
    reply.result = change_result::conflict;
    reply.current = std::move(*o);
    rp.deliver(std::move(reply));
    return;
  }
  auto from = o->status;
  o->status = cmd.target;
  outbox_entry entry;
  entry.id = "ntf_" + make_uuid();
  entry.order_id = o->id;
  entry.status = std::string{to_string(cmd.target)};
  entry.created_at_ms = o->updated_at_ms = now_ms();
  notification_record rec;
  rec.id = entry.id;
  rec.status = entry.status;
  o->notifications.push_back(rec);
  store_write w;
  w.orders.push_back(*o);
  w.outbox.push_back(entry);
  // Made from what was read: a change committed since (by another daemon)
  // wins, and this one is the race's 409 rather than a lost update.
  w.expect_status = from;
  auto id = o->id;
  if (shared_store(self))
    change_lease(w, id, store_write::lease_change::take);
  write_order(self, id, std::move(w),
              [self, rp, o = std::move(*o), from,
               entry = std::move(entry)](const commit_result& r) mutable {
                note_store(self, r);
                change_status_reply reply;
                if (!r.ok) {
                  reply.result = change_result::store_failed;
                  rp.deliver(std::move(reply));
                  return;
                }
                if (r.conflict) {
                  reply.result = change_result::conflict;
                  reply.current = self->state.spec.deps.store->get(o.id).value_or(o);
                  rp.deliver(std::move(reply));
                  return;
                }
                record_status(self, o);
                emit_order_event(self, o, "order_status_changed", {{"from", to_string(from)}});
                take_up(self, r, std::move(entry));
                reply.result = change_result::changed;
                reply.current = std::move(o);
                rp.deliver(std::move(reply));
              });
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
  st.supervisor = std::make_shared<supervisor_core>(self, "order_coordinator", st.spec.supervision,
                                                    st.spec.deps);
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
  self->attach_functor(
    [sup = st.supervisor, claimer = st.spec.deps.claimer, me = self->id()](const caf::error&) {
      if (claimer)
        claimer->stop_listening(me); // claims wait for the successor
      sup->stop_all();
    });
  recover(self);
  return {
    [self](create_atom, create_order_command& cmd) { return create_order(self, cmd); },
    [self](status_atom, const change_status_command& cmd) -> caf::result<change_status_reply> {
      auto rp = self->make_response_promise<change_status_reply>();
      on_order(self, cmd.order_id, [self, cmd, rp] { change_status(self, cmd, rp); });
      return rp;
    },
    [self](circuit_atom, service_kind kind,
           circuit_action action) -> caf::result<integration_view> {
      auto child = self->state.supervisor->child(to_string(kind));
      if (kind == service_kind::payment)
        return forward_circuit(self, caf::actor_cast<payment_actor>(child), action);
      auto view = forward_circuit(self, caf::actor_cast<notification_actor>(child), action);
      if (action == circuit_action::reset) {
        // The breaker closes with this message, which the notification actor
        // handles before any delivery sent after it: paused entries go now.
        auto& paused = self->state.paused;
        resume_paused(self, std::vector<std::string>(paused.begin(), paused.end()));
      }
      return view;
    },
    [self](requeue_atom, const std::string& entry_id) -> caf::result<requeue_reply> {
      auto rp = self->make_response_promise<requeue_reply>();
      auto e = self->state.spec.deps.store->outbox_get(entry_id);
      auto order_id = e ? e->order_id : entry_id;
      on_order(self, order_id, [self, entry_id, rp] { requeue(self, entry_id, rp); });
      return rp;
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
    [self](committed_atom, uint64_t ticket, const commit_result& r) {
      auto& commits = self->state.commits;
      auto i = commits.find(ticket);
      if (i == commits.end())
        return;
      auto then = std::move(i->second);
      commits.erase(i);
      then(r);
    },
    [self](redeliver_atom, const std::string& order_id) { resume_paused(self, {order_id}); },
    [self](repay_atom, const std::string& order_id) { issue_payment(self, order_id); },
    [self](adopt_atom, const claimed_orders& claimed) {
      for (const auto& id : claimed.order_ids)
        adopt(self, id);
    },
  };
}

} // namespace

} // namespace coffeeshop
