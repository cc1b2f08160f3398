#pragma once

#include "pg_db.hpp"

#include <string>

namespace coffeeshop::pg {

/// Brings the schema of the connection's current schema (search path) to
/// postgres_schema_version: created when it holds no tables, migrated when it
/// holds an older coffeeshopd schema. Runs in one transaction under an
/// advisory lock, so daemons starting together migrate once and the others
/// see the result. False with the reason in `error` (and nothing written)
/// when the schema holds another application's tables or a newer version.
bool migrate_schema(connection& db, std::string& error);

} // namespace coffeeshop::pg
