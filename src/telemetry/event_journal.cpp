#include "coffeeshop/telemetry/event_journal.hpp"

#include <vector>

namespace coffeeshop {

void event_journal::append(integration_event event) {
  std::lock_guard guard{mtx_};
  if (ring_.size() == capacity_)
    ring_.pop_front();
  ring_.push_back(std::move(event));
}

boost::json::array event_journal::recent(std::size_t limit,
                                         const std::optional<std::string>& service,
                                         const std::optional<std::string>& order_id) const {
  std::vector<integration_event> picked;
  {
    std::lock_guard guard{mtx_};
    for (auto i = ring_.rbegin(); i != ring_.rend() && picked.size() < limit; ++i) {
      if ((service && i->service != *service) || (order_id && i->order_id != *order_id))
        continue;
      picked.push_back(*i);
    }
  }
  boost::json::array out;
  out.reserve(picked.size());
  for (auto i = picked.rbegin(); i != picked.rend(); ++i)
    out.emplace_back(render_event(*i));
  return out;
}

std::size_t event_journal::size() const {
  std::lock_guard guard{mtx_};
  return ring_.size();
}

} // namespace coffeeshop
