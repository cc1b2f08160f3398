#pragma once

#include <boost/json/value.hpp>

#include <string>

namespace coffeeshop {

/// Serialises JSON the way the daemon puts it on the wire and in logs. Unlike
/// boost::json::serialize, doubles are written as plain decimals with a
/// visible fraction (4.0, 4.5, 0.3 — not 4E0, 4.5E0, 3E-1). `pretty` indents
/// by two spaces (for --print-config).
std::string to_json_text(const boost::json::value& v, bool pretty = false);

} // namespace coffeeshop
