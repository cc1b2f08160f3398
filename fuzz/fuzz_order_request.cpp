// The order request parser and validator: any bytes as a POST /api/v1/orders body.

#include "coffeeshop/domain/menu.hpp"
#include "coffeeshop/domain/order_request.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto catalogue = coffeeshop::menu::built_in();
  boost::system::error_code ec;
  auto v = boost::json::parse(std::string_view{reinterpret_cast<const char*>(data), size}, ec);
  if (ec)
    return 0;
  (void)coffeeshop::validate_order_request(v, catalogue);
  (void)coffeeshop::validate_status_request(v);
  return 0;
}
