#pragma once

#include <exception>
#include <string>

namespace coffeeshop {

/// The message of a caught exception: what() of a std::exception, otherwise
/// "unknown exception" (also for a null pointer).
std::string exception_message(std::exception_ptr ep);

} // namespace coffeeshop
