#include "coffeeshop/domain/order_json.hpp"

#include "coffeeshop/util/clock.hpp"

#include <boost/json.hpp>

#include <limits>

namespace coffeeshop {

boost::json::object to_json(const order& o) {
  boost::json::array items;
  items.reserve(o.items.size());
  for (const auto& line : o.items) {
    boost::json::value variation = nullptr;
    if (!line.variation.empty())
      variation = line.variation;
    items.push_back(boost::json::object{
      {"product", line.product},
      {"variation", std::move(variation)},
      {"quantity", line.quantity},
      {"unitPrice", to_wire_amount(line.unit_price)},
      {"lineTotal", to_wire_amount(line.line_total)},
    });
  }

  boost::json::value reference = nullptr;
  if (o.payment.reference)
    reference = *o.payment.reference;

  boost::json::array notifications;
  notifications.reserve(o.notifications.size());
  for (const auto& n : o.notifications) {
    boost::json::object entry;
    if (!n.id.empty())
      entry["id"] = n.id;
    entry["status"] = n.status;
    entry["state"] = n.state;
    entry["attempts"] = n.attempts;
    notifications.push_back(std::move(entry));
  }

  // The API shows the address unmasked: the caller is the customer or the shop.
  // Masking applies to logs and integration events only.
  return boost::json::object{
    {"id", o.id},
    {"status", to_string(o.status)},
    {"items", std::move(items)},
    {"total", to_wire_amount(o.total)},
    {"currency", o.currency},
    {"customerEmail", o.customer_email},
    {"paymentMethod", o.payment_method},
    {"payment", boost::json::object{{"status", o.payment.status},
                                    {"attempts", o.payment.attempts},
                                    {"reference", std::move(reference)}}},
    {"notifications", std::move(notifications)},
    {"createdAt", format_rfc3339(o.created_at_ms)},
    {"updatedAt", format_rfc3339(o.updated_at_ms)},
    {"traceId", o.trace_id},
  };
}

boost::json::object to_stored_json(const order& o) {
  boost::json::array items;
  items.reserve(o.items.size());
  for (const auto& line : o.items)
    items.push_back(boost::json::object{
      {"product", line.product},
      {"variation", line.variation},
      {"quantity", line.quantity},
      {"unitPrice", line.unit_price},
      {"lineTotal", line.line_total},
    });

  boost::json::array notifications;
  notifications.reserve(o.notifications.size());
  for (const auto& n : o.notifications)
    notifications.push_back(boost::json::object{
      {"id", n.id}, {"status", n.status}, {"state", n.state}, {"attempts", n.attempts}});

  boost::json::value reference = nullptr;
  if (o.payment.reference)
    reference = *o.payment.reference;
  boost::json::value key = nullptr;
  if (o.idempotency_key)
    key = *o.idempotency_key;

  return boost::json::object{
    {"id", o.id},
    {"status", to_string(o.status)},
    {"items", std::move(items)},
    {"total", o.total},
    {"currency", o.currency},
    {"customerEmail", o.customer_email},
    {"paymentMethod", o.payment_method},
    {"payment", boost::json::object{{"status", o.payment.status},
                                    {"attempts", o.payment.attempts},
                                    {"reference", std::move(reference)}}},
    {"notifications", std::move(notifications)},
    {"createdAtMs", o.created_at_ms},
    {"updatedAtMs", o.updated_at_ms},
    {"traceId", o.trace_id},
    {"idempotencyKey", std::move(key)},
    {"requestFingerprint", o.request_fingerprint},
  };
}

namespace {

/// Member readers for order_from_stored_json: each returns false when the
/// member is missing or of another type, leaving `out` untouched.
bool read(const boost::json::object& obj, std::string_view key, std::string& out) {
  const auto* v = obj.if_contains(key);
  if (!v || !v->is_string())
    return false;
  out = std::string(v->get_string());
  return true;
}

bool read(const boost::json::object& obj, std::string_view key, int64_t& out) {
  const auto* v = obj.if_contains(key);
  if (!v || !v->is_int64())
    return false;
  out = v->get_int64();
  return true;
}

bool read(const boost::json::object& obj, std::string_view key, int& out) {
  int64_t wide = 0;
  if (!read(obj, key, wide) || wide < std::numeric_limits<int>::min() ||
      wide > std::numeric_limits<int>::max())
    return false;
  out = static_cast<int>(wide);
  return true;
}

/// A string or null.
bool read(const boost::json::object& obj, std::string_view key, std::optional<std::string>& out) {
  const auto* v = obj.if_contains(key);
  if (v && v->is_null()) {
    out.reset();
    return true;
  }
  std::string s;
  if (!read(obj, key, s))
    return false;
  out = std::move(s);
  return true;
}

const boost::json::array* array_at(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v ? v->if_array() : nullptr;
}

const boost::json::object* object_at(const boost::json::object& obj, std::string_view key) {
  const auto* v = obj.if_contains(key);
  return v ? v->if_object() : nullptr;
}

} // namespace

std::optional<order> order_from_stored_json(const boost::json::value& v) {
  const auto* obj = v.if_object();
  if (!obj)
    return std::nullopt;
  order o;
  std::string status;
  if (!read(*obj, "id", o.id) || !read(*obj, "status", status))
    return std::nullopt;
  auto parsed_status = parse_order_status(status);
  if (!parsed_status)
    return std::nullopt;
  o.status = *parsed_status;

  const auto* items = array_at(*obj, "items");
  if (!items)
    return std::nullopt;
  for (const auto& item : *items) {
    const auto* line_obj = item.if_object();
    order_line line;
    if (!line_obj || !read(*line_obj, "product", line.product) ||
        !read(*line_obj, "variation", line.variation) ||
        !read(*line_obj, "quantity", line.quantity) ||
        !read(*line_obj, "unitPrice", line.unit_price) ||
        !read(*line_obj, "lineTotal", line.line_total))
      return std::nullopt;
    o.items.push_back(std::move(line));
  }

  const auto* payment = object_at(*obj, "payment");
  if (!payment || !read(*payment, "status", o.payment.status) ||
      !read(*payment, "attempts", o.payment.attempts) ||
      !read(*payment, "reference", o.payment.reference))
    return std::nullopt;

  const auto* notifications = array_at(*obj, "notifications");
  if (!notifications)
    return std::nullopt;
  for (const auto& item : *notifications) {
    const auto* n_obj = item.if_object();
    notification_record n;
    if (!n_obj || !read(*n_obj, "status", n.status) || !read(*n_obj, "state", n.state) ||
        !read(*n_obj, "attempts", n.attempts))
      return std::nullopt;
    if (n_obj->contains("id") && !read(*n_obj, "id", n.id))
      return std::nullopt;
    o.notifications.push_back(std::move(n));
  }

  if (!read(*obj, "total", o.total) || !read(*obj, "currency", o.currency) ||
      !read(*obj, "customerEmail", o.customer_email) ||
      !read(*obj, "paymentMethod", o.payment_method) ||
      !read(*obj, "createdAtMs", o.created_at_ms) || !read(*obj, "updatedAtMs", o.updated_at_ms) ||
      !read(*obj, "traceId", o.trace_id) || !read(*obj, "idempotencyKey", o.idempotency_key) ||
      !read(*obj, "requestFingerprint", o.request_fingerprint))
    return std::nullopt;
  return o;
}

} // namespace coffeeshop
