#pragma once

// A thin RAII layer over libpq. libpq rather than libpqxx: the store needs a
// few prepared statements, text parameters and one transaction shape, and it
// must control reconnection and error text (no password may leak); a small
// wrapper over the C API does that without a second library and its
// exception-based error model.

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop::pg {

/// One query's result, cleared on destruction.
class result {
public:
  explicit result(PGresult* r = nullptr) : r_(r) {}
  result(result&& other) noexcept : r_(std::exchange(other.r_, nullptr)) {}
  result& operator=(result&& other) noexcept;
  result(const result&) = delete;
  result& operator=(const result&) = delete;
  ~result();

  /// The command succeeded (with or without rows).
  bool ok() const;
  int rows() const;
  std::string text(int row, int column) const;
  int64_t int64(int row, int column) const;
  bool is_null(int row, int column) const;
  /// The SQLSTATE of a failure ("23505" unique violation), "" if none.
  std::string sqlstate() const;
  /// The command tag ("INSERT 0 1", "ROLLBACK").
  std::string command_tag() const;
  /// The server's or libpq's message, one line.
  std::string message() const;

private:
  PGresult* r_;
};

/// Text parameters of one statement; nullopt binds NULL.
class params {
public:
  params& add(std::string v);
  params& add(int64_t v) { return add(std::to_string(v)); }
  params& add(const std::optional<std::string>& v);
  params& add(const std::optional<int64_t>& v);

  int size() const { return static_cast<int>(values_.size()); }
  /// Pointers into this object; valid while it lives unchanged.
  std::vector<const char*> pointers() const;

private:
  std::vector<std::optional<std::string>> values_;
};

/// One statement of a pipelined transaction: a prepared statement, its
/// parameters, and what it does (for the error message).
struct step {
  const char* name;
  params values;
  std::string what;
};

/// A named statement prepared on every (re)connected connection.
struct prepared {
  const char* name;
  const char* sql;
};

/// One server connection with its prepared statements. Not thread-safe: one
/// user at a time (the store's pool hands it out).
class connection {
public:
  /// Connects to `url` and prepares `statements`; nullopt with the reason in
  /// `error` (libpq's message, which never holds the password).
  static std::optional<connection> open(const std::string& url, int connect_timeout_s,
                                        int statement_timeout_ms, std::vector<prepared> statements,
                                        std::string& error);

  connection(connection&& other) noexcept;
  connection& operator=(connection&& other) noexcept;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection();

  /// Reconnects (and prepares again) when the server connection was lost;
  /// false with the reason when it is still lost.
  bool ensure(std::string& error);

  /// Whether `failed` says the session is gone (the server shut down or the
  /// socket broke) rather than that the statement was wrong. libpq may still
  /// report the connection as up when it has read only the server's FATAL
  /// notice: ensure() then connects again.
  bool lost(const result& failed);

  /// Runs `sql` with no parameters (several statements allowed).
  result exec(const char* sql);
  /// Runs `sql` with text parameters ($1, $2, ... cast in the SQL).
  result exec(const char* sql, const params& p);
  /// Runs the prepared statement `name`.
  result run(const char* name, const params& p);

  /// Runs `steps` between BEGIN and COMMIT in one round trip (libpq's
  /// pipeline mode) instead of one per statement; false with the first
  /// failure ("<what>: <message>"), and then nothing of it is committed.
  bool run_transaction(const std::vector<step>& steps, std::string& error);

  PGconn* handle() const { return conn_; }
  /// The connection's last error, one line.
  std::string errmsg() const;

private:
  connection(PGconn* c, std::vector<prepared> statements, int statement_timeout_ms)
    : conn_(c), statements_(std::move(statements)), statement_timeout_ms_(statement_timeout_ms) {}
  bool setup(std::string& error);

  PGconn* conn_ = nullptr;
  std::vector<prepared> statements_;
  int statement_timeout_ms_ = 0;
  bool ready_ = false; ///< set up (timeout set, statements prepared) since it connected
};

/// A transaction: BEGIN on begin(), rolled back on destruction unless
/// commit() succeeded.
class transaction {
public:
  explicit transaction(connection& db) : db_(db) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  ~transaction();

  bool begin(std::string& error);
  bool commit(std::string& error);

private:
  connection& db_;
  bool open_ = false;
};

} // namespace coffeeshop::pg
