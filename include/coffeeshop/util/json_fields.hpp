#pragma once

#include <boost/json/object.hpp>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace coffeeshop {

/// The JSON path of member `key` inside the value at `parent`, as validation errors name
/// fields: "items[0]" + "quantity" gives "items[0].quantity"; at the root (empty parent)
/// just "quantity".
std::string field_path(std::string_view parent, std::string_view key);

/// The paths (see field_path) of the members of `object`, the value at `parent`, whose key
/// is not one of `allowed`, in document order. Callers add their own message ("unknown
/// field", "unknown member"): the wording is part of each API's error format.
std::vector<std::string> unknown_fields(const boost::json::object& object, std::string_view parent,
                                        std::initializer_list<std::string_view> allowed);

} // namespace coffeeshop
