#include "coffeeshop/domain/request_fingerprint.hpp"

#include <cstdint>
#include <cstdio>
#include <string_view>

namespace coffeeshop {

namespace {

// FNV-1a 64-bit parameters (Fowler, Noll, Vo). Not cryptographic: the fingerprint only has
// to tell one client's retries from a changed body, not resist a forger.
constexpr uint64_t fnv_offset_basis = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

class fnv1a_64 {
public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= fnv_prime;
    }
  }

  /// "<decimal length>:<bytes>": a field cannot run into the next one.
  void add_field(std::string_view value) {
    add(std::to_string(value.size()));
    add(":");
    add(value);
  }

  uint64_t value() const { return hash_; }

private:
  uint64_t hash_ = fnv_offset_basis;
};

} // namespace

std::string request_fingerprint(const priced_order& o) {
  fnv1a_64 h;
  h.add_field(o.customer_email);
  h.add_field(o.payment_method);
  h.add_field(o.currency);
  for (const auto& line : o.items) {
    h.add_field(line.product);
    h.add_field(line.variation);
    h.add_field(std::to_string(line.quantity));
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h.value()));
  return hex;
}

} // namespace coffeeshop
