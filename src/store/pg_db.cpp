#include "pg_db.hpp"

#include <cstdlib>

namespace coffeeshop::pg {

namespace {

/// libpq messages end in a newline and may span lines; logs want one line.
std::string one_line(const char* text) {
  std::string s = text != nullptr ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  for (char& c : s)
    if (c == '\n')
      c = ' ';
  return s;
}

} // namespace

// -- result -------------------------------------------------------------------

result& result::operator=(result&& other) noexcept {
  if (this != &other) {
    if (r_ != nullptr)
      PQclear(r_);
    r_ = std::exchange(other.r_, nullptr);
  }
  return *this;
}

result::~result() {
  if (r_ != nullptr)
    PQclear(r_);
}

bool result::ok() const {
  if (r_ == nullptr)
    return false;
  const auto status = PQresultStatus(r_);
  return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK;
}

int result::rows() const { return r_ != nullptr ? PQntuples(r_) : 0; }

std::string result::text(int row, int column) const {
  return std::string(PQgetvalue(r_, row, column),
                     static_cast<std::size_t>(PQgetlength(r_, row, column)));
}

int64_t result::int64(int row, int column) const {
  return std::strtoll(PQgetvalue(r_, row, column), nullptr, 10);
}

bool result::is_null(int row, int column) const { return PQgetisnull(r_, row, column) != 0; }

std::string result::sqlstate() const {
  const char* s = r_ != nullptr ? PQresultErrorField(r_, PG_DIAG_SQLSTATE) : nullptr;
  return s != nullptr ? s : "";
}

std::string result::command_tag() const { return r_ != nullptr ? PQcmdStatus(r_) : ""; }

std::string result::message() const {
  return r_ != nullptr ? one_line(PQresultErrorMessage(r_)) : "no result (connection lost)";
}

// -- params -------------------------------------------------------------------

params& params::add(std::string v) {
  values_.emplace_back(std::move(v));
  return *this;
}

params& params::add(const std::optional<std::string>& v) {
  values_.push_back(v);
  return *this;
}

params& params::add(const std::optional<int64_t>& v) {
  if (v)
    return add(*v);
  values_.emplace_back(std::nullopt);
  return *this;
}

std::vector<const char*> params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_)
    out.push_back(v ? v->c_str() : nullptr);
  return out;
}

// -- connection ---------------------------------------------------------------

std::optional<connection> connection::open(const std::string& url, int connect_timeout_s,
                                           int statement_timeout_ms,
                                           std::vector<prepared> statements, std::string& error) {
  // Defaults first: what the URL itself says (dbname expanded last) wins.
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "coffeeshopd", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (c == nullptr) {
    error = "out of memory";
    return std::nullopt;
  }
  // Notices (CREATE ... IF NOT EXISTS skipped, and the like) would go to
  // stderr, outside the daemon's JSON log lines; nothing in them needs action.
  PQsetNoticeProcessor(
    c, [](void*, const char*) {}, nullptr);
  connection conn(c, std::move(statements), statement_timeout_ms);
  if (PQstatus(c) != CONNECTION_OK) {
    error = conn.errmsg();
    return std::nullopt;
  }
  if (!conn.setup(error))
    return std::nullopt;
  conn.ready_ = true;
  return conn;
}

connection::connection(connection&& other) noexcept
  : conn_(std::exchange(other.conn_, nullptr)),
    statements_(std::move(other.statements_)),
    statement_timeout_ms_(other.statement_timeout_ms_),
    ready_(other.ready_) {}

connection& connection::operator=(connection&& other) noexcept {
  if (this != &other) {
    if (conn_ != nullptr)
      PQfinish(conn_);
    conn_ = std::exchange(other.conn_, nullptr);
    statements_ = std::move(other.statements_);
    statement_timeout_ms_ = other.statement_timeout_ms_;
    ready_ = other.ready_;
  }
  return *this;
}

connection::~connection() {
  if (conn_ != nullptr)
    PQfinish(conn_);
}

bool connection::setup(std::string& error) {
  const std::string set_timeout = "SET statement_timeout = " +
                                  std::to_string(statement_timeout_ms_);
  if (auto r = exec(set_timeout.c_str()); !r.ok()) {
    error = r.message();
    return false;
  }
  for (const auto& s : statements_) {
    result r(PQprepare(conn_, s.name, s.sql, 0, nullptr));
    if (!r.ok()) {
      error = std::string("prepare ") + s.name + ": " + r.message();
      return false;
    }
  }
  return true;
}

bool connection::ensure(std::string& error) {
  if (PQstatus(conn_) == CONNECTION_OK && ready_)
    return true;
  // Not ready: lost (connect again), or connected but not set up (the server
  // refused a statement while it was starting).
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK) {
    error = errmsg();
    return false;
  }
  ready_ = setup(error);
  return ready_;
}

result connection::exec(const char* sql) { return result(PQexec(conn_, sql)); }

result connection::exec(const char* sql, const params& p) {
  const auto values = p.pointers();
  return result(PQexecParams(conn_, sql, p.size(), nullptr, values.data(), nullptr, nullptr, 0));
}

result connection::run(const char* name, const params& p) {
  const auto values = p.pointers();
  return result(PQexecPrepared(conn_, name, p.size(), values.data(), nullptr, nullptr, 0));
}

bool connection::run_transaction(const std::vector<step>& steps, std::string& error) {
  if (PQenterPipelineMode(conn_) != 1) {
    error = "pipeline: " + errmsg();
    return false;
  }
  // What was sent, in order; each gets its results, then the sync its own.
  std::vector<std::string> sent;
  auto send = [&](const char* sql, const char* name, const params* p, std::string what) {
    int ok = 0;
    if (name != nullptr) {
      const auto values = p->pointers();
      ok = PQsendQueryPrepared(conn_, name, p->size(), values.data(), nullptr, nullptr, 0);
    } else {
      ok = PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
    }
    if (ok == 1)
      sent.push_back(std::move(what));
    return ok == 1;
  };
  bool queued = send("BEGIN", nullptr, nullptr, "begin");
  for (const auto& s : steps)
    queued = queued && send(nullptr, s.name, &s.values, s.what);
  queued = queued && send("COMMIT", nullptr, nullptr, "commit");
  const bool synced = queued && PQpipelineSync(conn_) == 1;
  if (!queued || !synced)
    error = "send: " + errmsg();

  std::string tag;
  for (const auto& what : sent) {
    while (PGresult* raw = PQgetResult(conn_)) {
      result r(raw);
      const auto status = PQresultStatus(raw);
      if (error.empty() && status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK &&
          status != PGRES_PIPELINE_ABORTED)
        error = what + ": " + r.message();
      if (what == "commit")
        tag = r.command_tag();
    }
  }
  if (synced)
    result(PQgetResult(conn_)); // PGRES_PIPELINE_SYNC
  PQexitPipelineMode(conn_);
  if (error.empty() && tag != "COMMIT")
    error = "commit: the transaction was rolled back";
  if (!error.empty()) {
    // A failed statement leaves the transaction open and aborted.
    exec("ROLLBACK");
    return false;
  }
  return true;
}

bool connection::lost(const result& failed) {
  const std::string state = failed.sqlstate();
  // 08: connection exception; 57P: admin/crash shutdown, cannot connect now;
  // no SQLSTATE: libpq's own failure (no result, broken socket).
  const bool gone = PQstatus(conn_) != CONNECTION_OK || state.empty() ||
                    state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
  if (gone)
    ready_ = false;
  return gone;
}

std::string connection::errmsg() const { return one_line(PQerrorMessage(conn_)); }

// -- transaction --------------------------------------------------------------

transaction::~transaction() {
  if (open_)
    db_.exec("ROLLBACK");
}

bool transaction::begin(std::string& error) {
  auto r = db_.exec("BEGIN");
  if (!r.ok()) {
    error = r.message();
    return false;
  }
  open_ = true;
  return true;
}

bool transaction::commit(std::string& error) {
  auto r = db_.exec("COMMIT");
  open_ = false; // a failed COMMIT has ended the transaction too
  if (!r.ok()) {
    error = r.message();
    return false;
  }
  // COMMIT of a transaction the server already aborted "succeeds" as ROLLBACK.
  if (r.command_tag() == "ROLLBACK") {
    error = "the transaction was rolled back";
    return false;
  }
  return true;
}

} // namespace coffeeshop::pg
