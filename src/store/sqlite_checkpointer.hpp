#pragma once

// Moves SQLite's WAL checkpoints off the commit path. With automatic
// checkpoints the commit that crosses the threshold copies every frame of the
// WAL into the database file and fsyncs it, and every order waiting on that
// commit waits for it too. Here the write connection only reports the WAL's
// size after each commit; a thread with a connection of its own runs PASSIVE
// checkpoints, which never block the writer or the readers.

#include "sqlite_db.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

namespace coffeeshop::sqlite {

class checkpointer {
public:
  /// Turns off automatic checkpoints on `writer` and checkpoints from `own`
  /// (a read-write connection to the same file) once the WAL holds
  /// `threshold_pages` frames. `writer` must outlive this object.
  checkpointer(connection& writer, connection own, int threshold_pages);
  checkpointer(const checkpointer&) = delete;
  checkpointer& operator=(const checkpointer&) = delete;
  /// Stops the thread (a checkpoint under way finishes first).
  ~checkpointer();

  /// Checkpoints run so far (for tests and diagnostics).
  long completed() const;

private:
  static int on_commit(void* self, sqlite3* db, const char* schema, int wal_pages);
  void run();

  connection& writer_;
  connection own_;
  const int threshold_pages_;
  mutable std::mutex mtx_;
  std::condition_variable wake_;
  bool due_ = false;
  bool stopping_ = false;
  long completed_ = 0;
  std::thread thread_; // last: it starts once everything above is ready
};

} // namespace coffeeshop::sqlite
