#include "coffeeshop/domain/order_json.hpp"

#include "coffeeshop/util/clock.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace coffeeshop {

namespace {

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else {
        out += ch; // UTF-8 passes through unchanged, as in boost::json::serialize
      }
    }
  }
  out += '"';
}

void append_json(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
  case boost::json::kind::null: out += "null"; break;
  case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
  case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
  case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
  case boost::json::kind::double_: {
    const double d = v.get_double();
    if (!std::isfinite(d)) {
      out += "null"; // JSON has no NaN or infinity
      break;
    }
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, d);
    const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
    out += text;
    // Keep a visible fraction (4 -> 4.0) so the number reads as an amount.
    if (text.find_first_of(".e") == std::string_view::npos)
      out += ".0";
    break;
  }
  case boost::json::kind::string: append_escaped(out, v.get_string()); break;
  case boost::json::kind::array: {
    out += '[';
    bool first = true;
    for (const auto& element : v.get_array()) {
      if (!first)
        out += ',';
      first = false;
      append_json(out, element);
    }
    out += ']';
    break;
  }
  case boost::json::kind::object: {
    out += '{';
    bool first = true;
    for (const auto& member : v.get_object()) {
      if (!first)
        out += ',';
      first = false;
      append_escaped(out, member.key());
      out += ':';
      append_json(out, member.value());
    }
    out += '}';
    break;
  }
  }
}

} // namespace

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
  for (const auto& n : o.notifications)
    notifications.push_back(
        boost::json::object{{"status", n.status}, {"state", n.state}, {"attempts", n.attempts}});

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
      {"payment",
       boost::json::object{{"status", o.payment.status},
                           {"attempts", o.payment.attempts},
                           {"reference", std::move(reference)}}},
      {"notifications", std::move(notifications)},
      {"createdAt", format_rfc3339(o.created_at_ms)},
      {"updatedAt", format_rfc3339(o.updated_at_ms)},
      {"traceId", o.trace_id},
  };
}

} // namespace coffeeshop

namespace coffeeshop {

std::string to_json_text(const boost::json::value& v) {
  std::string out;
  out.reserve(256);
  append_json(out, v);
  return out;
}

} // namespace coffeeshop
