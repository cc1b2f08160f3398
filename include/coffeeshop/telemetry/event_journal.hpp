#pragma once

#include "coffeeshop/telemetry/integration_event.hpp"

#include <boost/json/array.hpp>

#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>

namespace coffeeshop {

/// The bounded ring of recent integration events behind GET /api/v1/events.
/// Lives outside the event_logger actor so a restart of the logger keeps history.
class event_journal {
public:
  explicit event_journal(std::size_t capacity = 2000) : capacity_(capacity) {}

  /// Appends one event, dropping the oldest when full. Events are kept as
  /// structs and rendered only when read: most are never read.
  void append(integration_event event);

  /// Up to `limit` most recent events matching the filters, newest last, rendered.
  boost::json::array recent(std::size_t limit, const std::optional<std::string>& service,
                            const std::optional<std::string>& order_id) const;

  std::size_t size() const;

private:
  std::size_t capacity_;
  mutable std::mutex mtx_;
  std::deque<integration_event> ring_;
};

} // namespace coffeeshop
