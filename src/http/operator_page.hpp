#pragma once

#include <string_view>

namespace coffeeshop {

/// The operator page of GET / (src/http/operator_page.html, compiled in at build time so
/// the daemon needs no file beside it).
std::string_view operator_page();

} // namespace coffeeshop
