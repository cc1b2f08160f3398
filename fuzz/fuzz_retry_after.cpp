// Retry-After parsing (seconds or HTTP-date): any bytes as the header; a parsed value is
// never negative.

#include "coffeeshop/resilience/retry_policy.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  // 2026-01-01T00:00:00Z
  auto d = coffeeshop::parse_retry_after(text, 1'767'225'600'000);
  if (d && d->count() < 0)
    std::abort();
  return 0;
}
