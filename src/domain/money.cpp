#include "coffeeshop/domain/money.hpp"

namespace coffeeshop {

double to_wire_amount(cents value) {
  // One correctly rounded division: the nearest double to value/100, which the
  // JSON serializer prints back as the short decimal ("4.5", "12345.67").
  return static_cast<double>(value) / 100.0;
}

std::string format_amount(cents value) {
  // Unsigned magnitude so that INT64_MIN does not overflow on negation.
  const bool negative = value < 0;
  const uint64_t magnitude = negative ? uint64_t{0} - static_cast<uint64_t>(value)
                                      : static_cast<uint64_t>(value);
  const uint64_t fraction = magnitude % 100;
  std::string text = negative ? "-" : "";
  text += std::to_string(magnitude / 100);
  text += '.';
  text += static_cast<char>('0' + fraction / 10);
  text += static_cast<char>('0' + fraction % 10);
  return text;
}

} // namespace coffeeshop
