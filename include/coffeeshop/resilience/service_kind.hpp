#pragma once

#include <optional>
#include <string_view>

namespace coffeeshop {

/// Which upstream an integration talks to.
enum class service_kind { payment, notification };

/// "payment" or "notification".
const char* to_string(service_kind kind);

/// Parses "payment" / "notification".
std::optional<service_kind> parse_service_kind(std::string_view name);

} // namespace coffeeshop
