// The built-in defaults (CONTRACT §2) are the member initializers of `config`, rendered into a
// tree by the key table. A unit test compares that tree with config/coffeeshop.json, and
// config::defaults() goes through the same validation as any loaded file.

#include "config_tree.hpp"

#include <cstdio>
#include <cstdlib>

namespace coffeeshop {
namespace config_detail {

boost::json::object default_config_tree() {
  // Shown, not masked: this tree is the base that files and overrides are merged into.
  return config_to_tree(config{}, secrets::shown);
}

} // namespace config_detail

config config::defaults() {
  config_result r = config_detail::validate_tree(config_detail::default_config_tree());
  if (!r.value) {
    // Only reachable if a member initializer in config.hpp is invalid; tests catch it.
    for (const auto& e : r.errors)
      std::fprintf(stderr, "%s\n", e.c_str());
    std::abort();
  }
  return *r.value;
}

} // namespace coffeeshop
