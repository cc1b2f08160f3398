#pragma once

// The simulated payment provider's book of charges, used to prove that retries with the same
// Idempotency-Key never charge a customer twice.

#include <boost/json.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>

namespace coffeeshop::sim {

/// Successful payments. Not thread-safe: the simulator calls it under its own mutex.
class payment_ledger {
public:
  /// One charge, or one idempotency key with all its successful replays.
  struct entry {
    std::optional<std::string> idempotency_key;
    double amount = 0.0;
    std::string reference;
    uint64_t count = 1; // 1 + replays answered from this entry
  };

  /// Keeps at most `capacity` entries (oldest dropped, counters unaffected) so a long
  /// benchmark cannot grow memory without bound.
  explicit payment_ledger(std::size_t capacity = 100'000);

  /// When `key` already succeeded: counts a duplicate and returns that first payment, so the
  /// caller answers with the same reference. Otherwise nullopt (nothing recorded).
  std::optional<entry> replay(const std::string& key);

  /// Records a new charge (a payment without key, or the first success for its key).
  void charge(std::optional<std::string> key, double amount, std::string reference);

  uint64_t charges() const { return charges_; }
  uint64_t duplicates() const { return duplicates_; }

  /// Forgets everything, counters included.
  void clear();

  /// {"charges":N,"payments":[{"idempotencyKey","amount","reference","count"}],"duplicates":M}
  boost::json::object to_json() const;

private:
  std::size_t capacity_;
  std::deque<entry> entries_;
  uint64_t first_index_ = 0;                         // absolute index of entries_.front()
  std::unordered_map<std::string, uint64_t> by_key_; // key -> absolute index
  uint64_t charges_ = 0;
  uint64_t duplicates_ = 0;
};

} // namespace coffeeshop::sim
