#include "coffeeshop/store/instance_registry.hpp"

#include "coffeeshop/util/clock.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace coffeeshop {

namespace {

class local_instance_registry final : public instance_registry {
public:
  bool heartbeat(const instance_info& self) override {
    std::lock_guard lock(mutex_);
    self_ = self;
    return true;
  }

  std::vector<instance_info> live(int64_t now_ms, int64_t lease_ms) const override {
    std::lock_guard lock(mutex_);
    if (self_.id.empty() || now_ms - self_.heartbeat_at_ms > lease_ms)
      return {};
    return {self_};
  }

  void leave(const std::string& id) override {
    std::lock_guard lock(mutex_);
    if (self_.id == id)
      self_ = {};
  }

private:
  mutable std::mutex mutex_;
  instance_info self_;
};

} // namespace

std::unique_ptr<instance_registry> make_local_instance_registry() {
  return std::make_unique<local_instance_registry>();
}

struct heartbeat_loop::impl {
  std::shared_ptr<instance_registry> registry;
  instance_info self;
  int64_t interval_ms;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  void run() {
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      self.heartbeat_at_ms = now_ms();
      // A failed beat is retried on the next tick; the store's own errors are
      // reported by the writer, which sees the same outage.
      registry->heartbeat(self);
      lock.lock();
      wake.wait_for(lock, std::chrono::milliseconds(interval_ms), [this] { return stopping; });
    }
  }
};

heartbeat_loop::heartbeat_loop(std::shared_ptr<instance_registry> registry, instance_info self,
                               int64_t interval_ms)
  : impl_(std::make_unique<impl>()) {
  impl_->registry = std::move(registry);
  impl_->self = std::move(self);
  impl_->interval_ms = interval_ms;
  impl_->thread = std::thread([i = impl_.get()] { i->run(); });
}

heartbeat_loop::~heartbeat_loop() { stop(); }

void heartbeat_loop::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping)
      return;
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
  impl_->registry->leave(impl_->self.id);
}

} // namespace coffeeshop
