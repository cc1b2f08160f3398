// The simulator's request parsing: any bytes as a payment or notification body, the first
// byte choosing the service and whether a query parameter is present.

#include "service_request.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  const uint8_t mode = data[0];
  const std::string_view body{reinterpret_cast<const char*>(data) + 1, size - 1};
  const auto query = (mode & 2) ? std::optional<std::string>{std::string{body.substr(0, 8)}}
                                : std::nullopt;
  if (mode & 1)
    (void)coffeeshop::sim::parse_notification(body, query);
  else
    (void)coffeeshop::sim::parse_payment(body, query);
  (void)coffeeshop::sim::classify_dapr(body.substr(0, body.size() / 2),
                                       body.substr(body.size() / 2));
  return 0;
}
