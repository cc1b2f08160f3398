#include "sqlite_schema.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <system_error>

namespace coffeeshop::sqlite {

namespace {

/// One step of the schema, from `to_version - 1` to `to_version`. Steps are
/// only ever appended: a released step is what older databases contain.
struct migration {
  int to_version;
  const char* sql;
};

/// Orders are keyed by id; `seq` gives creation order (ids are random past
/// their millisecond prefix). `idempotency_key` is the lookup index and holds
/// a key only for the first order created with it; the order itself, key
/// included, is `body` (to_stored_json). Orders are never deleted.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE orders (
  id TEXT PRIMARY KEY NOT NULL,
  seq INTEGER NOT NULL UNIQUE,
  status TEXT NOT NULL,
  idempotency_key TEXT UNIQUE,
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX orders_by_status ON orders (status, seq);
)sql";

/// The notification outbox and breaker states. Bodies written from v2 on
/// carry notification ids; v1 bodies decode with empty ones, so the step
/// needs no rewrite of the orders.
constexpr const char* schema_v2 = R"sql(
CREATE TABLE outbox (
  id TEXT PRIMARY KEY NOT NULL,
  order_id TEXT NOT NULL,
  seq INTEGER NOT NULL UNIQUE,
  status TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  last_error TEXT NOT NULL,
  next_attempt_at_ms INTEGER NOT NULL,
  created_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_by_state ON outbox (state, seq);
CREATE INDEX outbox_by_order ON outbox (order_id, seq);
CREATE TABLE breakers (
  service TEXT PRIMARY KEY NOT NULL,
  state TEXT NOT NULL,
  isolated INTEGER NOT NULL,
  consecutive_failures INTEGER NOT NULL,
  opened_at_ms INTEGER,
  open_until_ms INTEGER
);
)sql";

/// The trace-flags of the request that created each order (order::trace_flags), which a
/// resumed payment and the order's notifications are sent with. Orders stored before it
/// was kept were sent as sampled: they read as "01".
constexpr const char* schema_v3 = R"sql(
ALTER TABLE orders ADD COLUMN trace_flags TEXT NOT NULL DEFAULT '01';
)sql";

constexpr migration migrations[] = {{1, schema_v1}, {2, schema_v2}, {3, schema_v3}};
static_assert(sizeof migrations / sizeof migrations[0] == sqlite_schema_version,
              "one migration per schema version");

std::string hex32(int64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(static_cast<uint32_t>(v)));
  return buf;
}

/// The first column of the first row of `sql`, as an integer.
bool query_int(connection& db, const char* sql, int64_t& out, int& rc, std::string& error) {
  auto stmt = statement::prepare(db, sql, error);
  if (!stmt) {
    rc = sqlite3_errcode(db.handle());
    return false;
  }
  rc = stmt->step();
  if (rc != SQLITE_ROW) {
    error = db.errmsg();
    return false;
  }
  out = stmt->column_int64(0);
  return true;
}

/// What a database file is, as far as this daemon is concerned.
struct identity {
  int64_t application_id = 0;
  int64_t user_version = 0;
  int64_t schema_objects = 0;
};

/// Reads the identity; false with "<path>: <reason>" in `error`.
bool read_identity(connection& db, const std::string& path, identity& id, std::string& error) {
  std::string message;
  int rc = SQLITE_OK;
  if (query_int(db, "PRAGMA application_id", id.application_id, rc, message) &&
      query_int(db, "PRAGMA user_version", id.user_version, rc, message) &&
      query_int(db, "SELECT count(*) FROM sqlite_master", id.schema_objects, rc, message))
    return true;
  error = path + (rc == SQLITE_NOTADB ? ": not an SQLite database (" : ": cannot read (") +
          message + ")";
  return false;
}

/// The schema version of a usable database (0: empty, to be created), or
/// nullopt with the reason the file is refused.
std::optional<int> usable_version(const identity& id, const std::string& path, std::string& error) {
  if (id.application_id == sqlite_application_id) {
    if (id.user_version > sqlite_schema_version) {
      error = path + ": database schema version " + std::to_string(id.user_version) +
              " is newer than this coffeeshopd supports (" + std::to_string(sqlite_schema_version) +
              ")";
      return std::nullopt;
    }
    return static_cast<int>(id.user_version);
  }
  if (id.application_id == 0 && id.user_version == 0 && id.schema_objects == 0)
    return 0;
  error = path + ": not a coffeeshopd database (application_id " + hex32(id.application_id);
  if (id.application_id == 0)
    error += ", but it holds " + std::to_string(id.schema_objects) + " schema objects" +
             (id.user_version ? " and user_version " + std::to_string(id.user_version) : "");
  error += ")";
  return std::nullopt;
}

/// Checks an existing, non-empty file through a read-only connection, so
/// that nothing (not even the switch to WAL) touches a file that is refused.
bool check_existing(const std::string& path, std::string& error) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0 || ec)
    return true;
  std::string message;
  auto probe = connection::open(path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, message);
  if (!probe) {
    error = path + ": cannot open (" + message + ")";
    return false;
  }
  identity id;
  return read_identity(*probe, path, id, error) && usable_version(id, path, error).has_value();
}

bool configure(connection& db, const sqlite_options& options, std::string& message) {
  sqlite3_busy_timeout(db.handle(), options.busy_timeout_ms);
  // journal_mode answers with the mode it ended in; a VFS without shared
  // memory stays in its old mode silently.
  auto mode = statement::prepare(db, "PRAGMA journal_mode=WAL", message);
  if (!mode)
    return false;
  if (mode->step() != SQLITE_ROW) {
    message = db.errmsg();
    return false;
  }
  if (mode->column_text(0) != "wal") {
    message = "cannot switch to WAL (journal_mode is " + mode->column_text(0) + ")";
    return false;
  }
  return db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                 message);
}

/// Creates or migrates the schema in one transaction. The identity is read
/// again under the write lock: another process may have created or migrated
/// the file since it was checked.
bool migrate(connection& db, const std::string& path, std::string& error) {
  std::string message;
  transaction tx(db);
  if (!tx.begin(message)) {
    error = path + ": cannot lock for migration (" + message + ")";
    return false;
  }
  identity id;
  if (!read_identity(db, path, id, error))
    return false;
  auto version = usable_version(id, path, error);
  if (!version)
    return false;
  if (*version == sqlite_schema_version)
    return true; // the transaction rolls back: nothing was written

  for (const auto& m : migrations) {
    if (m.to_version <= *version)
      continue;
    if (!db.exec(m.sql, message)) {
      error = path + ": migration to schema version " + std::to_string(m.to_version) + " failed (" +
              message + ")";
      return false;
    }
  }
  const std::string stamp = "PRAGMA application_id=" + std::to_string(sqlite_application_id) +
                            "; PRAGMA user_version=" + std::to_string(sqlite_schema_version);
  if (!db.exec(stamp.c_str(), message) || !tx.commit(message)) {
    error = path + ": migration failed (" + message + ")";
    return false;
  }
  return true;
}

} // namespace

std::optional<connection> open_schema(const sqlite_options& options, std::string& error) {
  const std::string& path = options.path;
  if (!check_existing(path, error))
    return std::nullopt;
  std::string message;
  auto db = connection::open(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             message);
  if (!db) {
    error = path + ": cannot open (" + message + ")";
    return std::nullopt;
  }
  if (!configure(*db, options, message)) {
    error = path + ": " + message;
    return std::nullopt;
  }
  if (!migrate(*db, path, error))
    return std::nullopt;
  return db;
}

} // namespace coffeeshop::sqlite
