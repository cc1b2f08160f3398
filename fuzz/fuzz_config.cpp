// The config loader and validator: any bytes as a config file merged over the defaults.

#include "config_tree.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  std::vector<std::string> errors;
  auto root = coffeeshop::config_detail::default_config_tree();
  if (!ec && v.is_object())
    coffeeshop::config_detail::merge_tree(root, v.get_object(), "", errors);
  else // the same bytes as one --set override
    coffeeshop::config_detail::apply_override(root, text, errors);
  (void)coffeeshop::config_detail::validate_tree(root);
  return 0;
}
