#include "problem.hpp"

#include "coffeeshop/util/clock.hpp"

#include "coffeeshop/util/json_text.hpp"
#include <httplib.h>

namespace coffeeshop {

void write_problem(httplib::Response& res, const problem& p, const std::string& instance,
                   const std::string& trace_id) {
  boost::json::object body;
  body["type"] = "https://coffeeshop.dev/problems/" + p.error_type;
  body["title"] = p.title;
  body["status"] = p.status;
  body["detail"] = p.detail;
  body["instance"] = instance;
  body["traceId"] = trace_id;
  body["errorType"] = p.error_type;
  body["timestamp"] = format_rfc3339(now_ms());
  for (const auto& kv : p.extensions)
    body[kv.key()] = kv.value();
  res.status = p.status;
  if (p.retry_after_s > 0)
    res.set_header("Retry-After", std::to_string(p.retry_after_s));
  res.set_content(to_json_text(body), "application/problem+json");
}

} // namespace coffeeshop
