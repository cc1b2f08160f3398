#pragma once

// The typed interfaces of the actors, the atoms they speak and the message
// types CAF may carry between them: what each actor accepts and answers is
// checked by the compiler, not promised by a comment. Handles that cross files
// use these types; the supervisors see children as plain `caf::actor`.

#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/messages.hpp"
#include "coffeeshop/net/http_call.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace coffeeshop {

// -- atoms ----------------------------------------------------------------------

using call_atom = caf::atom_constant<caf::atom("call")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using create_atom = caf::atom_constant<caf::atom("create")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using circuit_atom = caf::atom_constant<caf::atom("circuit")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
using event_atom = caf::atom_constant<caf::atom("event")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using shutdown_atom = caf::atom_constant<caf::atom("shutdown")>;
using committed_atom = caf::atom_constant<caf::atom("committed")>;
using redeliver_atom = caf::atom_constant<caf::atom("redeliver")>;
using requeue_atom = caf::atom_constant<caf::atom("requeue")>;
using repay_atom = caf::atom_constant<caf::atom("repay")>;
using adopt_atom = caf::atom_constant<caf::atom("adopt")>;

/// Orders whose work leases the claimer took for this daemon (CONTRACT §8).
struct claimed_orders {
  std::vector<std::string> order_ids;
};

// -- interfaces -----------------------------------------------------------------

/// A transport worker: performs one blocking HTTP call at a time on its own
/// thread and answers with what came back (it never fails the request).
using transport_actor = caf::typed_actor<caf::replies_to<call_atom, http_call>::with<http_reply>>;

/// What every integration actor answers besides its call: an operator's
/// circuit action (with the integration's view after it) and crash rehearsal.
template <class Call>
using integration_interface =
  caf::typed_actor<typename caf::replies_to<call_atom, Call>::template with<call_outcome>,
                   caf::replies_to<circuit_atom, circuit_action>::with<integration_view>,
                   caf::reacts_to<crash_atom>>;

/// The payment actor: one charge, all its attempts, one outcome.
using payment_actor = integration_interface<charge_request>;

/// The notification actor: one status notification, all its attempts, one outcome.
using notification_actor = integration_interface<notify_request>;

/// The order coordinator, the only writer of orders.
using coordinator_actor = caf::typed_actor<
  caf::replies_to<create_atom, create_order_command>::with<create_order_reply>,
  caf::replies_to<status_atom, change_status_command>::with<change_status_reply>,
  caf::replies_to<circuit_atom, service_kind, circuit_action>::with<integration_view>,
  caf::replies_to<requeue_atom, std::string>::with<requeue_reply>,
  caf::reacts_to<crash_atom, std::string>>;

/// The event logger: drains the event sink when woken; crash rehearsal.
using event_logger_actor = caf::typed_actor<caf::reacts_to<event_atom>, caf::reacts_to<crash_atom>>;

/// Timers a supervising actor sends itself (restart backoff, shutdown steps).
using supervisor_timers =
  caf::typed_actor<caf::reacts_to<restart_atom, uint64_t>, caf::reacts_to<shutdown_atom, uint64_t>>;

} // namespace coffeeshop

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::http_call)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::http_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::service_kind)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::charge_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::notify_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::call_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::create_order_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::create_order_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::change_status_command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::change_status_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::circuit_action)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::integration_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::commit_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::requeue_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(coffeeshop::claimed_orders)
