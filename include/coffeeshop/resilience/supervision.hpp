#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <cstddef>
#include <deque>
#include <optional>
#include <string_view>
#include <vector>

namespace coffeeshop {

/// When a stopped child is restarted (Erlang/OTP child spec semantics).
enum class restart_type {
  permanent, // always
  transient, // only after an abnormal stop
  temporary, // never
};

/// "permanent", "transient", "temporary".
std::string_view to_string(restart_type t);

/// "one_for_one", "one_for_all", "rest_for_one".
std::string_view to_string(restart_strategy s);
std::optional<restart_strategy> parse_restart_strategy(std::string_view name);

/// True when a child of type `t` that stopped (abnormally or not) is restarted.
bool should_restart(restart_type t, bool abnormal);

/// Indexes (in start order) of the children a strategy restarts when child
/// `failed` of `count` stopped: itself; all; itself and those started after it.
std::vector<std::size_t> children_to_restart(restart_strategy s, std::size_t failed,
                                             std::size_t count);

/// Restart intensity and backoff of one supervisor: at most `max_restarts`
/// restarts within a sliding `within_ms`; the delay doubles from
/// `restart_delay_ms` up to `max_restart_delay_ms` with each restart in the window.
class restart_intensity {
public:
  explicit restart_intensity(supervision_settings s = {}) : settings_(s) {}

  struct decision {
    bool escalate = false; // intensity exceeded: give up and tell the parent
    millis delay{0};       // wait this long before restarting
    int restarts_in_window = 0;
  };

  /// Records one restart wanted at `now` and decides.
  decision record(time_point now);

  const supervision_settings& settings() const { return settings_; }

private:
  supervision_settings settings_;
  std::deque<time_point> restarts_;
};

} // namespace coffeeshop
