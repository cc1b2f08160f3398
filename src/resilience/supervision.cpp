#include "coffeeshop/resilience/supervision.hpp"

#include <algorithm>

namespace coffeeshop {

std::string_view to_string(restart_type t) {
  switch (t) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "permanent";
}

std::string_view to_string(restart_strategy s) {
  switch (s) {
    case restart_strategy::one_for_one: return "one_for_one";
    case restart_strategy::one_for_all: return "one_for_all";
    case restart_strategy::rest_for_one: return "rest_for_one";
  }
  return "one_for_one";
}

std::optional<restart_strategy> parse_restart_strategy(std::string_view name) {
  for (auto s : {restart_strategy::one_for_one, restart_strategy::one_for_all,
                 restart_strategy::rest_for_one})
    if (to_string(s) == name)
      return s;
  return std::nullopt;
}

bool should_restart(restart_type t, bool abnormal) {
  switch (t) {
    case restart_type::permanent: return true;
    case restart_type::transient: return abnormal;
    case restart_type::temporary: return false;
  }
  return false;
}

std::vector<std::size_t> children_to_restart(restart_strategy s, std::size_t failed,
                                             std::size_t count) {
  std::vector<std::size_t> out;
  if (failed >= count)
    return out;
  switch (s) {
    case restart_strategy::one_for_one: out.push_back(failed); break;
    case restart_strategy::one_for_all:
      for (std::size_t i = 0; i < count; ++i)
        out.push_back(i);
      break;
    case restart_strategy::rest_for_one:
      for (std::size_t i = failed; i < count; ++i)
        out.push_back(i);
      break;
  }
  return out;
}

restart_intensity::decision restart_intensity::record(time_point now) {
  auto window = millis{settings_.within_ms};
  // Restarts older than the window no longer count: the window slides.
  while (!restarts_.empty() && now - restarts_.front() >= window)
    restarts_.pop_front();
  restarts_.push_back(now);
  decision d;
  d.restarts_in_window = static_cast<int>(restarts_.size());
  if (d.restarts_in_window > settings_.max_restarts) {
    d.escalate = true;
    return d;
  }
  auto delay = settings_.restart_delay_ms;
  for (int i = 1; i < d.restarts_in_window && delay < settings_.max_restart_delay_ms; ++i)
    delay *= 2;
  d.delay = millis{std::min(delay, settings_.max_restart_delay_ms)};
  return d;
}

} // namespace coffeeshop
