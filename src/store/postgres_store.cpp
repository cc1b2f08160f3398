#include "coffeeshop/store/postgres_store.hpp"

#include "pg_db.hpp"
#include "pg_schema.hpp"

#include "stored_order.hpp"

#include "coffeeshop/util/clock.hpp"

#include <boost/json.hpp>

#include <poll.h>

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <vector>

namespace coffeeshop {

namespace {

using pg::connection;
using pg::params;
using pg::result;

// -- statements ---------------------------------------------------------------

// The key column is set only when no other order holds the key: the first
// order created with a key is the one a retry replays (as in SQLite).
#define COFFEESHOP_ORDER_UPSERT                                                                    \
  " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"                                      \
  " idempotency_key = excluded.idempotency_key, created_at_ms = excluded.created_at_ms,"           \
  " updated_at_ms = excluded.updated_at_ms, body = excluded.body,"                                 \
  " trace_flags = excluded.trace_flags"

constexpr pg::prepared put_order_sql{
  "put_order",
  "INSERT INTO orders (id, status, idempotency_key, created_at_ms, updated_at_ms, body,"
  " trace_flags) VALUES ($1::text, $2::text,"
  " CASE WHEN EXISTS (SELECT 1 FROM orders WHERE idempotency_key = $3::text AND id <> $1::text)"
  " THEN NULL ELSE $3::text END, $4::bigint, $5::bigint, $6::text, $7::text)" COFFEESHOP_ORDER_UPSERT};

// A claimed key goes in as it is: when another daemon committed it since the
// check, the unique index refuses this insert instead of it going in keyless.
constexpr pg::prepared claim_order_sql{
  "claim_order",
  "INSERT INTO orders (id, status, idempotency_key, created_at_ms, updated_at_ms, body,"
  " trace_flags) VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint, $6::text,"
  " $7::text)" COFFEESHOP_ORDER_UPSERT};

#undef COFFEESHOP_ORDER_UPSERT

constexpr pg::prepared put_outbox_sql{"put_outbox", R"sql(
INSERT INTO outbox (id, order_id, status, state, attempts, last_error,
                    next_attempt_at_ms, created_at_ms)
VALUES ($1::text, $2::text, $3::text, $4::text, $5::integer, $6::text, $7::bigint, $8::bigint)
ON CONFLICT (id) DO UPDATE SET
  order_id = excluded.order_id, status = excluded.status, state = excluded.state,
  attempts = excluded.attempts, last_error = excluded.last_error,
  next_attempt_at_ms = excluded.next_attempt_at_ms, created_at_ms = excluded.created_at_ms
)sql"};

constexpr pg::prepared put_breaker_sql{"put_breaker", R"sql(
INSERT INTO breakers (instance_id, service, state, isolated, consecutive_failures,
                      opened_at_ms, open_until_ms)
VALUES ($1::text, $2::text, $3::text, $4::boolean, $5::integer, $6::bigint, $7::bigint)
ON CONFLICT (instance_id, service) DO UPDATE SET
  state = excluded.state, isolated = excluded.isolated,
  consecutive_failures = excluded.consecutive_failures,
  opened_at_ms = excluded.opened_at_ms, open_until_ms = excluded.open_until_ms
)sql"};

#define COFFEESHOP_OUTBOX_COLUMNS                                                                  \
  "SELECT id, order_id, status, state, attempts, last_error, next_attempt_at_ms, created_at_ms"    \
  " FROM outbox"

constexpr pg::prepared reader_sql[] = {
  {"get_order", "SELECT body, trace_flags FROM orders WHERE id = $1::text"},
  {"order_by_key", "SELECT body, trace_flags FROM orders WHERE idempotency_key = $1::text"},
  {"seq_of", "SELECT seq FROM orders WHERE id = $1::text"},
  {"list_all", "SELECT body, trace_flags FROM orders WHERE seq > $1::bigint ORDER BY seq"
               " LIMIT $2::bigint"},
  {"list_status", "SELECT body, trace_flags FROM orders WHERE status = $1::text"
                  " AND seq > $2::bigint"
                  " ORDER BY seq LIMIT $3::bigint"},
  {"count_orders", "SELECT count(*) FROM orders"},
  {"outbox_get", COFFEESHOP_OUTBOX_COLUMNS " WHERE id = $1::text"},
  {"outbox_all", COFFEESHOP_OUTBOX_COLUMNS " ORDER BY seq LIMIT $1::bigint"},
  {"outbox_in_state", COFFEESHOP_OUTBOX_COLUMNS " WHERE state = $1::text ORDER BY seq"
                                                " LIMIT $2::bigint"},
  {"outbox_count", "SELECT count(*), MIN(created_at_ms) FROM outbox WHERE state = $1::text"},
  {"breaker_get", "SELECT state, isolated, consecutive_failures, opened_at_ms, open_until_ms"
                  " FROM breakers WHERE instance_id = $1::text AND service = $2::text"},
};

#undef COFFEESHOP_OUTBOX_COLUMNS

// -- row decoding -------------------------------------------------------------

std::optional<outbox_entry> read_outbox_row(const result& r, int row) {
  auto state = parse_outbox_state(r.text(row, 3));
  if (!state)
    return std::nullopt;
  outbox_entry e;
  e.id = r.text(row, 0);
  e.order_id = r.text(row, 1);
  e.status = r.text(row, 2);
  e.state = *state;
  e.attempts = static_cast<int>(r.int64(row, 4));
  e.last_error = r.text(row, 5);
  e.next_attempt_at_ms = r.int64(row, 6);
  e.created_at_ms = r.int64(row, 7);
  return e;
}

/// LIMIT takes a bigint.
int64_t sql_limit(std::size_t limit) {
  constexpr auto most = static_cast<std::size_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min(limit, most));
}

// FOR UPDATE: a concurrent status change of the order by another daemon waits
// for this transaction and then reads what it committed.
constexpr pg::prepared status_of_sql{"status_of",
                                     "SELECT status FROM orders WHERE id = $1::text FOR UPDATE"};
constexpr pg::prepared key_owner_sql{"key_owner",
                                     "SELECT id FROM orders WHERE idempotency_key = $1::text"};

// -- leases (CONTRACT §8) -------------------------------------------------------

/// The channel on which a daemon announces work it could not take: the
/// holder, or whoever finds it orphaned, takes it up without waiting a round.
#define COFFEESHOP_WORK_CHANNEL "coffeeshop_work"

// Taken when free, expired or already ours; RETURNING says whether it was.
constexpr pg::prepared take_lease_sql{"take_lease", R"sql(
INSERT INTO work_leases (order_id, owner, until_ms) VALUES ($1::text, $2::text, $3::bigint)
ON CONFLICT (order_id) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
WHERE work_leases.owner = excluded.owner OR work_leases.until_ms < $4::bigint
RETURNING order_id
)sql"};

constexpr pg::prepared announce_sql{"announce",
                                    "SELECT pg_notify('" COFFEESHOP_WORK_CHANNEL "', $1::text)"};

// Given back only when the order has no work left: what another daemon added
// since this one last looked keeps it with its holder.
constexpr pg::prepared give_back_lease_sql{"give_back_lease", R"sql(
DELETE FROM work_leases WHERE order_id = $1::text AND owner = $2::text
AND NOT EXISTS (SELECT 1 FROM orders WHERE id = $1::text AND status = 'pending_payment')
AND NOT EXISTS (SELECT 1 FROM outbox WHERE order_id = $1::text AND state = 'pending')
RETURNING order_id
)sql"};

constexpr pg::prepared holds_lease_sql{
  "holds_lease", "SELECT 1 FROM work_leases WHERE order_id = $1::text AND owner = $2::text"};

/// SQLSTATE unique_violation: another daemon committed the same key first.
constexpr const char* unique_violation = "23505";

std::vector<pg::prepared> writer_statements() {
  return {put_order_sql, claim_order_sql, put_outbox_sql, put_breaker_sql,     status_of_sql,
          key_owner_sql, take_lease_sql,  announce_sql,   give_back_lease_sql, holds_lease_sql};
}

std::vector<pg::prepared> reader_statements() {
  return {std::begin(reader_sql), std::end(reader_sql)};
}

// -- the store ----------------------------------------------------------------

/// Orders, outbox and breakers in one PostgreSQL database shared by several
/// daemons. Commits run on the writer's own connection; reads borrow one of a
/// fixed pool, waiting when all are busy (the pool bounds what the daemon asks
/// of the server). A lost connection is re-established on its next use.
///
/// Read failures read as absent, as in the SQLite store: the interface has no
/// error channel for reads, and an unreachable server shows on the next
/// commit, which reports it.
class postgres_order_store final : public order_store {
public:
  postgres_order_store(postgres_options options, connection writer, std::vector<connection> readers)
    : options_(std::move(options)), writer_(std::move(writer)) {
    for (auto& r : readers)
      idle_.push_back(std::make_unique<connection>(std::move(r)));
  }

  commit_result commit(const std::vector<const store_write*>& batch) override {
    std::lock_guard lock(write_mutex_);
    try {
      return commit_locked(batch);
    } catch (const std::exception& e) {
      return {false, std::string("commit: ") + e.what()};
    }
  }

  std::optional<order> get(const std::string& id) const override {
    return read_order("get_order", params().add(id));
  }

  std::optional<order> find_by_idempotency_key(const std::string& key) const override {
    return read_order("order_by_key", params().add(key));
  }

  /// Same paging rules as the memory store: an unknown `after` gives an
  /// empty page, and `next` is set only when more orders follow.
  order_page list(const std::optional<order_status>& status, std::size_t limit,
                  const std::optional<std::string>& after) const override {
    order_page page;
    if (limit == 0)
      return page;
    auto r = borrow();
    if (!r)
      return page;
    int64_t start = 0;
    if (after) {
      auto seq = r.run("seq_of", params().add(*after));
      if (!seq.ok() || seq.rows() != 1)
        return page;
      start = seq.int64(0, 0);
    }
    // One row more than asked tells whether a next page exists.
    const int64_t fetch = sql_limit(limit < std::numeric_limits<std::size_t>::max() ? limit + 1
                                                                                    : limit);
    params p;
    if (status)
      p.add(std::string(to_string(*status)));
    p.add(start).add(fetch);
    auto rows = r.run(status ? "list_status" : "list_all", p);
    if (!rows.ok())
      return page;
    const bool more = static_cast<std::size_t>(rows.rows()) > limit;
    const int n = more ? static_cast<int>(limit) : rows.rows();
    for (int i = 0; i < n; ++i)
      if (auto o = decode_stored_order(rows.text(i, 0), rows.text(i, 1)))
        page.orders.push_back(std::move(*o));
    if (more && !page.orders.empty())
      page.next = page.orders.back().id;
    return page;
  }

  std::size_t size() const override {
    auto r = borrow();
    if (!r)
      return 0;
    auto rows = r.run("count_orders", params());
    if (!rows.ok() || rows.rows() != 1)
      return 0;
    return static_cast<std::size_t>(rows.int64(0, 0));
  }

  std::optional<outbox_entry> outbox_get(const std::string& id) const override {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    auto rows = r.run("outbox_get", params().add(id));
    if (!rows.ok() || rows.rows() != 1)
      return std::nullopt;
    return read_outbox_row(rows, 0);
  }

  std::vector<outbox_entry> outbox_list(const std::optional<outbox_state>& state,
                                        std::size_t limit) const override {
    std::vector<outbox_entry> out;
    if (limit == 0)
      return out;
    auto r = borrow();
    if (!r)
      return out;
    params p;
    if (state)
      p.add(std::string(to_string(*state)));
    p.add(sql_limit(limit));
    auto rows = r.run(state ? "outbox_in_state" : "outbox_all", p);
    if (!rows.ok())
      return out;
    for (int i = 0; i < rows.rows(); ++i)
      if (auto e = read_outbox_row(rows, i))
        out.push_back(std::move(*e));
    return out;
  }

  std::pair<std::size_t, std::optional<int64_t>> outbox_count(outbox_state state) const override {
    std::pair<std::size_t, std::optional<int64_t>> out{0, std::nullopt};
    auto r = borrow();
    if (!r)
      return out;
    auto rows = r.run("outbox_count", params().add(std::string(to_string(state))));
    if (!rows.ok() || rows.rows() != 1)
      return out;
    out.first = static_cast<std::size_t>(rows.int64(0, 0));
    if (!rows.is_null(0, 1))
      out.second = rows.int64(0, 1);
    return out;
  }

  std::optional<breaker_snapshot> breaker(service_kind service) const override {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    auto rows = r.run("breaker_get",
                      params().add(options_.instance_id).add(std::string(to_string(service))));
    if (!rows.ok() || rows.rows() != 1)
      return std::nullopt;
    auto state = parse_circuit_state(rows.text(0, 0));
    if (!state)
      return std::nullopt;
    breaker_snapshot snap;
    snap.state = *state;
    snap.isolated = rows.text(0, 1) == "t";
    snap.consecutive_failures = static_cast<int>(rows.int64(0, 2));
    if (!rows.is_null(0, 3))
      snap.opened_at_ms = rows.int64(0, 3);
    if (!rows.is_null(0, 4))
      snap.open_until_ms = rows.int64(0, 4);
    return snap;
  }

private:
  commit_result commit_locked(const std::vector<const store_write*>& batch) {
    std::string message;
    if (!writer_.ensure(message))
      return {false, "connect: " + message};
    const bool conditional = std::any_of(batch.begin(), batch.end(), [](const store_write* w) {
      return w->claim_keys || w->expect_status.has_value() ||
             w->lease != store_write::lease_change::none;
    });
    if (!conditional) {
      // Nothing to decide between statements: the whole transaction goes
      // in one round trip.
      if (!writer_.run_transaction(steps_of(batch), message))
        return {false, message};
      return {};
    }
    pg::transaction tx(writer_);
    if (!tx.begin(message))
      return {false, "begin: " + message};
    commit_result result;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const store_write& w = *batch[i];
      auto held = holds(w, message);
      if (!held)
        return {false, "check conditions: " + message};
      if (!*held) {
        result.conflicts.push_back(i);
        result.unleased.push_back(i);
        continue;
      }
      // A daemon racing with the same key commits between the check and the
      // insert: the unique index refuses the second, and the savepoint takes
      // back only this write. Without a key there is nothing to race for.
      const bool keyed = w.claim_keys &&
                         std::any_of(w.orders.begin(), w.orders.end(),
                                     [](const order& o) { return o.idempotency_key.has_value(); });
      if (keyed)
        if (auto r = writer_.exec("SAVEPOINT claim"); !r.ok())
          return {false, "savepoint: " + r.message()};
      std::string failed;
      std::string sqlstate;
      if (!apply(w, failed, sqlstate)) {
        if (!keyed || sqlstate != unique_violation)
          return {false, failed};
        if (auto r = writer_.exec("ROLLBACK TO SAVEPOINT claim"); !r.ok())
          return {false, "rollback to savepoint: " + r.message()};
        result.conflicts.push_back(i);
        result.unleased.push_back(i);
        continue;
      }
      if (keyed)
        if (auto r = writer_.exec("RELEASE SAVEPOINT claim"); !r.ok())
          return {false, "release savepoint: " + r.message()};
      auto leased = change_lease(w, message);
      if (!leased)
        return {false, message};
      if (!*leased)
        result.unleased.push_back(i);
    }
    if (!tx.commit(message))
      return {false, "commit: " + message};
    return result;
  }

  /// Whether the conditions of `w` hold, read under row locks; nullopt with
  /// `error` when they could not be read.
  std::optional<bool> holds(const store_write& w, std::string& error) {
    if (!w.expect_status && !w.claim_keys)
      return true;
    std::optional<order_status> stored;
    if (w.expect_status && !w.orders.empty()) {
      auto r = writer_.run(status_of_sql.name, params().add(w.orders.front().id));
      if (!r.ok()) {
        error = r.message();
        return std::nullopt;
      }
      if (r.rows() == 1)
        stored = parse_order_status(r.text(0, 0));
    }
    const bool held = conditions_hold(w, stored,
                                      [&](const std::string& key) -> std::optional<std::string> {
                                        auto r = writer_.run(key_owner_sql.name, params().add(key));
                                        if (!r.ok())
                                          error = r.message();
                                        if (!r.ok() || r.rows() != 1)
                                          return std::nullopt;
                                        return r.text(0, 0);
                                      });
    if (!error.empty())
      return std::nullopt;
    return held;
  }

  /// Applies `w.lease`; whether this daemon holds the lease after it, or
  /// nullopt with `error`. A lease another daemon holds is not taken, and the
  /// work is announced to it (delivered when this transaction commits).
  std::optional<bool> change_lease(const store_write& w, std::string& error) {
    using change = store_write::lease_change;
    if (w.lease == change::none)
      return true;
    const auto& id = w.lease_order;
    auto failed = [&](const char* what, const result& r) -> std::optional<bool> {
      error = std::string(what) + " " + id + ": " + r.message();
      return std::nullopt;
    };
    if (w.lease == change::take) {
      const int64_t now = now_ms();
      auto r = writer_.run(
        take_lease_sql.name,
        params().add(id).add(options_.instance_id).add(now + options_.lease_ms).add(now));
      if (!r.ok())
        return failed("take lease", r);
      if (r.rows() == 1)
        return true;
      if (auto n = writer_.run(announce_sql.name, params().add(id)); !n.ok())
        return failed("announce work of", n);
      return false;
    }
    auto r = writer_.run(give_back_lease_sql.name, params().add(id).add(options_.instance_id));
    if (!r.ok())
      return failed("give back lease", r);
    if (r.rows() == 1)
      return false;
    auto still = writer_.run(holds_lease_sql.name, params().add(id).add(options_.instance_id));
    if (!still.ok())
      return failed("read lease", still);
    return still.rows() == 1;
  }

  /// Runs every statement of `w`; false with the reason and the SQLSTATE.
  bool apply(const store_write& w, std::string& failed, std::string& sqlstate) {
    auto check = [&](result r, const std::string& what) {
      if (r.ok())
        return true;
      failed = what + ": " + r.message();
      sqlstate = r.sqlstate();
      return false;
    };
    for (const auto& o : w.orders)
      if (!check(put(o, w.claim_keys), "put order " + o.id))
        return false;
    for (const auto& e : w.outbox)
      if (!check(put(e), "put outbox entry " + e.id))
        return false;
    for (const auto& [service, snap] : w.breakers)
      if (!check(put(service, snap), std::string("put breaker ") + to_string(service)))
        return false;
    return true;
  }

  static params order_params(const order& o) {
    params p;
    p.add(o.id)
      .add(std::string(to_string(o.status)))
      .add(o.idempotency_key)
      .add(o.created_at_ms)
      .add(o.updated_at_ms)
      .add(boost::json::serialize(to_stored_json(o)))
      .add(stored_trace_flags(o.trace_flags));
    return p;
  }

  static params outbox_params(const outbox_entry& e) {
    params p;
    p.add(e.id)
      .add(e.order_id)
      .add(e.status)
      .add(std::string(to_string(e.state)))
      .add(int64_t{e.attempts})
      .add(e.last_error)
      .add(e.next_attempt_at_ms)
      .add(e.created_at_ms);
    return p;
  }

  params breaker_params(service_kind service, const breaker_snapshot& snap) const {
    params p;
    p.add(options_.instance_id)
      .add(std::string(to_string(service)))
      .add(std::string(to_string(snap.state)))
      .add(std::string(snap.isolated ? "true" : "false"))
      .add(int64_t{snap.consecutive_failures})
      .add(snap.opened_at_ms)
      .add(snap.open_until_ms);
    return p;
  }

  std::vector<pg::step> steps_of(const std::vector<const store_write*>& batch) const {
    std::vector<pg::step> steps;
    for (const auto* w : batch) {
      for (const auto& o : w->orders)
        steps.push_back({put_order_sql.name, order_params(o), "put order " + o.id});
      for (const auto& e : w->outbox)
        steps.push_back({put_outbox_sql.name, outbox_params(e), "put outbox entry " + e.id});
      for (const auto& [service, snap] : w->breakers)
        steps.push_back({put_breaker_sql.name, breaker_params(service, snap),
                         std::string("put breaker ") + to_string(service)});
    }
    return steps;
  }

  result put(const order& o, bool claim) {
    return writer_.run(claim ? claim_order_sql.name : put_order_sql.name, order_params(o));
  }

  result put(const outbox_entry& e) { return writer_.run(put_outbox_sql.name, outbox_params(e)); }

  result put(service_kind service, const breaker_snapshot& snap) {
    return writer_.run(put_breaker_sql.name, breaker_params(service, snap));
  }

  std::optional<order> read_order(const char* statement, const params& p) const {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    auto rows = r.run(statement, p);
    if (!rows.ok() || rows.rows() != 1)
      return std::nullopt;
    return decode_stored_order(rows.text(0, 0), rows.text(0, 1));
  }

  /// A borrowed connection, back in the pool when the lease ends; empty when
  /// the server cannot be reached.
  class lease {
  public:
    lease(const postgres_order_store& store, std::unique_ptr<connection> c, bool ready)
      : store_(store), conn_(std::move(c)), ready_(ready) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() { store_.give_back(std::move(conn_)); }
    explicit operator bool() const { return ready_; }

    /// Runs a prepared read. A connection the server dropped while it was
    /// idle fails its first statement: that read is made once more on a new
    /// connection rather than answered as absent.
    result run(const char* name, const params& p) {
      auto r = conn_->run(name, p);
      std::string ignored;
      if (!r.ok() && conn_->lost(r) && conn_->ensure(ignored))
        r = conn_->run(name, p);
      return r;
    }

  private:
    const postgres_order_store& store_;
    std::unique_ptr<connection> conn_;
    bool ready_;
  };

  lease borrow() const {
    std::unique_lock lock(pool_mutex_);
    pool_free_.wait(lock, [this] { return !idle_.empty(); });
    auto c = std::move(idle_.back());
    idle_.pop_back();
    lock.unlock();
    std::string ignored;
    const bool ready = c->ensure(ignored);
    return lease(*this, std::move(c), ready);
  }

  void give_back(std::unique_ptr<connection> c) const {
    {
      std::lock_guard lock(pool_mutex_);
      idle_.push_back(std::move(c));
    }
    pool_free_.notify_one();
  }

  postgres_options options_;
  std::mutex write_mutex_;
  connection writer_;
  mutable std::mutex pool_mutex_;
  mutable std::condition_variable pool_free_;
  mutable std::vector<std::unique_ptr<connection>> idle_;
};

/// The password of a URL (userinfo or `password=` parameter), if any.
std::optional<std::string> password_of(const std::string& url) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(url.c_str(), &err);
  if (err != nullptr)
    PQfreemem(err);
  if (opts == nullptr)
    return std::nullopt;
  std::optional<std::string> out;
  for (auto* o = opts; o->keyword != nullptr; ++o)
    if (std::string_view(o->keyword) == "password" && o->val != nullptr && *o->val != '\0')
      out = o->val;
  PQconninfoFree(opts);
  return out;
}

/// libpq does not put passwords in its messages, but a server or a proxy
/// might echo what it was sent: remove the password wherever it appears.
std::string scrub(std::string text, const std::optional<std::string>& password) {
  if (!password)
    return text;
  for (auto at = text.find(*password); at != std::string::npos; at = text.find(*password, at))
    text.replace(at, password->size(), "***");
  return text;
}

/// One connection of a side table (instances, leases) shared by threads one statement at a
/// time; a session the server dropped is made again on its next use.
class shared_connection {
public:
  explicit shared_connection(connection c) : conn_(std::move(c)) {}

  /// Runs `f(connection&)` while no statement of another thread runs.
  template <class F>
  auto with(F f) {
    std::lock_guard lock(mutex_);
    return f(conn_);
  }

  /// Runs a prepared statement; an empty (failed) result when the server cannot be reached.
  result run(const char* name, const params& p) {
    return with([&](connection& c) {
      std::string ignored;
      return c.ensure(ignored) ? c.run(name, p) : result();
    });
  }

private:
  std::mutex mutex_;
  connection conn_;
};

constexpr pg::prepared instance_sql[] = {
  {"beat", R"sql(
INSERT INTO instances (id, address, version, started_at_ms, heartbeat_at_ms)
VALUES ($1::text, $2::text, $3::text, $4::bigint, $5::bigint)
ON CONFLICT (id) DO UPDATE SET
  address = excluded.address, version = excluded.version,
  started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms
)sql"},
  {"live", "SELECT id, address, version, started_at_ms, heartbeat_at_ms FROM instances"
           " WHERE heartbeat_at_ms >= $1::bigint ORDER BY id"},
  {"leave", "DELETE FROM instances WHERE id = $1::text"},
};

/// The heartbeat rows, on one connection (a beat every few seconds and an
/// operator's listing need no pool).
class postgres_instances final : public instance_registry {
public:
  explicit postgres_instances(connection c) : conn_(std::move(c)) {}

  bool heartbeat(const instance_info& self) override {
    params p;
    p.add(self.id)
      .add(self.address)
      .add(self.version)
      .add(self.started_at_ms)
      .add(self.heartbeat_at_ms);
    return run("beat", p).ok();
  }

  std::vector<instance_info> live(int64_t now_ms, int64_t lease_ms) const override {
    std::vector<instance_info> out;
    auto rows = run("live", params().add(now_ms - lease_ms));
    if (!rows.ok())
      return out;
    for (int i = 0; i < rows.rows(); ++i)
      out.push_back(
        {rows.text(i, 0), rows.text(i, 1), rows.text(i, 2), rows.int64(i, 3), rows.int64(i, 4)});
    return out;
  }

  void leave(const std::string& id) override { run("leave", params().add(id)); }

private:
  result run(const char* name, const params& p) const { return conn_.run(name, p); }

  mutable shared_connection conn_;
};

constexpr pg::prepared lease_sql[] = {
  {"renew", "UPDATE work_leases SET until_ms = $2::bigint WHERE owner = $1::text"},
  // Expired leases: SKIP LOCKED, so daemons claiming at once split the work
  // instead of queueing behind each other's row locks.
  {"take_expired", R"sql(
UPDATE work_leases SET owner = $1::text, until_ms = $2::bigint
WHERE order_id IN (SELECT order_id FROM work_leases WHERE until_ms < $3::bigint
                   ORDER BY until_ms LIMIT $4::bigint FOR UPDATE SKIP LOCKED)
RETURNING order_id
)sql"},
  // Work with no lease at all: left by a daemon of an older version, or given
  // back in the instant another daemon added to it.
  {"take_orphans", R"sql(
INSERT INTO work_leases (order_id, owner, until_ms)
SELECT w.id, $1::text, $2::bigint
FROM (SELECT id FROM orders WHERE status = 'pending_payment'
      UNION SELECT order_id FROM outbox WHERE state = 'pending') AS w(id)
WHERE NOT EXISTS (SELECT 1 FROM work_leases l WHERE l.order_id = w.id)
LIMIT $3::bigint
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id
)sql"},
  {"held", "SELECT order_id FROM work_leases WHERE owner = $1::text ORDER BY order_id"},
  {"give_up_all", "DELETE FROM work_leases WHERE owner = $1::text"},
};

/// Leases on one connection of their own, which also LISTENs: the claimer's
/// thread is its main user, and a listening session must stay the same one.
class postgres_leases final : public work_leases {
public:
  postgres_leases(connection c, std::string owner, int64_t lease_ms)
    : conn_(std::move(c)), owner_(std::move(owner)), lease_ms_(lease_ms) {}

  bool renew(int64_t now_ms) override {
    return run("renew", params().add(owner_).add(now_ms + lease_ms_)).ok();
  }

  std::vector<std::string> claim(int64_t now_ms, std::size_t max) override {
    std::vector<std::string> out;
    const int64_t until = now_ms + lease_ms_;
    auto expired = run("take_expired",
                       params().add(owner_).add(until).add(now_ms).add(static_cast<int64_t>(max)));
    collect(expired, out);
    if (out.size() < max)
      collect(run("take_orphans",
                  params().add(owner_).add(until).add(static_cast<int64_t>(max - out.size()))),
              out);
    return out;
  }

  std::vector<std::string> held() override {
    std::vector<std::string> out;
    collect(run("held", params().add(owner_)), out);
    return out;
  }

  void give_up_all() override { run("give_up_all", params().add(owner_)); }

  bool wait_for_work(int64_t timeout_ms) override {
    bool announced = false;
    const int socket = conn_.with([&](connection& c) {
      if (!listening(c))
        return -1;
      announced = drain_notifications(c);
      return PQsocket(c.handle());
    });
    if (announced || socket < 0)
      return announced;
    pollfd fd{socket, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(timeout_ms)) <= 0)
      return false;
    return conn_.with([](connection& c) {
      PQconsumeInput(c.handle());
      return drain_notifications(c);
    });
  }

private:
  /// Connected and listening: a new session (after a reconnect) LISTENs again.
  bool listening(connection& c) {
    std::string ignored;
    if (!c.ensure(ignored))
      return false;
    const int pid = PQbackendPID(c.handle());
    if (pid != listening_pid_) {
      if (!c.exec("LISTEN " COFFEESHOP_WORK_CHANNEL).ok())
        return false;
      listening_pid_ = pid;
    }
    return true;
  }

  /// Whether an announcement had arrived; each is read once.
  static bool drain_notifications(connection& c) {
    bool any = false;
    while (PGnotify* n = PQnotifies(c.handle())) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

  static void collect(const result& rows, std::vector<std::string>& out) {
    if (!rows.ok())
      return;
    for (int i = 0; i < rows.rows(); ++i)
      out.push_back(rows.text(i, 0));
  }

  result run(const char* name, const params& p) { return conn_.run(name, p); }

  shared_connection conn_; // listening_pid_ is read and written under its lock
  std::string owner_;
  int64_t lease_ms_;
  int listening_pid_ = 0;
};

#undef COFFEESHOP_WORK_CHANNEL

} // namespace

std::string redact_db_url(std::string_view url) {
  std::string out(url);
  const auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    const auto start = scheme + 3;
    const auto end = out.find_first_of("/?", start);
    const auto authority_end = end == std::string::npos ? out.size() : end;
    const auto at = out.rfind('@', authority_end);
    if (at != std::string::npos && at >= start) {
      const auto colon = out.find(':', start);
      if (colon != std::string::npos && colon < at)
        out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // A password given as a query parameter (?password=... or &password=...).
  for (std::size_t at = out.find("password="); at != std::string::npos;
       at = out.find("password=", at + 1)) {
    if (at > 0 && out[at - 1] != '?' && out[at - 1] != '&')
      continue;
    const auto value = at + 9;
    const auto end = out.find('&', value);
    out.replace(value, (end == std::string::npos ? out.size() : end) - value, "***");
  }
  return out;
}

std::unique_ptr<order_store> open_postgres_store(const postgres_options& options,
                                                 std::string& error) {
  const std::string shown = redact_db_url(options.url);
  const auto password = password_of(options.url);
  auto fail = [&](const std::string& reason) -> std::unique_ptr<order_store> {
    error = shown + ": " + scrub(reason, password);
    return nullptr;
  };
  if (options.pool_size < 2)
    return fail("pool_size must be at least 2 (one writer, one reader)");
  std::string message;
  // Migrate before preparing: the statements name the tables.
  {
    auto setup = connection::open(options.url, options.connect_timeout_s,
                                  options.statement_timeout_ms, {}, message);
    if (!setup)
      return fail("cannot connect (" + message + ")");
    if (!pg::migrate_schema(*setup, message))
      return fail(message);
  }
  auto writer = connection::open(options.url, options.connect_timeout_s,
                                 options.statement_timeout_ms, writer_statements(), message);
  if (!writer)
    return fail("cannot connect (" + message + ")");
  std::vector<connection> readers;
  for (int i = 1; i < options.pool_size; ++i) {
    auto r = connection::open(options.url, options.connect_timeout_s, options.statement_timeout_ms,
                              reader_statements(), message);
    if (!r)
      return fail("cannot connect a reader (" + message + ")");
    readers.push_back(std::move(*r));
  }
  return std::make_unique<postgres_order_store>(options, std::move(*writer), std::move(readers));
}

namespace {

/// A connection of its own for one side table (leases, instances), with its statements;
/// nullopt with `error` as open_postgres_store's.
template <std::size_t N>
std::optional<connection> open_side_connection(const postgres_options& options,
                                               const pg::prepared (&statements)[N],
                                               std::string& error) {
  std::string message;
  auto c = connection::open(options.url, options.connect_timeout_s, options.statement_timeout_ms,
                            {std::begin(statements), std::end(statements)}, message);
  if (!c)
    error = redact_db_url(options.url) + ": " + scrub(message, password_of(options.url));
  return c;
}

} // namespace

std::unique_ptr<work_leases> open_postgres_leases(const postgres_options& options,
                                                  std::string& error) {
  auto c = open_side_connection(options, lease_sql, error);
  if (!c)
    return nullptr;
  return std::make_unique<postgres_leases>(std::move(*c), options.instance_id, options.lease_ms);
}

std::unique_ptr<instance_registry> open_postgres_instances(const postgres_options& options,
                                                           std::string& error) {
  auto c = open_side_connection(options, instance_sql, error);
  if (!c)
    return nullptr;
  return std::make_unique<postgres_instances>(std::move(*c));
}

} // namespace coffeeshop
