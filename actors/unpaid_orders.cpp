#include "unpaid_orders.hpp"

#include "coffeeshop/util/clock.hpp"
#include "coffeeshop/util/ids.hpp"

namespace coffeeshop {

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

create_order_reply record_unpaid_order(const runtime_deps& deps, order o, call_outcome why,
                                       const char* event_type) {
  o.status = order_status::payment_failed;
  o.payment.status = "failed";
  o.updated_at_ms = now_ms();
  deps.store->put(o);
  deps.stats->add("coffeeshop_orders_total", {{"status", to_string(o.status)}});
  deps.events->emit(make_event("orders", event_type, o.trace_id, o.id, 0,
                               {{"status", to_string(o.status)}, {"reason", why.detail}}));
  create_order_reply reply;
  reply.result = create_result::payment_failed;
  reply.payment = std::move(why);
  reply.placed = std::move(o);
  return reply;
}

} // namespace coffeeshop
