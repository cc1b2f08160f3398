#pragma once

#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/store/instance_registry.hpp"
#include "coffeeshop/store/work_leases.hpp"

#include <cstdint>

#include <memory>
#include <string>
#include <string_view>

namespace coffeeshop {

/// How to open the PostgreSQL store (config `store.url`, `store.pool_size`).
struct postgres_options {
  /// A libpq connection URI (postgresql://user:pass@host:port/db?...).
  std::string url;
  /// Connections in all: one for the writer, the rest shared by readers.
  int pool_size = 4;
  /// Whose breakers this store saves and restores (CONTRACT §8: breakers are
  /// per instance).
  std::string instance_id = "coffeeshopd";
  /// How long a lease on an order's work holds without renewal
  /// (`instance.lease_ms`).
  int64_t lease_ms = 15000;
  /// How long connecting may take, and how long one statement may run: a
  /// database that hangs must fail writes, not stall the writer for ever.
  int connect_timeout_s = 5;
  int statement_timeout_ms = 10000;
};

/// The schema version this binary creates, and migrates older databases to.
inline constexpr int postgres_schema_version = 4;

/// `url` with its password (the userinfo's or a `password=` parameter)
/// replaced by "***": what logs, errors and --print-config show.
std::string redact_db_url(std::string_view url);

/// Connects, then creates the schema in an empty database (schema of the
/// search path) or migrates an older coffeeshopd one, under an advisory lock
/// so that daemons starting together migrate once. Returns nullptr with
/// `error` = "<url without password>: <reason>" when the server cannot be
/// reached, the database holds tables of another application, or its schema
/// is newer than this binary; such a database is not written.
std::unique_ptr<order_store> open_postgres_store(const postgres_options& options,
                                                 std::string& error);

/// The `instances` table of a database open_postgres_store has set up, on a
/// connection of its own. nullptr with `error` as open_postgres_store's.
std::unique_ptr<instance_registry> open_postgres_instances(const postgres_options& options,
                                                           std::string& error);

/// The `work_leases` of a database open_postgres_store has set up, on a
/// connection of its own that listens for the announcements of the other
/// daemons. nullptr with `error` as open_postgres_store's.
std::unique_ptr<work_leases> open_postgres_leases(const postgres_options& options,
                                                  std::string& error);

} // namespace coffeeshop
