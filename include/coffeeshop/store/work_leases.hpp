#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace coffeeshop {

/// Leases on the unfinished work of orders (a payment pending, notifications
/// pending) among daemons sharing one store (CONTRACT §8). An order's work is
/// done by the one daemon holding its lease, which renews it while it lives;
/// when it dies, another claims the order once the lease has expired and does
/// the work again under the same Idempotency-Keys. Commits take and give back
/// leases too (`store_write::lease`); this is the rest.
class work_leases {
public:
  virtual ~work_leases() = default;

  /// Extends every lease this daemon holds by the lease time from `now_ms`;
  /// false when the store cannot be written.
  virtual bool renew(int64_t now_ms) = 0;

  /// Takes up to `max` orders with unfinished work whose lease expired or
  /// that nobody holds; their ids.
  virtual std::vector<std::string> claim(int64_t now_ms, std::size_t max) = 0;

  /// The orders whose leases this daemon holds (what a restarted coordinator
  /// takes up again).
  virtual std::vector<std::string> held() = 0;

  /// Gives up every lease this daemon holds (a clean stop: the others take
  /// its work at once instead of after the lease time).
  virtual void give_up_all() = 0;

  /// Waits until another daemon announces work it could not take, or
  /// `timeout_ms` passes. True when woken by an announcement.
  virtual bool wait_for_work(int64_t timeout_ms) = 0;
};

/// Renews this daemon's leases and claims orphaned work on a thread of its
/// own, every `interval_ms` and whenever another daemon announces work, from
/// construction until stop(). Claimed orders go to the listener; those
/// claimed while none is set wait for the next one.
class work_claimer {
public:
  using listener = std::function<void(std::vector<std::string> order_ids)>;

  work_claimer(std::shared_ptr<work_leases> leases, int64_t interval_ms);
  work_claimer(const work_claimer&) = delete;
  work_claimer& operator=(const work_claimer&) = delete;
  ~work_claimer();

  /// Where claimed orders go from now on: the coordinator `owner` (an id
  /// unique to it), set again by its successor when it restarts.
  void listen(uint64_t owner, listener l);

  /// Claimed orders wait from now on, unless another owner listens already.
  void stop_listening(uint64_t owner);

  /// Stops the thread. Idempotent. Leases held stay until give_up_all() or
  /// until they expire.
  void stop();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace coffeeshop
