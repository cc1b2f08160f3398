#include "sqlite_checkpointer.hpp"

#include <string>

namespace coffeeshop::sqlite {

checkpointer::checkpointer(connection& writer, connection own, int threshold_pages)
  : writer_(writer),
    own_(std::move(own)),
    threshold_pages_(threshold_pages),
    thread_([this] { run(); }) {
  // The WAL hook replaces SQLite's automatic checkpoint (which is itself a
  // WAL hook), so no commit checkpoints any more.
  sqlite3_wal_hook(writer_.handle(), &checkpointer::on_commit, this);
}

checkpointer::~checkpointer() {
  sqlite3_wal_hook(writer_.handle(), nullptr, nullptr);
  {
    std::lock_guard guard{mtx_};
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

long checkpointer::completed() const {
  std::lock_guard guard{mtx_};
  return completed_;
}

int checkpointer::on_commit(void* self, sqlite3*, const char*, int wal_pages) {
  auto* me = static_cast<checkpointer*>(self);
  if (wal_pages >= me->threshold_pages_) {
    {
      std::lock_guard guard{me->mtx_};
      me->due_ = true;
    }
    me->wake_.notify_one();
  }
  return SQLITE_OK;
}

void checkpointer::run() {
  std::unique_lock lock{mtx_};
  while (true) {
    wake_.wait(lock, [this] { return due_ || stopping_; });
    if (stopping_)
      return;
    due_ = false;
    lock.unlock();
    // A checkpoint that fails (I/O error) leaves the frames in the WAL, where
    // readers still find them; the next commit meets the same disk and
    // reports it, so nothing is lost and nothing is hidden.
    int wal_frames = 0;
    int copied = 0;
    sqlite3_wal_checkpoint_v2(own_.handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                              &copied);
    lock.lock();
    ++completed_;
  }
}

} // namespace coffeeshop::sqlite
