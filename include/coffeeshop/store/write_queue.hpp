#pragma once

#include "coffeeshop/domain/order_store.hpp"

#include <functional>
#include <memory>

namespace coffeeshop {

class metrics;
struct store_health;

/// Where the order coordinator hands its writes. `done` is called once per
/// write, after the transaction holding it committed (or failed: then none of
/// it is visible), on whatever thread completed it; it must not block.
class write_queue {
public:
  using done_fn = std::function<void(const commit_result&)>;

  virtual ~write_queue() = default;

  virtual void submit(store_write w, done_fn done) = 0;

  /// Commits what is queued, answers it, and stops taking writes (later
  /// submits fail at once). Idempotent.
  virtual void stop() = 0;
};

/// Commits each write at once on the caller's thread (the memory store, and
/// tests that need every step deterministic).
std::unique_ptr<write_queue> make_inline_writer(order_store& store, std::shared_ptr<metrics> stats,
                                                std::shared_ptr<store_health> health);

/// One writer thread that group-commits: it takes every write queued while
/// the previous transaction ran (up to `max_batch`), commits them in one
/// transaction and fsync, then answers each. One fsync per batch instead of
/// one per order is what makes a durable store cheap.
std::unique_ptr<write_queue> make_group_commit_writer(order_store& store,
                                                      std::shared_ptr<metrics> stats,
                                                      std::shared_ptr<store_health> health,
                                                      std::size_t max_batch = 512);

} // namespace coffeeshop
