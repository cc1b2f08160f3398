#include "coffeeshop/telemetry/event_journal.hpp"

#include <vector>

namespace coffeeshop {

namespace {

bool member_equals(const boost::json::object& obj, const char* key, const std::string& want) {
  auto* v = obj.if_contains(key);
  return v && v->is_string() && v->get_string() == want;
}

} // namespace

void event_journal::append(boost::json::object event) {
  std::lock_guard guard{mtx_};
  if (ring_.size() == capacity_)
    ring_.pop_front();
  ring_.push_back(std::move(event));
}

boost::json::array event_journal::recent(std::size_t limit,
                                         const std::optional<std::string>& service,
                                         const std::optional<std::string>& order_id) const {
  std::vector<const boost::json::object*> picked;
  std::lock_guard guard{mtx_};
  for (auto i = ring_.rbegin(); i != ring_.rend() && picked.size() < limit; ++i) {
    if (service && !member_equals(*i, "serviceName", *service))
      continue;
    if (order_id) {
      auto* meta = i->if_contains("metadata");
      if (!meta || !meta->is_object() || !member_equals(meta->get_object(), "orderId", *order_id))
        continue;
    }
    picked.push_back(&*i);
  }
  boost::json::array out;
  out.reserve(picked.size());
  for (auto i = picked.rbegin(); i != picked.rend(); ++i)
    out.emplace_back(**i);
  return out;
}

std::size_t event_journal::size() const {
  std::lock_guard guard{mtx_};
  return ring_.size();
}

} // namespace coffeeshop
