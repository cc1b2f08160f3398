#pragma once

#include "coffeeshop/domain/order.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace coffeeshop {

/// A page of orders, oldest first, with the id to pass as `after` for the next page.
struct order_page {
  std::vector<order> orders;
  std::optional<std::string> next;
};

/// Where orders live. Implementations are safe to call from any thread: the
/// coordinator writes, HTTP threads read without an actor hop.
class order_store {
public:
  virtual ~order_store() = default;

  /// Inserts or replaces the order with the same id.
  virtual void put(const order& o) = 0;

  /// The order with this id, if any.
  virtual std::optional<order> get(const std::string& id) const = 0;

  /// The order created with this Idempotency-Key, if any.
  virtual std::optional<order> find_by_idempotency_key(const std::string& key) const = 0;

  /// Orders in creation order, optionally filtered by status, starting after
  /// the order with id `after` (exclusive), at most `limit`.
  virtual order_page list(const std::optional<order_status>& status, std::size_t limit,
                          const std::optional<std::string>& after) const = 0;

  /// Number of stored orders.
  virtual std::size_t size() const = 0;
};

/// The in-memory store: a map guarded by a shared mutex, plus creation order.
std::unique_ptr<order_store> make_memory_order_store();

} // namespace coffeeshop
