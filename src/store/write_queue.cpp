#include "coffeeshop/store/write_queue.hpp"

#include "coffeeshop/services.hpp"
#include "coffeeshop/telemetry/metrics.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace coffeeshop {

namespace {

struct pending_write {
  store_write write;
  write_queue::done_fn done;
};

/// Commits a batch and records it in the metrics.
commit_result commit_batch(order_store& store, metrics& stats, store_health& health,
                           const std::vector<pending_write>& batch) {
  std::vector<const store_write*> writes;
  writes.reserve(batch.size());
  for (const auto& p : batch)
    writes.push_back(&p.write);
  auto started = std::chrono::steady_clock::now();
  auto result = store.commit(writes);
  stats.store_commit_duration.observe(
    {}, std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  stats.store_writes.add({}, static_cast<double>(batch.size()));
  if (!result.ok)
    stats.store_errors.add({{"op", "commit"}});
  health.ok = result.ok;
  return result;
}

class inline_writer final : public write_queue {
public:
  inline_writer(order_store& store, std::shared_ptr<metrics> stats,
                std::shared_ptr<store_health> health)
    : store_(store), stats_(std::move(stats)), health_(std::move(health)) {}

  void submit(store_write w, done_fn done) override {
    std::vector<pending_write> one;
    one.push_back({std::move(w), nullptr});
    commit_result result{false, "the store writer is stopped"};
    if (!stopped_)
      result = commit_batch(store_, *stats_, *health_, one).for_write(0);
    done(result);
  }

  void stop() override { stopped_ = true; }

private:
  order_store& store_;
  std::shared_ptr<metrics> stats_;
  std::shared_ptr<store_health> health_;
  bool stopped_ = false;
};

class group_commit_writer final : public write_queue {
public:
  group_commit_writer(order_store& store, std::shared_ptr<metrics> stats,
                      std::shared_ptr<store_health> health, std::size_t max_batch)
    : store_(store),
      stats_(std::move(stats)),
      health_(std::move(health)),
      max_batch_(max_batch),
      thread_([this] { run(); }) {}

  ~group_commit_writer() override { stop(); }

  void submit(store_write w, done_fn done) override {
    {
      std::lock_guard guard{mtx_};
      if (!stopping_) {
        queue_.push_back({std::move(w), std::move(done)});
        wake_.notify_one();
        return;
      }
    }
    done({false, "the store writer is stopped"});
  }

  void stop() override {
    {
      std::lock_guard guard{mtx_};
      if (stopping_)
        return;
      stopping_ = true;
      wake_.notify_one();
    }
    if (thread_.joinable())
      thread_.join();
  }

private:
  void run() {
    std::vector<pending_write> batch;
    while (true) {
      {
        std::unique_lock lock{mtx_};
        auto ready = [this] { return stopping_ || !queue_.empty(); };
        // A failing store is probed with an empty transaction every second, so
        // /readyz turns back to 200 when it recovers even if no write comes.
        while (!health_->ok && !ready()) {
          if (wake_.wait_for(lock, std::chrono::seconds{1}, ready))
            break;
          lock.unlock();
          commit_batch(store_, *stats_, *health_, {});
          lock.lock();
        }
        wake_.wait(lock, ready);
        if (queue_.empty())
          return; // stopping, and everything queued was answered
        while (!queue_.empty() && batch.size() < max_batch_) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      auto result = commit_batch(store_, *stats_, *health_, batch);
      for (std::size_t i = 0; i < batch.size(); ++i)
        batch[i].done(result.for_write(i));
      batch.clear();
    }
  }

  order_store& store_;
  std::shared_ptr<metrics> stats_;
  std::shared_ptr<store_health> health_;
  const std::size_t max_batch_;
  std::mutex mtx_;
  std::condition_variable wake_;
  std::deque<pending_write> queue_;
  bool stopping_ = false;
  std::thread thread_; // last: it starts once everything above is ready
};

} // namespace

std::unique_ptr<write_queue> make_inline_writer(order_store& store, std::shared_ptr<metrics> stats,
                                                std::shared_ptr<store_health> health) {
  return std::make_unique<inline_writer>(store, std::move(stats), std::move(health));
}

std::unique_ptr<write_queue> make_group_commit_writer(order_store& store,
                                                      std::shared_ptr<metrics> stats,
                                                      std::shared_ptr<store_health> health,
                                                      std::size_t max_batch) {
  return std::make_unique<group_commit_writer>(store, std::move(stats), std::move(health),
                                               max_batch);
}

} // namespace coffeeshop
