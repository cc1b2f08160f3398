#include "coffeeshop/store/sqlite_store.hpp"

#include "sqlite_checkpointer.hpp"
#include "sqlite_db.hpp"
#include "sqlite_schema.hpp"

#include "stored_order.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <limits>
#include <mutex>
#include <vector>

namespace coffeeshop {

namespace {

using sqlite::connection;
using sqlite::reset_on_exit;
using sqlite::statement;

// -- statements ---------------------------------------------------------------

// An order's `seq` is one more than the largest so far (the UNIQUE index makes
// MAX a lookup); a replacement keeps its seq, so listings keep creation order.
// The key column is set only when no other order holds the key: the first
// order created with a key is the one a retry replays.
constexpr const char* sql_put_order = R"sql(
INSERT INTO orders (id, seq, status, idempotency_key, created_at_ms, updated_at_ms, body,
                    trace_flags)
VALUES (?1, (SELECT IFNULL(MAX(seq), 0) + 1 FROM orders), ?2,
        CASE WHEN EXISTS (SELECT 1 FROM orders WHERE idempotency_key = ?3 AND id <> ?1)
             THEN NULL ELSE ?3 END,
        ?4, ?5, ?6, ?7)
ON CONFLICT (id) DO UPDATE SET
  status = excluded.status, idempotency_key = excluded.idempotency_key,
  created_at_ms = excluded.created_at_ms, updated_at_ms = excluded.updated_at_ms,
  body = excluded.body, trace_flags = excluded.trace_flags
)sql";

constexpr const char* sql_put_outbox = R"sql(
INSERT INTO outbox (id, order_id, seq, status, state, attempts, last_error,
                    next_attempt_at_ms, created_at_ms)
VALUES (?1, ?2, (SELECT IFNULL(MAX(seq), 0) + 1 FROM outbox), ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (id) DO UPDATE SET
  order_id = excluded.order_id, status = excluded.status, state = excluded.state,
  attempts = excluded.attempts, last_error = excluded.last_error,
  next_attempt_at_ms = excluded.next_attempt_at_ms, created_at_ms = excluded.created_at_ms
)sql";

constexpr const char* sql_put_breaker = R"sql(
INSERT INTO breakers (service, state, isolated, consecutive_failures, opened_at_ms, open_until_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (service) DO UPDATE SET
  state = excluded.state, isolated = excluded.isolated,
  consecutive_failures = excluded.consecutive_failures,
  opened_at_ms = excluded.opened_at_ms, open_until_ms = excluded.open_until_ms
)sql";

constexpr const char* outbox_columns =
  "id, order_id, status, state, attempts, last_error, next_attempt_at_ms, created_at_ms";

/// The write connection's statements, prepared once.
struct writer {
  connection db;
  statement put_order;
  statement put_outbox;
  statement put_breaker;
  statement status_of;
  statement key_owner;
};

/// A read connection with its statements, prepared once per connection.
struct reader {
  connection db;
  statement get_order;
  statement order_by_key;
  statement seq_of;
  statement list_all;
  statement list_status;
  statement count_orders;
  statement outbox_get;
  statement outbox_all;
  statement outbox_in_state;
  statement outbox_count;
  statement breaker_get;
};

std::optional<writer> make_writer(connection db, std::string& error) {
  auto a = statement::prepare(db, sql_put_order, error);
  auto b = a ? statement::prepare(db, sql_put_outbox, error) : std::nullopt;
  auto c = b ? statement::prepare(db, sql_put_breaker, error) : std::nullopt;
  auto d = c ? statement::prepare(db, "SELECT status FROM orders WHERE id = ?1", error)
             : std::nullopt;
  auto e = d ? statement::prepare(db, "SELECT id FROM orders WHERE idempotency_key = ?1", error)
             : std::nullopt;
  if (!e)
    return std::nullopt;
  return writer{std::move(db), std::move(*a), std::move(*b),
                std::move(*c), std::move(*d), std::move(*e)};
}

std::unique_ptr<reader> make_reader(const sqlite_options& options, std::string& error) {
  // Read-only: a bug in a read path cannot write, and WAL lets these read a
  // committed snapshot while the writer holds its lock.
  auto db = connection::open(options.path, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, error);
  if (!db)
    return nullptr;
  sqlite3_busy_timeout(db->handle(), options.busy_timeout_ms);
  const std::string outbox_select = std::string("SELECT ") + outbox_columns + " FROM outbox";
  const std::string sql[] = {
    "SELECT body, trace_flags FROM orders WHERE id = ?1",
    "SELECT body, trace_flags FROM orders WHERE idempotency_key = ?1",
    "SELECT seq FROM orders WHERE id = ?1",
    "SELECT id, body, trace_flags FROM orders WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    "SELECT id, body, trace_flags FROM orders WHERE status = ?1 AND seq > ?2 ORDER BY seq"
    " LIMIT ?3",
    "SELECT count(*) FROM orders",
    outbox_select + " WHERE id = ?1",
    outbox_select + " ORDER BY seq LIMIT ?1",
    outbox_select + " WHERE state = ?1 ORDER BY seq LIMIT ?2",
    "SELECT count(*), MIN(created_at_ms) FROM outbox WHERE state = ?1",
    "SELECT state, isolated, consecutive_failures, opened_at_ms, open_until_ms"
    " FROM breakers WHERE service = ?1",
  };
  std::vector<statement> s;
  for (const auto& text : sql) {
    auto stmt = statement::prepare(*db, text.c_str(), error);
    if (!stmt)
      return nullptr;
    s.push_back(std::move(*stmt));
  }
  return std::make_unique<reader>(reader{std::move(*db), std::move(s[0]), std::move(s[1]),
                                         std::move(s[2]), std::move(s[3]), std::move(s[4]),
                                         std::move(s[5]), std::move(s[6]), std::move(s[7]),
                                         std::move(s[8]), std::move(s[9]), std::move(s[10])});
}

// -- row decoding -------------------------------------------------------------

std::optional<outbox_entry> read_outbox_row(const statement& s) {
  auto state = parse_outbox_state(s.column_text(3));
  if (!state)
    return std::nullopt;
  outbox_entry e;
  e.id = s.column_text(0);
  e.order_id = s.column_text(1);
  e.status = s.column_text(2);
  e.state = *state;
  e.attempts = static_cast<int>(s.column_int64(4));
  e.last_error = s.column_text(5);
  e.next_attempt_at_ms = s.column_int64(6);
  e.created_at_ms = s.column_int64(7);
  return e;
}

/// SQLite's LIMIT is a signed 64-bit integer.
int64_t sql_limit(std::size_t limit) {
  constexpr auto most = static_cast<std::size_t>(std::numeric_limits<int64_t>::max());
  return static_cast<int64_t>(std::min(limit, most));
}

// -- the store ----------------------------------------------------------------

/// Orders, outbox and breakers in one SQLite file. Commits run on the one
/// write connection; reads borrow a read-only connection from a pool, so they
/// never wait for a commit (WAL) and no order is held in memory.
///
/// Read failures (I/O errors, a row that does not decode) read as absent:
/// the interface has no error channel for reads, and a failing disk shows up
/// on the next commit, which does report it.
class sqlite_order_store final : public order_store {
public:
  sqlite_order_store(sqlite_options options, writer w, std::unique_ptr<reader> first,
                     connection checkpoints)
    : options_(std::move(options)),
      writer_(std::move(w)),
      checkpointer_(writer_.db, std::move(checkpoints), checkpoint_pages) {
    idle_.push_back(std::move(first));
  }

  commit_result commit(const std::vector<const store_write*>& batch) override {
    std::lock_guard lock(write_mutex_);
    try {
      return commit_locked(batch);
    } catch (const std::exception& e) {
      // Only allocation can throw here; the transaction was rolled back by
      // its destructor during unwinding.
      return {false, std::string("commit: ") + e.what()};
    }
  }

  std::optional<order> get(const std::string& id) const override {
    return read_order([&](reader& r) -> statement& {
      r.get_order.bind(1, id);
      return r.get_order;
    });
  }

  std::optional<order> find_by_idempotency_key(const std::string& key) const override {
    return read_order([&](reader& r) -> statement& {
      r.order_by_key.bind(1, key);
      return r.order_by_key;
    });
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
      reset_on_exit guard(r->seq_of);
      r->seq_of.bind(1, *after);
      if (r->seq_of.step() != SQLITE_ROW)
        return page;
      start = r->seq_of.column_int64(0);
    }
    // One row more than asked tells whether a next page exists.
    const int64_t fetch = sql_limit(limit < std::numeric_limits<std::size_t>::max() ? limit + 1
                                                                                    : limit);
    statement& s = status ? r->list_status : r->list_all;
    reset_on_exit guard(s);
    int index = 1;
    if (status)
      s.bind(index++, to_string(*status));
    s.bind(index++, start);
    s.bind(index, fetch);
    bool more = false;
    while (s.step() == SQLITE_ROW) {
      if (page.orders.size() == limit) {
        more = true;
        break;
      }
      if (auto o = decode_stored_order(s.column_text(1), s.column_text(2)))
        page.orders.push_back(std::move(*o));
    }
    if (more && !page.orders.empty())
      page.next = page.orders.back().id;
    return page;
  }

  std::size_t size() const override {
    auto r = borrow();
    if (!r)
      return 0;
    reset_on_exit guard(r->count_orders);
    if (r->count_orders.step() != SQLITE_ROW)
      return 0;
    return static_cast<std::size_t>(r->count_orders.column_int64(0));
  }

  std::optional<outbox_entry> outbox_get(const std::string& id) const override {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    reset_on_exit guard(r->outbox_get);
    r->outbox_get.bind(1, id);
    if (r->outbox_get.step() != SQLITE_ROW)
      return std::nullopt;
    return read_outbox_row(r->outbox_get);
  }

  std::vector<outbox_entry> outbox_list(const std::optional<outbox_state>& state,
                                        std::size_t limit) const override {
    std::vector<outbox_entry> out;
    if (limit == 0)
      return out;
    auto r = borrow();
    if (!r)
      return out;
    statement& s = state ? r->outbox_in_state : r->outbox_all;
    reset_on_exit guard(s);
    int index = 1;
    if (state)
      s.bind(index++, to_string(*state));
    s.bind(index, sql_limit(limit));
    while (s.step() == SQLITE_ROW)
      if (auto e = read_outbox_row(s))
        out.push_back(std::move(*e));
    return out;
  }

  std::pair<std::size_t, std::optional<int64_t>> outbox_count(outbox_state state) const override {
    std::pair<std::size_t, std::optional<int64_t>> result{0, std::nullopt};
    auto r = borrow();
    if (!r)
      return result;
    statement& s = r->outbox_count;
    reset_on_exit guard(s);
    s.bind(1, to_string(state));
    if (s.step() != SQLITE_ROW)
      return result;
    result.first = static_cast<std::size_t>(s.column_int64(0));
    if (!s.column_is_null(1))
      result.second = s.column_int64(1);
    return result;
  }

  std::optional<breaker_snapshot> breaker(service_kind service) const override {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    statement& s = r->breaker_get;
    reset_on_exit guard(s);
    s.bind(1, to_string(service));
    if (s.step() != SQLITE_ROW)
      return std::nullopt;
    auto state = parse_circuit_state(s.column_text(0));
    if (!state)
      return std::nullopt;
    breaker_snapshot snap;
    snap.state = *state;
    snap.isolated = s.column_int64(1) != 0;
    snap.consecutive_failures = static_cast<int>(s.column_int64(2));
    if (!s.column_is_null(3))
      snap.opened_at_ms = s.column_int64(3);
    if (!s.column_is_null(4))
      snap.open_until_ms = s.column_int64(4);
    return snap;
  }

private:
  commit_result commit_locked(const std::vector<const store_write*>& batch) {
    std::string message;
    sqlite::transaction tx(writer_.db);
    if (!tx.begin(message))
      return {false, "begin: " + message};
    commit_result result;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const store_write* w = batch[i];
      // One writer holds the write lock: what is read here is what the
      // write would change.
      if (!holds(*w)) {
        result.conflicts.push_back(i);
        continue;
      }
      for (const auto& o : w->orders)
        if (!put(o))
          return {false, "put order " + o.id + ": " + writer_.db.errmsg()};
      for (const auto& e : w->outbox)
        if (!put(e))
          return {false, "put outbox entry " + e.id + ": " + writer_.db.errmsg()};
      for (const auto& [service, snap] : w->breakers)
        if (!put(service, snap))
          return {false,
                  std::string("put breaker ") + to_string(service) + ": " + writer_.db.errmsg()};
    }
    if (!tx.commit(message))
      return {false, "commit: " + message};
    return result;
  }

  bool holds(const store_write& w) {
    std::optional<order_status> stored;
    if (w.expect_status && !w.orders.empty()) {
      statement& s = writer_.status_of;
      reset_on_exit guard(s);
      s.bind(1, w.orders.front().id);
      if (s.step() == SQLITE_ROW)
        stored = parse_order_status(s.column_text(0));
    }
    return conditions_hold(w, stored, [&](const std::string& key) -> std::optional<std::string> {
      statement& s = writer_.key_owner;
      reset_on_exit guard(s);
      s.bind(1, key);
      if (s.step() != SQLITE_ROW)
        return std::nullopt;
      return s.column_text(0);
    });
  }

  bool put(const order& o) {
    statement& s = writer_.put_order;
    reset_on_exit guard(s);
    const std::string body = boost::json::serialize(to_stored_json(o));
    return s.bind(1, o.id) && s.bind(2, to_string(o.status)) && s.bind(3, o.idempotency_key) &&
           s.bind(4, o.created_at_ms) && s.bind(5, o.updated_at_ms) && s.bind(6, body) &&
           s.bind(7, stored_trace_flags(o.trace_flags)) && s.step() == SQLITE_DONE;
  }

  bool put(const outbox_entry& e) {
    statement& s = writer_.put_outbox;
    reset_on_exit guard(s);
    return s.bind(1, e.id) && s.bind(2, e.order_id) && s.bind(3, e.status) &&
           s.bind(4, to_string(e.state)) && s.bind(5, static_cast<int64_t>(e.attempts)) &&
           s.bind(6, e.last_error) && s.bind(7, e.next_attempt_at_ms) &&
           s.bind(8, e.created_at_ms) && s.step() == SQLITE_DONE;
  }

  bool put(service_kind service, const breaker_snapshot& snap) {
    statement& s = writer_.put_breaker;
    reset_on_exit guard(s);
    return s.bind(1, to_string(service)) && s.bind(2, to_string(snap.state)) &&
           s.bind(3, int64_t{snap.isolated ? 1 : 0}) &&
           s.bind(4, static_cast<int64_t>(snap.consecutive_failures)) &&
           s.bind(5, snap.opened_at_ms) && s.bind(6, snap.open_until_ms) && s.step() == SQLITE_DONE;
  }

  /// Runs a one-row order query prepared by `bind` on a borrowed reader.
  template <typename Bind>
  std::optional<order> read_order(Bind bind) const {
    auto r = borrow();
    if (!r)
      return std::nullopt;
    statement& s = bind(*r);
    reset_on_exit guard(s);
    if (s.step() != SQLITE_ROW)
      return std::nullopt;
    return decode_stored_order(s.column_text(0), s.column_text(1));
  }

  /// A borrowed reader, back in the pool when the lease ends.
  class lease {
  public:
    lease(const sqlite_order_store& store, std::unique_ptr<reader> r)
      : store_(store), reader_(std::move(r)) {}
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;
    ~lease() {
      if (reader_)
        store_.give_back(std::move(reader_));
    }
    explicit operator bool() const { return reader_ != nullptr; }
    reader* operator->() const { return reader_.get(); }
    reader& operator*() const { return *reader_; }

  private:
    const sqlite_order_store& store_;
    std::unique_ptr<reader> reader_;
  };

  /// A reader from the pool, or a new one when all are in use: the pool grows
  /// to the number of threads that read at once and no further.
  lease borrow() const {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        auto r = std::move(idle_.back());
        idle_.pop_back();
        return lease(*this, std::move(r));
      }
    }
    std::string ignored;
    return lease(*this, make_reader(options_, ignored));
  }

  void give_back(std::unique_ptr<reader> r) const {
    std::lock_guard lock(pool_mutex_);
    idle_.push_back(std::move(r));
  }

  /// SQLite's own default for its automatic checkpoints.
  static constexpr int checkpoint_pages = 1000;

  sqlite_options options_;
  std::mutex write_mutex_;
  writer writer_;
  sqlite::checkpointer checkpointer_; // after writer_: stops before it closes
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<reader>> idle_;
};

} // namespace

std::unique_ptr<order_store> open_sqlite_store(const sqlite_options& options, std::string& error) {
  auto db = sqlite::open_schema(options, error);
  if (!db)
    return nullptr;
  std::string message;
  auto w = make_writer(std::move(*db), message);
  if (!w) {
    error = options.path + ": " + message;
    return nullptr;
  }
  // One reader up front: a file that the writer can use but a reader cannot
  // (permissions on the -shm file) fails here, at start, not on every read.
  auto first = make_reader(options, message);
  if (!first) {
    error = options.path + ": cannot open for reading (" + message + ")";
    return nullptr;
  }
  auto checkpoints = connection::open(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                                      message);
  // A connection learns that the file is in WAL mode when it first reads it;
  // until then a checkpoint through it does nothing.
  if (checkpoints && !checkpoints->exec("PRAGMA journal_mode", message))
    checkpoints.reset();
  if (!checkpoints) {
    error = options.path + ": cannot open for checkpoints (" + message + ")";
    return nullptr;
  }
  return std::make_unique<sqlite_order_store>(options, std::move(*w), std::move(first),
                                              std::move(*checkpoints));
}

} // namespace coffeeshop
