#pragma once

// The OTLP/HTTP JSON encoding of spans (opentelemetry-proto's JSON mapping): ids as hex
// strings, nanosecond times and 64-bit integers as decimal strings, enums as numbers,
// attributes as {key, value: {stringValue | intValue | doubleValue | boolValue}}.

#include "coffeeshop/telemetry/span.hpp"

#include <string>
#include <vector>

namespace coffeeshop {

/// The body of one `POST /v1/traces`: one resource, one instrumentation scope named
/// after the service, and `spans` in the order given.
std::string encode_otlp_traces(const trace_resource& resource, const std::vector<span>& spans);

} // namespace coffeeshop
