#pragma once

#include "coffeeshop/domain/money.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace coffeeshop {

/// Lifecycle of an order. `pending_payment` and `payment_failed` are the
/// daemon's own; the rest are the statuses the notification service knows.
enum class order_status {
  pending_payment,
  payment_failed,
  waiting,
  preparation,
  ready,
  delivered,
  canceled,
};

/// Wire name of a status ("pending_payment", "waiting", ...).
std::string_view to_string(order_status status);

/// Parses a wire name; nullopt when unknown.
std::optional<order_status> parse_order_status(std::string_view name);

/// Statuses reachable from `from` through PATCH /status:
/// waiting -> preparation -> ready -> delivered; waiting -> canceled.
std::vector<order_status> allowed_next(order_status from);

/// True when PATCH may move an order from `from` to `to`.
bool can_transition(order_status from, order_status to);

/// One priced line of an order.
struct order_line {
  std::string product;   // canonical menu spelling
  std::string variation; // canonical spelling, empty when the product has none
  int quantity = 0;
  cents unit_price = 0;
  cents line_total = 0;
};

/// What the payment integration did for an order.
struct payment_record {
  std::string status = "pending"; // pending, succeeded, failed
  int attempts = 0;
  std::optional<std::string> reference;
};

/// One notification for one status change.
struct notification_record {
  std::string status;            // the order status being announced
  std::string state = "pending"; // pending, sent, failed
  int attempts = 0;
  /// The id of its outbox entry; empty on orders stored before notifications had ids.
  std::string id;
};

/// A coffee-shop order as stored and served.
struct order {
  std::string id;
  order_status status = order_status::pending_payment;
  std::vector<order_line> items;
  cents total = 0;
  std::string currency = "USD";
  std::string customer_email;
  std::string payment_method = "credit_card";
  payment_record payment;
  std::vector<notification_record> notifications;
  int64_t created_at_ms = 0; // Unix epoch milliseconds
  int64_t updated_at_ms = 0;
  std::string trace_id;
  /// W3C trace-flags of the traceparent of the request that created the order ("01" sampled,
  /// "00" not): a payment resumed after a restart or a takeover and every notification of the
  /// order go upstream with them. Not in to_stored_json: the SQL stores keep it in a column of
  /// its own (orders.trace_flags), which orders stored before it existed read as "01".
  std::string trace_flags = "01";
  /// Idempotency-Key of the create request and a fingerprint of its body.
  std::optional<std::string> idempotency_key;
  std::string request_fingerprint;
};

} // namespace coffeeshop
