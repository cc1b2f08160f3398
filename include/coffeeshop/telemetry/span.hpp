#pragma once

// The span model of the trace export: what the daemon records of a request, an
// integration call and each of its attempts, in the shape of the OpenTelemetry data
// model (and of OTLP), with nothing of an SDK. Ids are the lowercase hex of the W3C
// traceparent headers, times are nanoseconds since the Unix epoch.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace coffeeshop {

/// An attribute's value: the OTLP AnyValue kinds the daemon uses.
using attribute_value = std::variant<std::string, int64_t, double, bool>;

/// One key/value attribute. The constructors pin each C++ type to its OTLP kind, so a
/// string literal never becomes a bool and an int never a double.
struct attribute {
  attribute(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  attribute(std::string k, const char* v) : key(std::move(k)), value(std::string{v}) {}
  attribute(std::string k, std::string_view v) : key(std::move(k)), value(std::string{v}) {}
  attribute(std::string k, int64_t v) : key(std::move(k)), value(v) {}
  attribute(std::string k, int v) : key(std::move(k)), value(int64_t{v}) {}
  attribute(std::string k, double v) : key(std::move(k)), value(v) {}
  attribute(std::string k, bool v) : key(std::move(k)), value(v) {}

  std::string key;
  attribute_value value;
};

using attribute_list = std::vector<attribute>;

/// OTLP SpanKind; the numbers are the protocol's.
enum class span_kind { internal = 1, server = 2, client = 3 };

/// OTLP StatusCode; the numbers are the protocol's.
enum class span_status { unset = 0, ok = 1, error = 2 };

/// Something that happened at one instant of a span (a retry scheduled, a breaker moved).
struct span_event {
  std::string name;
  int64_t time_ns = 0;
  attribute_list attributes;
};

/// One finished span.
struct span {
  std::string trace_id;       ///< 32 lowercase hex
  std::string span_id;        ///< 16 lowercase hex
  std::string parent_span_id; ///< 16 lowercase hex; empty for a root span
  std::string name;
  span_kind kind = span_kind::internal;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  attribute_list attributes;
  std::vector<span_event> events;
  span_status status = span_status::unset;
  std::string status_message; ///< only with span_status::error
};

/// Who produced the spans: the OTLP resource.
struct trace_resource {
  std::string service_name;
  std::string service_version;
  std::string service_instance_id;
};

/// Where finished spans go. submit() must never block on I/O: it is called on request
/// and actor threads.
class span_sink {
public:
  virtual ~span_sink() = default;

  /// Takes a finished span; it may be dropped (and counted) but never delays the caller.
  virtual void submit(span s) = 0;
};

/// Nanoseconds since the Unix epoch, from the system clock.
int64_t unix_now_ns();

} // namespace coffeeshop
