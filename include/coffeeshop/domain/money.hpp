#pragma once

#include <cstdint>
#include <string>

namespace coffeeshop {

/// Money is held in integer cents; floating point appears only on the wire.
using cents = int64_t;

/// Converts cents to the JSON number put on the wire (e.g. 450 -> 4.5).
double to_wire_amount(cents value);

/// Formats cents as a fixed two-decimal string ("4.50") for logs and upstream bodies.
std::string format_amount(cents value);

} // namespace coffeeshop
