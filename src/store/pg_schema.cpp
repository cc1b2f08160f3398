#include "pg_schema.hpp"

#include "coffeeshop/store/postgres_store.hpp"

namespace coffeeshop::pg {

namespace {

/// One step of the schema, from `to_version - 1` to `to_version`. Steps are
/// only ever appended: a released step is what older databases contain.
struct migration {
  int to_version;
  const char* sql;
};

/// The same tables as the SQLite store. `seq` gives creation order (ids are
/// random past their millisecond prefix); `idempotency_key` is unique, so two
/// instances racing with one key cannot both create an order. Breakers are
/// per instance (CONTRACT §8): each protects its own connections.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE coffeeshop_schema (
  application text NOT NULL,
  version integer NOT NULL
);
CREATE TABLE orders (
  id text PRIMARY KEY,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  status text NOT NULL,
  idempotency_key text UNIQUE,
  created_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL,
  body text NOT NULL
);
CREATE INDEX orders_by_status ON orders (status, seq);
CREATE TABLE outbox (
  id text PRIMARY KEY,
  order_id text NOT NULL,
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  status text NOT NULL,
  state text NOT NULL,
  attempts integer NOT NULL,
  last_error text NOT NULL,
  next_attempt_at_ms bigint NOT NULL,
  created_at_ms bigint NOT NULL
);
CREATE INDEX outbox_by_state ON outbox (state, seq);
CREATE INDEX outbox_by_order ON outbox (order_id, seq);
CREATE TABLE breakers (
  instance_id text NOT NULL,
  service text NOT NULL,
  state text NOT NULL,
  isolated boolean NOT NULL,
  consecutive_failures integer NOT NULL,
  opened_at_ms bigint,
  open_until_ms bigint,
  PRIMARY KEY (instance_id, service)
);
INSERT INTO coffeeshop_schema (application, version) VALUES ('coffeeshopd', 0);
)sql";

/// Heartbeats of the daemons sharing the database (/api/v1/instances).
constexpr const char* schema_v2 = R"sql(
CREATE TABLE instances (
  id text PRIMARY KEY,
  address text NOT NULL,
  version text NOT NULL,
  started_at_ms bigint NOT NULL,
  heartbeat_at_ms bigint NOT NULL
);
)sql";

/// Leases on the unfinished work of orders (CONTRACT §8): the daemon named
/// in `owner` pays a pending order or delivers its pending notifications
/// until `until_ms`, renewing it while it lives. A row exists only while
/// the order has work; work with no row is claimed by whoever finds it.
constexpr const char* schema_v3 = R"sql(
CREATE TABLE work_leases (
  order_id text PRIMARY KEY,
  owner text NOT NULL,
  until_ms bigint NOT NULL
);
CREATE INDEX work_leases_by_owner ON work_leases (owner);
CREATE INDEX work_leases_by_expiry ON work_leases (until_ms);
)sql";

/// The trace-flags of the request that created each order (order::trace_flags), which a
/// resumed payment and the order's notifications are sent with, on whichever daemon. Orders
/// stored before it was kept were sent as sampled: they read as '01'.
constexpr const char* schema_v4 = R"sql(
ALTER TABLE orders ADD COLUMN trace_flags text NOT NULL DEFAULT '01';
)sql";

constexpr migration migrations[] = {{1, schema_v1}, {2, schema_v2}, {3, schema_v3}, {4, schema_v4}};
static_assert(sizeof migrations / sizeof migrations[0] == postgres_schema_version,
              "one migration per schema version");

/// Every coffeeshopd migrating any schema of any database on the server
/// takes this lock ('CSHD'): migrations are rare and short.
constexpr const char* lock_sql = "SELECT pg_advisory_xact_lock(1129531460)";

/// The schema version found (0: an empty schema, to be created), or -1 with
/// the reason in `error`.
int current_version(connection& db, std::string& error) {
  // The version table of this schema only: one of the same name further down
  // the search path belongs to another database of the server's.
  auto where = db.exec("SELECT current_schema(),"
                       " to_regclass(quote_ident(current_schema()) || '.coffeeshop_schema')"
                       " IS NOT NULL");
  if (!where.ok() || where.rows() != 1) {
    error = "cannot read the schema (" + where.message() + ")";
    return -1;
  }
  if (where.is_null(0, 0)) {
    error = "no schema to create tables in (the search path names none that exists)";
    return -1;
  }
  const std::string schema = where.text(0, 0);
  if (where.text(0, 1) == "t") {
    auto r = db.exec("SELECT application, version FROM coffeeshop_schema");
    if (!r.ok() || r.rows() != 1 || r.text(0, 0) != "coffeeshopd") {
      error = "schema " + schema + " is not a coffeeshopd database (its coffeeshop_schema table" +
              (r.ok() ? " does not name coffeeshopd)" : " cannot be read: " + r.message() + ")");
      return -1;
    }
    const auto version = r.int64(0, 1);
    if (version > postgres_schema_version) {
      error = "database schema version " + std::to_string(version) +
              " is newer than this coffeeshopd supports (" +
              std::to_string(postgres_schema_version) + ")";
      return -1;
    }
    return static_cast<int>(version);
  }
  params p;
  p.add(schema);
  auto tables = db.exec("SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n"
                        " ON n.oid = c.relnamespace WHERE n.nspname = $1::text"
                        " AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
                        p);
  if (!tables.ok()) {
    error = "cannot read the schema (" + tables.message() + ")";
    return -1;
  }
  if (tables.int64(0, 0) > 0) {
    error = "not a coffeeshopd database (schema " + schema + " holds " + tables.text(0, 0) +
            " tables and no coffeeshop_schema)";
    return -1;
  }
  return 0;
}

} // namespace

bool migrate_schema(connection& db, std::string& error) {
  transaction tx(db);
  if (!tx.begin(error))
    return false;
  if (auto r = db.exec(lock_sql); !r.ok()) {
    error = "cannot lock for migration (" + r.message() + ")";
    return false;
  }
  const int version = current_version(db, error);
  if (version < 0)
    return false;
  if (version == postgres_schema_version)
    return true; // rolled back: nothing was written
  for (const auto& m : migrations) {
    if (m.to_version <= version)
      continue;
    if (auto r = db.exec(m.sql); !r.ok()) {
      error = "migration to schema version " + std::to_string(m.to_version) + " failed (" +
              r.message() + ")";
      return false;
    }
  }
  params p;
  p.add(int64_t{postgres_schema_version});
  if (auto r = db.exec("UPDATE coffeeshop_schema SET version = $1::integer", p); !r.ok()) {
    error = "migration failed (" + r.message() + ")";
    return false;
  }
  if (!tx.commit(error)) {
    error = "migration failed (" + error + ")";
    return false;
  }
  return true;
}

} // namespace coffeeshop::pg
