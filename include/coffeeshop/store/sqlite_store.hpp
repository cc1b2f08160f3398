#pragma once

#include "coffeeshop/domain/order_store.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace coffeeshop {

/// How to open the SQLite store (config `store.path`, `store.synchronous`).
struct sqlite_options {
  std::string path;
  /// synchronous=FULL: a commit survives power loss. NORMAL: it survives a
  /// crash of the process but the last commits may be lost with the machine.
  bool synchronous_full = true;
  /// How long a commit waits for a write lock held by another connection.
  int busy_timeout_ms = 2000;
};

/// PRAGMA application_id of every coffeeshopd database ('CSHD').
inline constexpr int32_t sqlite_application_id = 0x43534844;

/// The schema version (PRAGMA user_version) this binary creates, and
/// migrates older databases to.
inline constexpr int sqlite_schema_version = 3;

/// Opens the database at `options.path`: creates it with the latest schema
/// when the file is missing or empty, migrates an older coffeeshopd schema in
/// one transaction, keeping its data. Returns nullptr with `error` =
/// "<path>: <reason>" when the file cannot be opened, is not SQLite, is
/// another application's database or has a newer schema; such a file is left
/// unchanged.
std::unique_ptr<order_store> open_sqlite_store(const sqlite_options& options, std::string& error);

} // namespace coffeeshop
