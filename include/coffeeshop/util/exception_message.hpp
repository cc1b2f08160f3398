#pragma once

#include <exception>
#include <string>

namespace coffeeshop {

/// The message of a caught exception ("unknown exception" when it is not a
/// std::exception or there is none).
std::string exception_message(std::exception_ptr ep);

} // namespace coffeeshop
