#pragma once

// A thin RAII layer over the SQLite C API. The C API rather than
// libsqlitecpp (SQLiteCpp): one dependency less, and the store needs only a
// handful of statements, each prepared once per connection, which this layer
// covers in about a hundred lines.

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coffeeshop::sqlite {

/// One database connection, closed on destruction.
class connection {
public:
  /// Opens `path` with sqlite3_open_v2 `flags`; nullopt with the SQLite
  /// message in `error` when it cannot.
  static std::optional<connection> open(const std::string& path, int flags, std::string& error);

  connection(connection&& other) noexcept;
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  sqlite3* handle() const { return db_; }

  /// The message of the last failed call on this connection.
  std::string errmsg() const;

  /// Runs statements that return no rows (DDL, pragmas that set); false with
  /// the SQLite message in `error` on the first that fails.
  bool exec(const char* sql, std::string& error);

  /// True while a transaction is open (not in autocommit mode).
  bool in_transaction() const;

private:
  explicit connection(sqlite3* db) : db_(db) {}
  sqlite3* db_ = nullptr;
};

/// A prepared statement, finalised on destruction. Bind indexes start at 1,
/// column indexes at 0 (SQLite's own conventions).
class statement {
public:
  /// Prepares `sql` for repeated use; nullopt with the SQLite message in
  /// `error` when it does not compile.
  static std::optional<statement> prepare(connection& db, const char* sql, std::string& error);

  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  ~statement();

  /// Binders return false when SQLite refuses the value (out of memory, bad
  /// index); text is copied, so temporaries are fine.
  bool bind(int index, int64_t value);
  bool bind(int index, std::string_view text);
  bool bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  bool bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  /// Bind NULL for nullopt.
  bool bind(int index, const std::optional<std::string>& text);
  bool bind(int index, const std::optional<int64_t>& value);

  /// SQLITE_ROW, SQLITE_DONE or an error code (the message is on the connection).
  int step();

  /// Rewinds and clears the bindings. A statement left mid-result holds its
  /// read snapshot open, which in WAL mode keeps checkpoints from finishing.
  void reset();

  int64_t column_int64(int column) const;
  std::string column_text(int column) const;
  bool column_is_null(int column) const;

private:
  explicit statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  sqlite3_stmt* stmt_ = nullptr;
};

/// Resets a statement when the scope that used it ends, however it ends.
class reset_on_exit {
public:
  explicit reset_on_exit(statement& s) : s_(s) {}
  reset_on_exit(const reset_on_exit&) = delete;
  reset_on_exit& operator=(const reset_on_exit&) = delete;
  ~reset_on_exit() { s_.reset(); }

private:
  statement& s_;
};

/// A write transaction: BEGIN IMMEDIATE on begin(), rolled back on
/// destruction unless commit() succeeded.
class transaction {
public:
  explicit transaction(connection& db) : db_(db) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  /// Takes the write lock now rather than at the first write, so a busy
  /// database fails here, after busy_timeout, before any work is done.
  bool begin(std::string& error);
  bool commit(std::string& error);

private:
  connection& db_;
  bool open_ = false;
};

} // namespace coffeeshop::sqlite
