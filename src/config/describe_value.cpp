// How a config value is quoted in error messages.

#include "config_tree.hpp"

#include "coffeeshop/util/json_text.hpp"

namespace coffeeshop::config_detail {
namespace json = boost::json;

std::string describe_value(const json::value& v) {
  // Long values (a whole object pasted into the wrong key) would drown the message.
  constexpr std::size_t max_len = 80;
  std::string text = coffeeshop::to_json_text(v);
  if (text.size() > max_len)
    text = text.substr(0, max_len) + "...";
  return text;
}

} // namespace coffeeshop::config_detail
