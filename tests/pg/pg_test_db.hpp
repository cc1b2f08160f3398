#pragma once

// The tests' PostgreSQL: the server of the CTest fixture "postgres"
// (tests/pg/pg_server.sh), whose URI is in the file named by
// $COFFEESHOP_PG_URL_FILE. Tests that need it carry "pg_server" in their
// name or the [pg-server] tag, which tests/CMakeLists.txt registers with that
// fixture; run by hand, they fail with a message saying how to run them.

#include <libpq-fe.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

namespace coffeeshop::testing {

/// The fixture server's URI.
inline std::string pg_fixture_url() {
  const char* file = std::getenv("COFFEESHOP_PG_URL_FILE");
  if (file == nullptr)
    throw std::runtime_error("COFFEESHOP_PG_URL_FILE is not set: run this test through ctest "
                             "(it starts the PostgreSQL fixture), e.g. ctest -R pg_server");
  std::ifstream in(file);
  std::string url;
  std::getline(in, url);
  if (url.empty())
    throw std::runtime_error(std::string("no PostgreSQL URI in ") + file +
                             " (did the fixture test pg:start fail?)");
  return url;
}

/// Runs SQL on a short-lived connection; throws with the server's message.
inline void pg_exec(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  // DROP ... CASCADE lists what it drops as notices: not the test's output.
  PQsetNoticeProcessor(
    c, [](void*, const char*) {}, nullptr);
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    const auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
      error = sql + ": " + PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  if (!error.empty())
    throw std::runtime_error(error);
}

/// A fresh, empty schema in the fixture's database, dropped with everything
/// in it when the test ends; url() points a store at it through the search
/// path. A schema per test is what makes each test's store empty without the
/// cost of a database per test.
class pg_test_schema {
public:
  pg_test_schema() : base_(pg_fixture_url()) {
    static std::atomic<int> counter{0};
    std::random_device rd;
    name_ = "t_" + std::to_string(rd() % 1000000) + "_" + std::to_string(++counter);
    pg_exec(base_, "CREATE SCHEMA " + name_);
  }
  pg_test_schema(const pg_test_schema&) = delete;
  pg_test_schema& operator=(const pg_test_schema&) = delete;
  ~pg_test_schema() {
    try {
      pg_exec(base_, "DROP SCHEMA " + name_ + " CASCADE");
    } catch (const std::exception&) {
      // The test that stopped the server has its own failure to report.
    }
  }

  const std::string& name() const { return name_; }

  /// The fixture's URI with the search path set to this schema.
  std::string url() const {
    return base_ + (base_.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
           name_;
  }

  /// Runs SQL with this schema first on the search path.
  void exec(const std::string& sql) const { pg_exec(url(), sql); }

private:
  std::string base_;
  std::string name_;
};

} // namespace coffeeshop::testing
