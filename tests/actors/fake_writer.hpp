#pragma once

// A write_queue for actor tests: commits to a real store, and can be told to
// fail commits or to hold writes until the test releases them (one batch per
// release, like a group commit: one transaction, every write of it answered
// together, all committed or none).

#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/store/write_queue.hpp"

#include <cstddef>
#include <deque>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cstest {

class fake_writer final : public coffeeshop::write_queue {
public:
  explicit fake_writer(std::shared_ptr<coffeeshop::order_store> store) : store_(std::move(store)) {}

  // -- what the test controls ---------------------------------------------------

  /// The next `n` transactions fail (nothing of them becomes visible).
  void fail_next(int n) { fail_next_ = n; }
  /// Every transaction fails while set.
  void fail_all(bool on) { fail_all_ = on; }
  /// While set, writes are queued and answered only by release().
  void hold(bool on) { hold_ = on; }

  /// Commits up to `n` held writes (oldest first) in ONE transaction and then
  /// answers each of them. Returns how many were released.
  std::size_t release(std::size_t n = std::numeric_limits<std::size_t>::max()) {
    std::vector<pending> batch;
    while (!held_.empty() && batch.size() < n) {
      batch.push_back(std::move(held_.front()));
      held_.pop_front();
    }
    if (batch.empty())
      return 0;
    auto result = commit(batch);
    for (std::size_t i = 0; i < batch.size(); ++i)
      batch[i].done(result.for_write(i));
    return batch.size();
  }

  // -- what the test looks at ---------------------------------------------------

  std::size_t held() const { return held_.size(); }
  std::size_t submitted() const { return submitted_; }
  std::size_t transactions() const { return transactions_; }
  std::size_t failed() const { return failed_; }
  /// The size of every transaction attempted, in order.
  const std::vector<std::size_t>& batch_sizes() const { return batch_sizes_; }
  /// Every write ever submitted, in order (committed or not).
  const std::vector<coffeeshop::store_write>& writes() const { return writes_; }

  // -- write_queue ----------------------------------------------------------------

  void submit(coffeeshop::store_write w, done_fn done) override {
    ++submitted_;
    writes_.push_back(w);
    if (stopped_) {
      done(coffeeshop::commit_result{false, "the store writer is stopped"});
      return;
    }
    pending p{std::move(w), std::move(done)};
    if (hold_) {
      held_.push_back(std::move(p));
      return;
    }
    std::vector<pending> one;
    one.push_back(std::move(p));
    one.front().done(commit(one).for_write(0));
  }

  void stop() override {
    release();
    stopped_ = true;
  }

private:
  struct pending {
    coffeeshop::store_write write;
    done_fn done;
  };

  coffeeshop::commit_result commit(const std::vector<pending>& batch) {
    ++transactions_;
    batch_sizes_.push_back(batch.size());
    if (fail_all_ || fail_next_ > 0) {
      if (fail_next_ > 0)
        --fail_next_;
      ++failed_;
      return coffeeshop::commit_result{false, "scripted commit failure"};
    }
    std::vector<const coffeeshop::store_write*> writes;
    for (const auto& p : batch)
      writes.push_back(&p.write);
    auto r = store_->commit(writes);
    if (!r.ok)
      ++failed_;
    return r;
  }

  std::shared_ptr<coffeeshop::order_store> store_;
  std::deque<pending> held_;
  int fail_next_ = 0;
  bool fail_all_ = false;
  bool hold_ = false;
  bool stopped_ = false;
  std::size_t submitted_ = 0;
  std::size_t transactions_ = 0;
  std::size_t failed_ = 0;
  std::vector<std::size_t> batch_sizes_;
  std::vector<coffeeshop::store_write> writes_;
};

} // namespace cstest
