#include "coffeeshop/config_reload.hpp"

#include "config_tree.hpp"

namespace coffeeshop {

namespace {

namespace json = boost::json;

/// Adds the key path of every leaf that differs between `a` and `b` (same shape).
void differing_keys(const json::object& a, const json::object& b, const std::string& prefix,
                    std::vector<std::string>& out) {
  for (const auto& [key, va] : a) {
    auto path = prefix.empty() ? std::string{key} : prefix + "." + std::string{key};
    const auto* vb = b.if_contains(key);
    if (vb && va.is_object() && vb->is_object())
      differing_keys(va.get_object(), vb->get_object(), path, out);
    else if (!vb || va != *vb)
      out.push_back(std::move(path));
  }
}

std::vector<std::string> differing_keys(const config& a, const config& b) {
  using config_detail::secrets;
  std::vector<std::string> out;
  // Secrets shown: a changed admin token is a change (only its key is ever logged).
  differing_keys(config_detail::config_to_tree(a, secrets::shown),
                 config_detail::config_to_tree(b, secrets::shown), "", out);
  return out;
}

} // namespace

void take_runtime_settings(service_settings& into, const service_settings& from) {
  into.timeout_ms = from.timeout_ms;
  into.total_timeout_ms = from.total_timeout_ms;
  into.max_connections = from.max_connections;
  into.retry = from.retry;
  into.adaptive_concurrency = from.adaptive_concurrency;
  into.circuit_breaker = from.circuit_breaker;
}

config_reload plan_reload(const config& running, const config& loaded) {
  config next = running;
  next.logging.level = loaded.logging.level;
  next.admin_token = loaded.admin_token;
  take_runtime_settings(next.payment, loaded.payment);
  take_runtime_settings(next.notification, loaded.notification);
  config_reload out;
  // One definition of "run time": what the copy above took is applied, the rest waits.
  out.applied = differing_keys(running, next);
  out.needs_restart = differing_keys(next, loaded);
  // Rules across keys hold in `loaded`; they must also hold for its run-time half beside
  // the running rest. No rule binds the two halves today (each run-time rule stays within
  // one service's run-time keys), so this guards a rule added later.
  auto checked = config_detail::validate_tree(
    config_detail::config_to_tree(next, config_detail::secrets::shown));
  if (checked.value)
    out.next = std::move(next);
  else
    out.errors = std::move(checked.errors);
  return out;
}

} // namespace coffeeshop
