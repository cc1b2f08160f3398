#include "coffeeshop/telemetry/otlp_json.hpp"

#include "coffeeshop/util/json_text.hpp"

#include <boost/json.hpp>

#include <chrono>

namespace coffeeshop {

int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

namespace {

boost::json::object any_value(const attribute_value& v) {
  boost::json::object out;
  if (auto* s = std::get_if<std::string>(&v))
    out["stringValue"] = *s;
  else if (auto* i = std::get_if<int64_t>(&v))
    out["intValue"] = std::to_string(*i); // proto3 JSON: int64 is a string
  else if (auto* d = std::get_if<double>(&v))
    out["doubleValue"] = *d;
  else
    out["boolValue"] = std::get<bool>(v);
  return out;
}

boost::json::array attributes_json(const attribute_list& attrs) {
  boost::json::array out;
  out.reserve(attrs.size());
  for (const auto& a : attrs)
    out.push_back(boost::json::object{{"key", a.key}, {"value", any_value(a.value)}});
  return out;
}

boost::json::object span_json(const span& s) {
  boost::json::object out;
  out["traceId"] = s.trace_id;
  out["spanId"] = s.span_id;
  if (!s.parent_span_id.empty())
    out["parentSpanId"] = s.parent_span_id;
  out["name"] = s.name;
  out["kind"] = static_cast<int>(s.kind);
  out["startTimeUnixNano"] = std::to_string(s.start_ns);
  out["endTimeUnixNano"] = std::to_string(s.end_ns);
  out["attributes"] = attributes_json(s.attributes);
  boost::json::array events;
  for (const auto& e : s.events)
    events.push_back(boost::json::object{{"timeUnixNano", std::to_string(e.time_ns)},
                                         {"name", e.name},
                                         {"attributes", attributes_json(e.attributes)}});
  out["events"] = std::move(events);
  boost::json::object status;
  if (s.status != span_status::unset)
    status["code"] = static_cast<int>(s.status);
  if (s.status == span_status::error && !s.status_message.empty())
    status["message"] = s.status_message;
  out["status"] = std::move(status);
  return out;
}

} // namespace

std::string encode_otlp_traces(const trace_resource& resource, const std::vector<span>& spans) {
  attribute_list res{{"service.name", resource.service_name},
                     {"service.version", resource.service_version},
                     {"service.instance.id", resource.service_instance_id}};
  boost::json::array span_array;
  span_array.reserve(spans.size());
  for (const auto& s : spans)
    span_array.push_back(span_json(s));
  boost::json::object scope{{"name", resource.service_name}, {"version", resource.service_version}};
  boost::json::object scope_spans{{"scope", std::move(scope)}, {"spans", std::move(span_array)}};
  boost::json::object resource_spans{{"resource",
                                      boost::json::object{{"attributes", attributes_json(res)}}},
                                     {"scopeSpans", boost::json::array{std::move(scope_spans)}}};
  return to_json_text(
    boost::json::object{{"resourceSpans", boost::json::array{std::move(resource_spans)}}});
}

} // namespace coffeeshop
