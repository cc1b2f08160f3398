#include "request_log.hpp"

#include "coffeeshop/util/clock.hpp"

namespace coffeeshop::sim {
namespace json = boost::json;

request_log::request_log(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

void request_log::add(recorded_request r) {
  r.seq = next_seq_++;
  if (entries_.size() >= capacity_)
    entries_.pop_front();
  entries_.push_back(std::move(r));
}

void request_log::clear() { entries_.clear(); }

json::object request_log::to_json(std::optional<service> only) const {
  json::array list;
  for (const auto& r : entries_) {
    if (only && r.svc != *only)
      continue;
    json::object headers;
    for (const auto& [name, value] : r.headers) {
      if (auto* existing = headers.if_contains(name)) {
        json::string& s = existing->as_string();
        s.append(", ");
        s.append(value);
      } else {
        headers[name] = value;
      }
    }
    json::object o;
    o["seq"] = r.seq;
    o["method"] = r.method;
    o["path"] = r.path;
    o["query"] = r.query;
    o["headers"] = std::move(headers);
    o["body"] = r.body;
    o["service"] = to_string(r.svc);
    o["receivedAt"] = format_rfc3339(r.received_at_ms);
    list.push_back(std::move(o));
  }
  json::object out;
  out["requests"] = std::move(list);
  return out;
}

} // namespace coffeeshop::sim
