#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffeeshop {

/// Wall-clock now as Unix epoch milliseconds.
int64_t now_ms();

/// RFC 3339 UTC with milliseconds: "2026-11-24T10:15:30.123Z".
std::string format_rfc3339(int64_t epoch_ms);

/// Parses an HTTP-date (IMF-fixdate, RFC 7231) to epoch milliseconds.
std::optional<int64_t> parse_http_date(std::string_view text);

} // namespace coffeeshop
