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

/// Parses an HTTP-date to epoch milliseconds: IMF-fixdate only ("Sun, 06 Nov 1994
/// 08:49:37 GMT", RFC 7231 §7.1.1.1), surrounding spaces/tabs ignored. The obsolete
/// RFC 850 and asctime forms, impossible dates (31 Nov, 29 Feb 2026) and times past
/// 23:59:60 yield nullopt; the weekday is checked for spelling, not against the date.
std::optional<int64_t> parse_http_date(std::string_view text);

} // namespace coffeeshop
