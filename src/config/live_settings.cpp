#include "coffeeshop/live_settings.hpp"

#include "coffeeshop/config_reload.hpp"

namespace coffeeshop {

live_settings::live_settings(const config& cfg)
  : payment_(cfg.payment), notification_(cfg.notification), admin_token_(cfg.admin_token) {
  publish_timeouts();
}

void live_settings::publish_timeouts() {
  total_timeout_ms_[static_cast<int>(service_kind::payment)] = payment_.total_timeout_ms;
  total_timeout_ms_[static_cast<int>(service_kind::notification)] =
    notification_.total_timeout_ms;
}

service_settings live_settings::service(service_kind kind) const {
  std::lock_guard lock{mtx_};
  return kind == service_kind::payment ? payment_ : notification_;
}

std::optional<std::string> live_settings::admin_token() const {
  std::lock_guard lock{mtx_};
  return admin_token_;
}

void live_settings::replace(const config& cfg) {
  {
    std::lock_guard lock{mtx_};
    take_runtime_settings(payment_, cfg.payment);
    take_runtime_settings(notification_, cfg.notification);
    admin_token_ = cfg.admin_token;
    publish_timeouts();
  }
  version_.fetch_add(1, std::memory_order_acq_rel);
}

} // namespace coffeeshop
