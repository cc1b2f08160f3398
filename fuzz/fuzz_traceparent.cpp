// traceparent parsing: any bytes as the header; a parsed context must render back to a
// well-formed header.

#include "coffeeshop/util/ids.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  auto t = coffeeshop::trace_context::from_header_or_new(text);
  if (t.trace_id.size() != 32 || t.span_id.size() != 16 || t.to_header().size() != 55)
    std::abort();
  return 0;
}
