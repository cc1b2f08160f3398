#pragma once

#include "coffeeshop/domain/order_request.hpp"

#include <string>

namespace coffeeshop {

/// A fingerprint of what a create request asks for, to tell "the same body" under one
/// Idempotency-Key: 16 lowercase hex digits of FNV-1a 64 over customer email, payment
/// method, currency and each line's product, variation and quantity, in order. Prices are
/// left out (they follow from the menu). The value is stable across builds, platforms and
/// restarts, so it may be stored; each field is length-prefixed, so no two different
/// requests share a canonical form ("ab"+"c" is not "a"+"bc").
std::string request_fingerprint(const priced_order& o);

} // namespace coffeeshop
