#include "coffeeshop/store/work_leases.hpp"

#include "coffeeshop/util/clock.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace coffeeshop {

namespace {

/// Orders claimed per round; a full round is followed by another at once.
constexpr std::size_t claim_batch = 256;

/// The longest wait for an announcement between two looks at stop(): the
/// wait is on the database socket, which stop() cannot interrupt.
constexpr int64_t stop_check_ms = 200;

} // namespace

struct work_claimer::impl {
  std::shared_ptr<work_leases> leases;
  int64_t interval_ms = 0;
  std::mutex mutex;
  listener to;
  uint64_t owner = 0;
  std::vector<std::string> held_back; // claimed while no listener was set
  bool stopping = false;
  std::thread thread;

  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void hand_over(std::vector<std::string> ids) {
    listener l;
    {
      std::lock_guard lock(mutex);
      held_back.insert(held_back.end(), std::make_move_iterator(ids.begin()),
                       std::make_move_iterator(ids.end()));
      if (!to || held_back.empty())
        return;
      l = to;
      ids = std::move(held_back);
      held_back.clear();
    }
    l(std::move(ids));
  }

  void run() {
    while (!stopped()) {
      const int64_t now = now_ms();
      // A failed renewal or claim is tried again next round; the writer
      // reports the outage the store is in.
      leases->renew(now);
      auto ids = leases->claim(now, claim_batch);
      const bool full = ids.size() == claim_batch;
      hand_over(std::move(ids));
      if (full)
        continue;
      const int64_t until = now_ms() + interval_ms;
      for (int64_t left = interval_ms; left > 0 && !stopped(); left = until - now_ms())
        if (leases->wait_for_work(std::min(left, stop_check_ms)))
          break;
    }
  }
};

work_claimer::work_claimer(std::shared_ptr<work_leases> leases, int64_t interval_ms)
  : impl_(std::make_unique<impl>()) {
  impl_->leases = std::move(leases);
  impl_->interval_ms = interval_ms;
  impl_->thread = std::thread([i = impl_.get()] { i->run(); });
}

work_claimer::~work_claimer() { stop(); }

void work_claimer::listen(uint64_t owner, listener l) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->owner = owner;
    impl_->to = std::move(l);
  }
  impl_->hand_over({});
}

void work_claimer::stop_listening(uint64_t owner) {
  std::lock_guard lock(impl_->mutex);
  if (impl_->owner == owner)
    impl_->to = nullptr;
}

void work_claimer::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping)
      return;
    impl_->stopping = true;
  }
  impl_->thread.join();
}

} // namespace coffeeshop
