#include "coffeeshop/domain/order_request.hpp"

#include "coffeeshop/util/json_fields.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <initializer_list>
#include <limits>

namespace coffeeshop {

namespace {

constexpr std::size_t min_items = 1;
constexpr std::size_t max_items = 50;
constexpr int64_t min_quantity = 1;
constexpr int64_t max_quantity = 100;
constexpr std::size_t min_email_length = 3;
constexpr std::size_t max_email_length = 254; // RFC 5321 path limit

/// Accepted payment methods. These are the names the seed's payment service
/// forwarded unchanged; anything else would be declined upstream, so it is
/// rejected here with a 422 rather than after a payment round trip.
constexpr std::string_view payment_methods[] = {"credit_card", "debit_card", "cash", "mobile"};
constexpr std::string_view payment_methods_text = "credit_card, debit_card, cash, mobile";
constexpr std::string_view default_payment_method = "credit_card";

/// Statuses a client may name in PATCH /status (the notification service's set).
constexpr std::string_view client_statuses_text =
  "waiting, preparation, ready, delivered, canceled";

/// A plausible address, not RFC 5322: one '@', a non-empty local part, a domain
/// with an inner '.', no whitespace or control characters.
bool plausible_email(std::string_view email) {
  if (email.size() < min_email_length || email.size() > max_email_length)
    return false;
  for (unsigned char c : email)
    if (c <= 0x20 || c == 0x7f)
      return false;
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0 || email.find('@', at + 1) != std::string_view::npos)
    return false;
  const auto domain = email.substr(at + 1);
  const auto dot = domain.find('.');
  return dot != std::string_view::npos && dot != 0 && domain.back() != '.';
}

/// Reads a quantity: a JSON integer, or a float with an integral value (2.0),
/// since JSON itself does not distinguish the two. Booleans are not numbers here.
std::optional<int64_t> as_integer(const boost::json::value& v) {
  if (v.is_int64())
    return v.get_int64();
  if (v.is_uint64()) {
    // Larger than any valid quantity; clamp so the range check rejects it.
    return std::numeric_limits<int64_t>::max();
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 1e15)
      return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

std::string names_of(const product& p) {
  std::string text;
  for (const auto& v : p.variations) {
    if (!text.empty())
      text += ", ";
    text += v.name;
  }
  return text;
}

/// Quotes client text for a message, cut short so a huge name cannot bloat the reply.
std::string quoted(std::string_view s) {
  constexpr std::size_t max_echo = 64;
  if (s.size() <= max_echo)
    return "'" + std::string(s) + "'";
  std::size_t cut = max_echo;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80)
    --cut; // do not split a UTF-8 sequence
  return "'" + std::string(s.substr(0, cut)) + "...'";
}

void report_unknown_fields(const boost::json::object& obj, std::string_view path,
                           std::initializer_list<std::string_view> allowed,
                           std::vector<field_error>& errors) {
  for (auto& field : unknown_fields(obj, path, allowed))
    errors.push_back({std::move(field), "unknown field"});
}

void validate_item(const boost::json::value& value, const std::string& path, const menu& m,
                   std::vector<field_error>& errors, order_line& line) {
  const auto* item = value.if_object();
  if (!item) {
    errors.push_back({path, "must be an object"});
    return;
  }
  report_unknown_fields(*item, path, {"product", "variation", "quantity"}, errors);

  const product* prod = nullptr;
  const auto* product_value = item->if_contains("product");
  if (!product_value || product_value->is_null()) {
    errors.push_back({path + ".product", "is required"});
  } else if (!product_value->is_string()) {
    errors.push_back({path + ".product", "must be a string"});
  } else {
    const auto name = std::string_view(product_value->get_string());
    prod = m.find(name);
    if (!prod)
      errors.push_back({path + ".product", "unknown product " + quoted(name)});
    else
      line.product = prod->name;
  }

  // A variation that is null or "" means "none given", the same as absent.
  const auto* variation_value = item->if_contains("variation");
  std::optional<std::string_view> variation_name;
  bool variation_type_ok = true;
  if (variation_value && !variation_value->is_null()) {
    if (!variation_value->is_string()) {
      errors.push_back({path + ".variation", "must be a string"});
      variation_type_ok = false;
    } else if (!variation_value->get_string().empty()) {
      variation_name = std::string_view(variation_value->get_string());
    }
  }
  cents delta = 0;
  if (prod && variation_type_ok) {
    if (prod->variations.empty()) {
      if (variation_name)
        errors.push_back({path + ".variation", prod->name + " has no variations"});
    } else if (!variation_name) {
      errors.push_back(
        {path + ".variation", "is required for " + prod->name + "; one of " + names_of(*prod)});
    } else if (const auto* var = prod->find_variation(*variation_name)) {
      line.variation = var->name;
      delta = var->price_delta;
    } else {
      errors.push_back({path + ".variation", "unknown variation " + quoted(*variation_name) +
                                               " for " + prod->name + "; expected one of " +
                                               names_of(*prod)});
    }
  }

  const auto* quantity_value = item->if_contains("quantity");
  if (!quantity_value || quantity_value->is_null()) {
    errors.push_back({path + ".quantity", "is required"});
  } else {
    const auto quantity = as_integer(*quantity_value);
    if (!quantity || *quantity < min_quantity || *quantity > max_quantity)
      errors.push_back({path + ".quantity", "must be an integer from 1 to 100"});
    else
      line.quantity = static_cast<int>(*quantity);
  }

  if (prod) {
    // Menu amounts are bounded (menu.cpp), so 100 x 50 lines cannot overflow.
    line.unit_price = prod->price + delta;
    line.line_total = line.unit_price * line.quantity;
  }
}

} // namespace

std::variant<priced_order, std::vector<field_error>>
validate_order_request(const boost::json::value& body, const menu& m) {
  std::vector<field_error> errors;
  const auto* root = body.if_object();
  if (!root)
    return std::vector<field_error>{{"", "must be a JSON object"}};

  report_unknown_fields(*root, "", {"customerEmail", "items", "paymentMethod", "currency"}, errors);

  priced_order result;

  const auto* email = root->if_contains("customerEmail");
  if (!email || email->is_null())
    errors.push_back({"customerEmail", "is required"});
  else if (!email->is_string())
    errors.push_back({"customerEmail", "must be a string"});
  else if (!plausible_email(email->get_string()))
    errors.push_back({"customerEmail", "must be an e-mail address such as name@example.com"});
  else
    result.customer_email = std::string(email->get_string());

  const auto* items = root->if_contains("items");
  if (!items || items->is_null()) {
    errors.push_back({"items", "is required"});
  } else if (!items->is_array()) {
    errors.push_back({"items", "must be an array"});
  } else {
    const auto& arr = items->get_array();
    if (arr.size() < min_items || arr.size() > max_items) {
      // Over-long lists are not inspected item by item: the reply stays bounded
      // however many bad items a body holds.
      errors.push_back({"items", "must hold 1 to 50 items"});
    } else {
      result.items.resize(arr.size());
      for (std::size_t i = 0; i < arr.size(); ++i)
        validate_item(arr[i], "items[" + std::to_string(i) + "]", m, errors, result.items[i]);
    }
  }

  const auto* method = root->if_contains("paymentMethod");
  if (!method || method->is_null()) {
    result.payment_method = std::string(default_payment_method);
  } else {
    bool known = false;
    if (const auto* text = method->if_string())
      for (auto name : payment_methods)
        known = known || std::string_view(*text) == name;
    if (known)
      result.payment_method = std::string(method->get_string());
    else
      errors.push_back({"paymentMethod", "must be one of " + std::string(payment_methods_text)});
  }

  const auto* currency = root->if_contains("currency");
  if (!currency || currency->is_null()) {
    result.currency = m.currency();
  } else if (!currency->is_string() || std::string_view(currency->get_string()) != m.currency()) {
    errors.push_back({"currency", "must be \"" + m.currency() + "\" (the menu's currency)"});
  } else {
    result.currency = m.currency();
  }

  if (!errors.empty())
    return errors;
  for (const auto& line : result.items)
    result.total += line.line_total;
  return result;
}

std::variant<order_status, std::vector<field_error>>
validate_status_request(const boost::json::value& body) {
  const auto* root = body.if_object();
  if (!root)
    return std::vector<field_error>{{"", "must be a JSON object"}};
  std::vector<field_error> errors;
  report_unknown_fields(*root, "", {"status"}, errors);

  std::optional<order_status> status;
  const auto* value = root->if_contains("status");
  if (!value || value->is_null()) {
    errors.push_back({"status", "is required"});
  } else if (!value->is_string()) {
    errors.push_back({"status", "must be a string"});
  } else {
    const auto name = std::string_view(value->get_string());
    // Internal statuses parse too; whether a move is allowed is the caller's 409.
    status = parse_order_status(name);
    if (!status)
      errors.push_back({"status", "unknown status " + quoted(name) + "; expected one of " +
                                    std::string(client_statuses_text)});
  }
  if (!errors.empty())
    return errors;
  return *status;
}

} // namespace coffeeshop
