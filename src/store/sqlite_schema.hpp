#pragma once

#include "sqlite_db.hpp"

#include "coffeeshop/store/sqlite_store.hpp"

#include <optional>
#include <string>

namespace coffeeshop::sqlite {

/// Opens the write connection to `options.path`, configured (WAL, synchronous,
/// busy timeout) and with the schema at sqlite_schema_version: created in a
/// new file, migrated in an older one. nullopt with `error` = "<path>: <reason>"
/// when the file must not or cannot be used; such a file has not been written.
std::optional<connection> open_schema(const sqlite_options& options, std::string& error);

} // namespace coffeeshop::sqlite
