#include "coffeeshop/util/json_fields.hpp"

#include <algorithm>

namespace coffeeshop {

std::string field_path(std::string_view parent, std::string_view key) {
  std::string path;
  path.reserve(parent.size() + 1 + key.size());
  if (!parent.empty()) {
    path.append(parent);
    path += '.';
  }
  path.append(key);
  return path;
}

std::vector<std::string> unknown_fields(const boost::json::object& object, std::string_view parent,
                                        std::initializer_list<std::string_view> allowed) {
  std::vector<std::string> unknown;
  for (const auto& member : object) {
    const std::string_view key = member.key();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      unknown.push_back(field_path(parent, key));
  }
  return unknown;
}

} // namespace coffeeshop
