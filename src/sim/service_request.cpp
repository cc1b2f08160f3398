#include "service_request.hpp"

#include <array>
#include <cmath>
#include <cstdlib>

namespace coffeeshop::sim {
namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 5> notification_statuses = {"waiting", "preparation",
                                                                   "ready", "delivered",
                                                                   "canceled"};

// Strict decimal parse: the whole text must be a finite number (strtod alone accepts
// "12abc" and "inf").
std::optional<double> parse_decimal(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  char* end = nullptr;
  double d = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(d))
    return std::nullopt;
  return d;
}

std::optional<double> amount_of(const json::value& v) {
  if (v.is_number())
    return v.to_number<double>();
  // Some clients send money as a string; accept it rather than fail a whole test run.
  if (v.is_string())
    return parse_decimal(std::string(v.as_string()));
  return std::nullopt;
}

// Parses the body as a JSON object; an empty body counts as {} so the query form works.
std::optional<json::object> body_object(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return json::object{};
  json::error_code ec;
  json::value v = json::parse(body, ec);
  if (ec || !v.is_object())
    return std::nullopt;
  return std::move(v.as_object());
}

std::string string_member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || !it->value().is_string())
    return {};
  return std::string(it->value().as_string());
}

} // namespace

std::optional<service> classify_dapr(std::string_view app_id, std::string_view method) {
  if (method == "process-payment")
    return service::payment;
  if (method == "send-notification")
    return service::notification;
  if (app_id.find("payment") != std::string_view::npos)
    return service::payment;
  if (app_id.find("notification") != std::string_view::npos)
    return service::notification;
  return std::nullopt;
}

std::variant<payment_call, call_error>
parse_payment(std::string_view body, const std::optional<std::string>& query_value) {
  payment_call call;
  std::optional<double> amount;
  if (query_value) {
    amount = parse_decimal(*query_value);
  } else {
    auto obj = body_object(body);
    if (!obj)
      return call_error{"invalid JSON body"};
    call.order_id = string_member(*obj, "orderId");
    if (auto it = obj->find("amount"); it != obj->end()) {
      amount = amount_of(it->value());
    } else if (auto it2 = obj->find("value"); it2 != obj->end()) {
      amount = amount_of(it2->value());
    }
  }
  if (!amount || *amount < 0.0)
    return call_error{"invalid amount"};
  call.amount = *amount;
  return call;
}

std::variant<notification_call, call_error>
parse_notification(std::string_view body, const std::optional<std::string>& query_status) {
  notification_call call;
  if (query_status) {
    call.status = *query_status;
  } else {
    auto obj = body_object(body);
    if (!obj)
      return call_error{"invalid JSON body"};
    call.status = string_member(*obj, "status");
    call.order_id = string_member(*obj, "orderId");
  }
  for (auto s : notification_statuses)
    if (s == call.status)
      return call;
  return call_error{"invalid status"};
}

} // namespace coffeeshop::sim
