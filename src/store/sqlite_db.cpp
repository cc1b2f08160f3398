#include "sqlite_db.hpp"

#include <utility>

namespace coffeeshop::sqlite {

std::optional<connection> connection::open(const std::string& path, int flags, std::string& error) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    // A handle is returned even on most failures and carries the message.
    error = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return std::nullopt;
  }
  return connection(db);
}

connection::connection(connection&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
  }
  return *this;
}

connection::~connection() { sqlite3_close_v2(db_); }

std::string connection::errmsg() const { return sqlite3_errmsg(db_); }

bool connection::exec(const char* sql, std::string& error) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc == SQLITE_OK)
    return true;
  error = message ? message : sqlite3_errstr(rc);
  sqlite3_free(message);
  return false;
}

bool connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::optional<statement> statement::prepare(connection& db, const char* sql, std::string& error) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db.handle(), sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                                    nullptr);
  if (rc != SQLITE_OK) {
    error = db.errmsg();
    sqlite3_finalize(stmt);
    return std::nullopt;
  }
  return statement(stmt);
}

statement::statement(statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

statement::~statement() { sqlite3_finalize(stmt_); }

bool statement::bind(int index, int64_t value) {
  return sqlite3_bind_int64(stmt_, index, value) == SQLITE_OK;
}

bool statement::bind(int index, std::string_view text) {
  return sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT,
                             SQLITE_UTF8) == SQLITE_OK;
}

bool statement::bind(int index, const std::optional<std::string>& text) {
  return text ? bind(index, std::string_view(*text)) : sqlite3_bind_null(stmt_, index) == SQLITE_OK;
}

bool statement::bind(int index, const std::optional<int64_t>& value) {
  return value ? bind(index, *value) : sqlite3_bind_null(stmt_, index) == SQLITE_OK;
}

int statement::step() { return sqlite3_step(stmt_); }

void statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t statement::column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string statement::column_text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  // Length after the text call: it is the length of the converted value.
  const int length = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(text, static_cast<std::size_t>(length)) : std::string();
}

bool statement::column_is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

transaction::~transaction() {
  // SQLite may already have rolled back by itself (after SQLITE_FULL or an
  // I/O error); a second ROLLBACK would only fail.
  if (open_ && db_.in_transaction()) {
    std::string ignored;
    db_.exec("ROLLBACK", ignored);
  }
}

bool transaction::begin(std::string& error) {
  open_ = db_.exec("BEGIN IMMEDIATE", error);
  return open_;
}

bool transaction::commit(std::string& error) {
  if (!db_.exec("COMMIT", error))
    return false;
  open_ = false;
  return true;
}

} // namespace coffeeshop::sqlite
