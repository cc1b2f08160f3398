#include "ledger.hpp"

namespace coffeeshop::sim {
namespace json = boost::json;

payment_ledger::payment_ledger(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

std::optional<payment_ledger::entry> payment_ledger::replay(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end())
    return std::nullopt;
  entry& e = entries_[it->second - first_index_];
  ++e.count;
  ++duplicates_;
  return e;
}

void payment_ledger::charge(std::optional<std::string> key, double amount, std::string reference) {
  if (entries_.size() >= capacity_) {
    if (entries_.front().idempotency_key)
      by_key_.erase(*entries_.front().idempotency_key);
    entries_.pop_front();
    ++first_index_;
  }
  if (key)
    by_key_[*key] = first_index_ + entries_.size();
  entries_.push_back(entry{std::move(key), amount, std::move(reference), 1});
  ++charges_;
}

void payment_ledger::clear() {
  first_index_ += entries_.size();
  entries_.clear();
  by_key_.clear();
  charges_ = 0;
  duplicates_ = 0;
}

json::object payment_ledger::to_json() const {
  json::array payments;
  payments.reserve(entries_.size());
  for (const auto& e : entries_) {
    json::object p;
    p["idempotencyKey"] = e.idempotency_key ? json::value(*e.idempotency_key)
                                            : json::value(nullptr);
    p["amount"] = e.amount;
    p["reference"] = e.reference;
    p["count"] = e.count;
    payments.push_back(std::move(p));
  }
  json::object o;
  o["charges"] = charges_;
  o["payments"] = std::move(payments);
  o["duplicates"] = duplicates_;
  return o;
}

} // namespace coffeeshop::sim
