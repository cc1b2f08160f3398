#pragma once

#include "coffeeshop/domain/order.hpp"
#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/service_kind.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop {

/// A page of orders, oldest first, with the id to pass as `after` for the next page.
struct order_page {
  std::vector<order> orders;
  std::optional<std::string> next;
};

/// Where a notification is in the outbox.
enum class outbox_state { pending, sent, failed };

/// "pending", "sent", "failed".
const char* to_string(outbox_state s);

/// Parses "pending", "sent", "failed"; nullopt when unknown.
std::optional<outbox_state> parse_outbox_state(std::string_view name);

/// One notification to deliver: an order's status change, written in the
/// same transaction as that change (CONTRACT §7).
struct outbox_entry {
  std::string id; // chosen by the writer; also the notification's id in the order JSON
  std::string order_id;
  std::string status; // the order status announced
  outbox_state state = outbox_state::pending;
  int attempts = 0;
  std::string last_error;
  int64_t next_attempt_at_ms = 0; // Unix epoch ms; 0: at once
  int64_t created_at_ms = 0;
};

/// One atomic unit of writes: all of it is committed, or none.
struct store_write {
  /// Inserted, or replacing the order with the same id.
  std::vector<order> orders;
  /// Inserted, or replacing the entry with the same id.
  std::vector<outbox_entry> outbox;
  std::vector<std::pair<service_kind, breaker_snapshot>> breakers;

  // Conditions checked inside the transaction, against what is committed
  // (by any daemon sharing the store). When one does not hold, nothing of
  // this write is applied, the rest of the batch is, and the write's result
  // is a conflict (CONTRACT §8: one order per key, no lost update).

  /// Each order's Idempotency-Key must be free or already that order's.
  bool claim_keys = false;
  /// The stored `orders[0]` must be in this status (a status change made
  /// from what was read).
  std::optional<order_status> expect_status;

  /// What this write does to the lease on its order's unfinished work (a
  /// pending payment, pending notifications) when several daemons share the
  /// store (CONTRACT §8). A store of one daemon ignores it: that daemon holds
  /// every lease.
  enum class lease_change {
    none,
    /// Take the lease unless another daemon holds one that has not expired.
    take,
    /// Give the lease up unless work remains (the write itself may finish it).
    give_back,
  };
  lease_change lease = lease_change::none;
  /// The order `lease` applies to.
  std::string lease_order;

  bool empty() const { return orders.empty() && outbox.empty() && breakers.empty(); }
};

/// How a commit ended; `error` names the cause when it failed (nothing of
/// the batch is then visible).
struct commit_result {
  commit_result() = default;
  /// `{false, "why"}`: a failed commit.
  commit_result(bool ok_, std::string error_) : ok(ok_), error(std::move(error_)) {}

  bool ok = true;
  std::string error;
  /// For one write: a condition of it did not hold, so it was not applied
  /// (`ok` stays true: the store works).
  bool conflict = false;
  /// For a batch: the indexes of its writes that were not applied.
  std::vector<std::size_t> conflicts;
  /// For one write with a lease change: whether this daemon holds the lease
  /// on its order after it (always, with a store of one daemon).
  bool leased = true;
  /// For a batch: the indexes of writes after which this daemon does not
  /// hold the lease (refused, or given back).
  std::vector<std::size_t> unleased;

  /// The result of the write at `index` of the batch this result is for.
  commit_result for_write(std::size_t index) const;
};

/// Whether `w`'s conditions hold, given the stored status of `orders[0]`
/// (nullopt: not stored) and the id of the order holding each key (nullopt:
/// free); the SQL stores read those inside their transaction.
template <class KeyOwner>
bool conditions_hold(const store_write& w, const std::optional<order_status>& stored_status,
                     KeyOwner key_owner) {
  if (w.expect_status && (w.orders.empty() || stored_status != w.expect_status))
    return false;
  if (w.claim_keys)
    for (const auto& o : w.orders)
      if (o.idempotency_key) {
        const std::optional<std::string> owner = key_owner(*o.idempotency_key);
        if (owner && *owner != o.id)
          return false;
      }
  return true;
}

/// Where orders, idempotency records, the notification outbox and breaker
/// states live. Reads are safe from any thread and never wait for a commit;
/// commits come from one writer at a time (the store writer's thread).
class order_store {
public:
  virtual ~order_store() = default;

  // -- writes ---------------------------------------------------------------------

  /// Applies every write of `batch` in one transaction, committed once.
  virtual commit_result commit(const std::vector<const store_write*>& batch) = 0;

  // -- orders ---------------------------------------------------------------------

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

  // -- outbox ---------------------------------------------------------------------

  /// The entry with this id, if any.
  virtual std::optional<outbox_entry> outbox_get(const std::string& id) const = 0;

  /// Entries in creation order, optionally in one state, at most `limit`.
  virtual std::vector<outbox_entry> outbox_list(const std::optional<outbox_state>& state,
                                                std::size_t limit) const = 0;

  /// The pending entries of one order, oldest first.
  virtual std::vector<outbox_entry> outbox_pending_for(const std::string& order_id) const;

  /// Number of entries in `state`, and the creation time of the oldest one.
  virtual std::pair<std::size_t, std::optional<int64_t>> outbox_count(outbox_state state) const = 0;

  // -- breakers -------------------------------------------------------------------

  /// The last committed snapshot of a service's breaker.
  virtual std::optional<breaker_snapshot> breaker(service_kind service) const = 0;
};

/// Puts one order: a one-write commit (tests, tools).
commit_result put_order(order_store& store, const order& o);

/// The in-memory store: maps guarded by a shared mutex, plus creation order.
std::unique_ptr<order_store> make_memory_order_store();

} // namespace coffeeshop
