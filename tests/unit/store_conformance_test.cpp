// One suite, every store backend: each TEMPLATE_TEST_CASE runs once per
// backend in STORE_BACKENDS. Backend-specific cases (files, schema versions,
// locks) follow at the end.

#include "coffeeshop/domain/order_json.hpp"
#include "coffeeshop/domain/order_store.hpp"
#include "coffeeshop/store/postgres_store.hpp"
#include "coffeeshop/store/sqlite_store.hpp"

#include "pg_test_db.hpp"

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <thread>

using namespace coffeeshop;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under the system temp dir, removed with its contents
/// when the test ends, however it ends.
class temp_dir {
public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "coffeeshop-store-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  fs::path operator/(const std::string& name) const { return path_ / name; }

private:
  fs::path path_;
};

// -- backends -------------------------------------------------------------------
// A backend is a type with open(): a fresh, empty store. Add one to
// STORE_BACKENDS to run the whole suite against it.

struct memory_backend {
  std::unique_ptr<order_store> open() { return make_memory_order_store(); }
};

struct sqlite_backend {
  temp_dir dir;
  std::unique_ptr<order_store> open() {
    sqlite_options options;
    options.path = (dir / "store.db").string();
    // The suite checks behaviour, not power-loss durability: skip the fsyncs.
    options.synchronous_full = false;
    std::string error;
    auto store = open_sqlite_store(options, error);
    INFO(error);
    REQUIRE(store);
    return store;
  }
};

/// A fresh schema on the fixture's PostgreSQL server (the name carries
/// "pg_server", which registers these cases with the fixture).
struct pg_server_backend {
  testing::pg_test_schema schema;
  std::unique_ptr<order_store> open() {
    postgres_options options;
    options.url = schema.url();
    options.pool_size = 4;
    std::string error;
    auto store = open_postgres_store(options, error);
    INFO(error);
    REQUIRE(store);
    return store;
  }
};

#define STORE_BACKENDS memory_backend, sqlite_backend, pg_server_backend

// -- helpers --------------------------------------------------------------------

order make(const std::string& id, order_status status = order_status::waiting,
           std::optional<std::string> key = std::nullopt) {
  order o;
  o.id = id;
  o.status = status;
  o.idempotency_key = std::move(key);
  o.customer_email = "ana@example.com";
  o.items = {{"Latte", "Vanilla", 1, 430, 430}};
  o.total = 430;
  return o;
}

outbox_entry entry(const std::string& id, const std::string& order_id, outbox_state state,
                   int64_t created_at_ms) {
  outbox_entry e;
  e.id = id;
  e.order_id = order_id;
  e.status = "preparation";
  e.state = state;
  e.created_at_ms = created_at_ms;
  return e;
}

std::vector<std::string> ids_of(const order_page& page) {
  std::vector<std::string> ids;
  for (const auto& o : page.orders)
    ids.push_back(o.id);
  return ids;
}

std::vector<std::string> ids_of(const std::vector<outbox_entry>& entries) {
  std::vector<std::string> ids;
  for (const auto& e : entries)
    ids.push_back(e.id);
  return ids;
}

using ids = std::vector<std::string>;

} // namespace

// -- every backend ----------------------------------------------------------------

TEMPLATE_TEST_CASE("store: put and get", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  CHECK(store->size() == 0);
  CHECK_FALSE(store->get("a").has_value());
  REQUIRE(put_order(*store, make("a")).ok);
  REQUIRE(put_order(*store, make("b", order_status::ready)).ok);
  CHECK(store->size() == 2);
  auto b = store->get("b");
  REQUIRE(b.has_value());
  CHECK(b->id == "b");
  CHECK(b->status == order_status::ready);
  CHECK(b->items.size() == 1);
  CHECK_FALSE(store->get("c").has_value());
}

TEMPLATE_TEST_CASE("store: an order reads back with every field", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  auto o = make("a", order_status::preparation, "key-1");
  o.items.push_back({"Tea", "", 3, 300, 900});
  o.total = 1330;
  o.payment = {"succeeded", 2, std::string("pay_1")};
  o.notifications = {{"waiting", "sent", 1, "ntf_1"}, {"preparation", "pending", 0, "ntf_2"}};
  o.created_at_ms = 1795514130000;
  o.updated_at_ms = 1795514130123;
  o.trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  o.trace_flags = "00";
  o.request_fingerprint = "fp";
  REQUIRE(put_order(*store, o).ok);
  auto back = store->get("a");
  REQUIRE(back.has_value());
  CHECK(to_stored_json(*back) == to_stored_json(o));
  CHECK(back->trace_flags == "00"); // not part of the stored JSON body
}

TEMPLATE_TEST_CASE("store: trace flags read back through every lookup", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  auto unsampled = make("a", order_status::pending_payment, "key-a");
  unsampled.trace_flags = "00";
  auto sampled = make("b"); // the default
  REQUIRE(sampled.trace_flags == "01");
  REQUIRE(put_order(*store, unsampled).ok);
  REQUIRE(put_order(*store, sampled).ok);
  CHECK(store->get("a")->trace_flags == "00");
  CHECK(store->get("b")->trace_flags == "01");
  CHECK(store->find_by_idempotency_key("key-a")->trace_flags == "00");
  auto all = store->list(std::nullopt, 10, std::nullopt);
  REQUIRE(all.orders.size() == 2);
  CHECK(all.orders[0].trace_flags == "00");
  CHECK(all.orders[1].trace_flags == "01");
  // What a restart resumes: the pending orders, with their flags.
  auto pending = store->list(order_status::pending_payment, 10, std::nullopt);
  REQUIRE(pending.orders.size() == 1);
  CHECK(pending.orders[0].trace_flags == "00");
  // A replacement writes them again.
  unsampled.status = order_status::waiting;
  unsampled.trace_flags = "01";
  sampled.trace_flags = "00";
  store_write w;
  w.orders = {unsampled, sampled};
  REQUIRE(store->commit({&w}).ok);
  CHECK(store->get("a")->trace_flags == "01");
  CHECK(store->get("b")->trace_flags == "00");
}

TEMPLATE_TEST_CASE("store: replacing keeps creation position", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  put_order(*store, make("a"));
  put_order(*store, make("b"));
  put_order(*store, make("c"));
  auto changed = make("a", order_status::preparation);
  changed.total = 999;
  put_order(*store, changed);
  CHECK(store->size() == 3);
  CHECK(store->get("a")->status == order_status::preparation);
  CHECK(store->get("a")->total == 999);
  CHECK(ids_of(store->list(std::nullopt, 10, std::nullopt)) == ids{"a", "b", "c"});
  // The status index follows the change.
  CHECK(ids_of(store->list(order_status::waiting, 10, std::nullopt)) == ids{"b", "c"});
  CHECK(ids_of(store->list(order_status::preparation, 10, std::nullopt)) == ids{"a"});
  // The id index still works after the replacement.
  put_order(*store, make("a", order_status::ready));
  CHECK(store->get("a")->status == order_status::ready);
  CHECK(store->list(order_status::preparation, 10, std::nullopt).orders.empty());
}

TEMPLATE_TEST_CASE("store: idempotency lookup", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  put_order(*store, make("a", order_status::pending_payment, "key-1"));
  put_order(*store, make("b"));
  CHECK(store->find_by_idempotency_key("key-1")->id == "a");
  CHECK_FALSE(store->find_by_idempotency_key("key-2").has_value());

  // Still found after the order is replaced, and it reflects the new state.
  put_order(*store, make("a", order_status::payment_failed, "key-1"));
  auto found = store->find_by_idempotency_key("key-1");
  REQUIRE(found.has_value());
  CHECK(found->status == order_status::payment_failed);

  // A key added later to an existing order is indexed.
  put_order(*store, make("b", order_status::waiting, "key-2"));
  CHECK(store->find_by_idempotency_key("key-2")->id == "b");

  // The first order created with a key keeps it; the second is still stored.
  REQUIRE(put_order(*store, make("c", order_status::waiting, "key-1")).ok);
  CHECK(store->find_by_idempotency_key("key-1")->id == "a");
  REQUIRE(store->get("c").has_value());
  CHECK(store->get("c")->idempotency_key == std::optional<std::string>("key-1"));

  // A key removed from an order is no longer found.
  put_order(*store, make("b"));
  CHECK_FALSE(store->find_by_idempotency_key("key-2").has_value());
}

TEMPLATE_TEST_CASE("store: list pages with next", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  for (int i = 0; i < 7; ++i)
    put_order(*store,
              make("o" + std::to_string(i), i % 2 ? order_status::ready : order_status::waiting));

  SECTION("unfiltered paging") {
    auto p1 = store->list(std::nullopt, 3, std::nullopt);
    CHECK(ids_of(p1) == ids{"o0", "o1", "o2"});
    REQUIRE(p1.next == std::optional<std::string>("o2"));
    auto p2 = store->list(std::nullopt, 3, p1.next);
    CHECK(ids_of(p2) == ids{"o3", "o4", "o5"});
    REQUIRE(p2.next == std::optional<std::string>("o5"));
    auto p3 = store->list(std::nullopt, 3, p2.next);
    CHECK(ids_of(p3) == ids{"o6"});
    CHECK_FALSE(p3.next.has_value());
  }
  SECTION("an exactly full last page has no next") {
    auto page = store->list(std::nullopt, 7, std::nullopt);
    CHECK(page.orders.size() == 7);
    CHECK_FALSE(page.next.has_value());
    auto tail = store->list(std::nullopt, 2, std::string("o4"));
    CHECK(ids_of(tail) == ids{"o5", "o6"});
    CHECK_FALSE(tail.next.has_value());
  }
  SECTION("status filter") {
    auto p1 = store->list(order_status::waiting, 2, std::nullopt);
    CHECK(ids_of(p1) == ids{"o0", "o2"});
    REQUIRE(p1.next == std::optional<std::string>("o2"));
    auto p2 = store->list(order_status::waiting, 2, p1.next);
    CHECK(ids_of(p2) == ids{"o4", "o6"});
    CHECK_FALSE(p2.next.has_value());
    CHECK(ids_of(store->list(order_status::ready, 10, std::nullopt)) == ids{"o1", "o3", "o5"});
    CHECK(store->list(order_status::canceled, 10, std::nullopt).orders.empty());
    CHECK_FALSE(store->list(order_status::canceled, 10, std::nullopt).next.has_value());
  }
  SECTION("after an id of another status") {
    auto page = store->list(order_status::ready, 10, std::string("o2"));
    CHECK(ids_of(page) == ids{"o3", "o5"});
  }
  SECTION("after the last order") {
    auto page = store->list(std::nullopt, 10, std::string("o6"));
    CHECK(page.orders.empty());
    CHECK_FALSE(page.next.has_value());
  }
  SECTION("unknown after yields an empty page") {
    auto page = store->list(std::nullopt, 10, std::string("nope"));
    CHECK(page.orders.empty());
    CHECK_FALSE(page.next.has_value());
    CHECK(store->list(order_status::waiting, 10, std::string("nope")).orders.empty());
  }
  SECTION("limit 0 and a huge limit") {
    CHECK(store->list(std::nullopt, 0, std::nullopt).orders.empty());
    CHECK_FALSE(store->list(std::nullopt, 0, std::nullopt).next.has_value());
    auto all = store->list(std::nullopt, std::numeric_limits<std::size_t>::max(),
                           std::string("o0"));
    CHECK(all.orders.size() == 6);
    CHECK_FALSE(all.next.has_value());
  }
}

TEMPLATE_TEST_CASE("store: a batch of writes commits as one", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  store_write first;
  first.orders = {make("a", order_status::pending_payment, "key-a"), make("b")};
  store_write second;
  // A later write in the batch wins over an earlier one for the same id.
  second.orders = {make("a", order_status::waiting, "key-a")};
  second.outbox = {entry("n1", "a", outbox_state::pending, 100)};
  store_write third;
  breaker_snapshot open_breaker;
  open_breaker.state = circuit_state::open;
  open_breaker.consecutive_failures = 3;
  open_breaker.opened_at_ms = 1000;
  open_breaker.open_until_ms = 31000;
  third.breakers = {{service_kind::payment, open_breaker}};
  CHECK(store_write{}.empty());
  CHECK_FALSE(third.empty());

  auto result = store->commit({&first, &second, &third});
  INFO(result.error);
  REQUIRE(result.ok);
  CHECK(result.error.empty());
  CHECK(store->size() == 2);
  CHECK(store->get("a")->status == order_status::waiting);
  CHECK(store->find_by_idempotency_key("key-a")->id == "a");
  CHECK(ids_of(store->list(std::nullopt, 10, std::nullopt)) == ids{"a", "b"});
  CHECK(store->outbox_get("n1").has_value());
  REQUIRE(store->breaker(service_kind::payment).has_value());
  CHECK(store->breaker(service_kind::payment)->state == circuit_state::open);

  // An empty batch commits nothing and succeeds.
  CHECK(store->commit({}).ok);
  CHECK(store->size() == 2);
}

TEMPLATE_TEST_CASE("store: outbox entries", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  CHECK_FALSE(store->outbox_get("n1").has_value());
  CHECK(store->outbox_list(std::nullopt, 10).empty());
  CHECK(store->outbox_count(outbox_state::pending) ==
        std::pair<std::size_t, std::optional<int64_t>>{0, std::nullopt});

  store_write w;
  w.outbox = {entry("n1", "a", outbox_state::pending, 300),
              entry("n2", "a", outbox_state::sent, 100),
              entry("n3", "b", outbox_state::pending, 200),
              entry("n4", "c", outbox_state::failed, 400)};
  w.outbox[3].attempts = 5;
  w.outbox[3].last_error = "HTTP 503";
  w.outbox[3].next_attempt_at_ms = 1795514130000;
  REQUIRE(store->commit({&w}).ok);

  SECTION("get returns every field") {
    auto e = store->outbox_get("n4");
    REQUIRE(e.has_value());
    CHECK(e->id == "n4");
    CHECK(e->order_id == "c");
    CHECK(e->status == "preparation");
    CHECK(e->state == outbox_state::failed);
    CHECK(e->attempts == 5);
    CHECK(e->last_error == "HTTP 503");
    CHECK(e->next_attempt_at_ms == 1795514130000);
    CHECK(e->created_at_ms == 400);
    CHECK_FALSE(store->outbox_get("n9").has_value());
  }
  SECTION("list in creation order, by state, limited") {
    CHECK(ids_of(store->outbox_list(std::nullopt, 10)) == ids{"n1", "n2", "n3", "n4"});
    CHECK(ids_of(store->outbox_list(outbox_state::pending, 10)) == ids{"n1", "n3"});
    CHECK(ids_of(store->outbox_list(outbox_state::pending, 1)) == ids{"n1"});
    CHECK(ids_of(store->outbox_list(outbox_state::failed, 10)) == ids{"n4"});
    CHECK(store->outbox_list(std::nullopt, 0).empty());
    CHECK(store->outbox_list(std::nullopt, std::numeric_limits<std::size_t>::max()).size() == 4);
  }
  SECTION("count and oldest per state") {
    // The oldest is by creation time, not by position.
    CHECK(store->outbox_count(outbox_state::pending) ==
          std::pair<std::size_t, std::optional<int64_t>>{2, 200});
    CHECK(store->outbox_count(outbox_state::sent) ==
          std::pair<std::size_t, std::optional<int64_t>>{1, 100});
    CHECK(store->outbox_count(outbox_state::failed) ==
          std::pair<std::size_t, std::optional<int64_t>>{1, 400});
  }
  SECTION("an update by id replaces the entry in place") {
    auto sent = entry("n1", "a", outbox_state::sent, 300);
    sent.attempts = 2;
    store_write update;
    update.outbox = {sent};
    REQUIRE(store->commit({&update}).ok);
    auto e = store->outbox_get("n1");
    REQUIRE(e.has_value());
    CHECK(e->state == outbox_state::sent);
    CHECK(e->attempts == 2);
    CHECK(ids_of(store->outbox_list(std::nullopt, 10)) == ids{"n1", "n2", "n3", "n4"});
    CHECK(ids_of(store->outbox_list(outbox_state::pending, 10)) == ids{"n3"});
    CHECK(store->outbox_count(outbox_state::pending).first == 1);
    CHECK(store->outbox_count(outbox_state::sent).first == 2);
  }
}

TEMPLATE_TEST_CASE("store: breaker snapshots per service", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  CHECK_FALSE(store->breaker(service_kind::payment).has_value());
  CHECK_FALSE(store->breaker(service_kind::notification).has_value());

  breaker_snapshot open_breaker;
  open_breaker.state = circuit_state::open;
  open_breaker.consecutive_failures = 4;
  open_breaker.opened_at_ms = 1795514130000;
  open_breaker.open_until_ms = 1795514160000;
  breaker_snapshot isolated;
  isolated.state = circuit_state::open;
  isolated.isolated = true;
  isolated.opened_at_ms = 1795514100000;
  store_write w;
  w.breakers = {{service_kind::payment, open_breaker}, {service_kind::notification, isolated}};
  REQUIRE(store->commit({&w}).ok);

  auto p = store->breaker(service_kind::payment);
  REQUIRE(p.has_value());
  CHECK(p->state == circuit_state::open);
  CHECK_FALSE(p->isolated);
  CHECK(p->consecutive_failures == 4);
  CHECK(p->opened_at_ms == std::optional<int64_t>(1795514130000));
  CHECK(p->open_until_ms == std::optional<int64_t>(1795514160000));
  auto n = store->breaker(service_kind::notification);
  REQUIRE(n.has_value());
  CHECK(n->isolated);
  CHECK(n->opened_at_ms == std::optional<int64_t>(1795514100000));
  CHECK_FALSE(n->open_until_ms.has_value());

  // A later snapshot replaces the service's previous one, not the other's.
  store_write closed;
  closed.breakers = {{service_kind::payment, breaker_snapshot{}}};
  REQUIRE(store->commit({&closed}).ok);
  p = store->breaker(service_kind::payment);
  REQUIRE(p.has_value());
  CHECK(p->state == circuit_state::closed);
  CHECK(p->consecutive_failures == 0);
  CHECK_FALSE(p->opened_at_ms.has_value());
  CHECK_FALSE(p->open_until_ms.has_value());
  CHECK(store->breaker(service_kind::notification)->isolated);
}

TEMPLATE_TEST_CASE("store: a write claiming a key another order holds is not applied", "[store]",
                   STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  REQUIRE(put_order(*store, make("a", order_status::pending_payment, "key-1")).ok);

  store_write taken;
  taken.claim_keys = true;
  taken.orders.push_back(make("b", order_status::pending_payment, "key-1"));
  store_write free;
  free.claim_keys = true;
  free.orders.push_back(make("c", order_status::pending_payment, "key-2"));
  store_write own; // the holder itself may write its key again
  own.claim_keys = true;
  own.orders.push_back(make("a", order_status::waiting, "key-1"));
  auto r = store->commit({&taken, &free, &own});
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.conflicts == std::vector<std::size_t>{0});
  CHECK(r.for_write(0).conflict);
  CHECK_FALSE(r.for_write(1).conflict);
  CHECK_FALSE(store->get("b").has_value());
  CHECK(store->find_by_idempotency_key("key-1")->id == "a");
  CHECK(store->get("a")->status == order_status::waiting);
  CHECK(store->find_by_idempotency_key("key-2")->id == "c");
}

TEMPLATE_TEST_CASE("store: a status change from a status that is no longer there is not applied",
                   "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  REQUIRE(put_order(*store, make("a", order_status::waiting)).ok);
  auto change = [](order_status from, order_status to, const std::string& entry_id) {
    store_write w;
    w.expect_status = from;
    w.orders.push_back(make("a", to));
    w.outbox.push_back(entry(entry_id, "a", outbox_state::pending, 1));
    return w;
  };
  // Two changes made from the same read: the first wins, the second (and its
  // outbox entry) is not applied.
  auto first = change(order_status::waiting, order_status::preparation, "n1");
  auto second = change(order_status::waiting, order_status::canceled, "n2");
  auto r = store->commit({&first, &second});
  INFO(r.error);
  REQUIRE(r.ok);
  CHECK(r.conflicts == std::vector<std::size_t>{1});
  CHECK(store->get("a")->status == order_status::preparation);
  CHECK(store->outbox_get("n1").has_value());
  CHECK_FALSE(store->outbox_get("n2").has_value());
  // An unknown order never matches an expected status.
  store_write ghost;
  ghost.expect_status = order_status::waiting;
  ghost.orders.push_back(make("ghost", order_status::preparation));
  CHECK(store->commit({&ghost}).for_write(0).conflict);
  CHECK_FALSE(store->get("ghost").has_value());
}

TEMPLATE_TEST_CASE("store: concurrent readers and a writer", "[store]", STORE_BACKENDS) {
  TestType backend;
  auto store = backend.open();
  constexpr int writes = 2000;
  std::atomic<bool> done{false};
  std::atomic<long> reads{0};
  std::atomic<bool> bad{false};

  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        auto page = store->list(std::nullopt, 50, std::nullopt);
        // Oldest first: o0, o1, ... in creation order, whatever the writer is doing.
        for (std::size_t i = 0; i < page.orders.size(); ++i)
          if (page.orders[i].id != "o" + std::to_string(i))
            bad = true;
        if (auto o = store->get("o0"); o && o->id != "o0")
          bad = true;
        store->find_by_idempotency_key("k0");
        ++reads;
      }
    });
  }
  // On a loaded machine the writer could finish before a reader is scheduled.
  while (reads.load() == 0)
    std::this_thread::yield();
  for (int i = 0; i < writes; ++i) {
    put_order(*store,
              make("o" + std::to_string(i), order_status::waiting, "k" + std::to_string(i)));
    put_order(*store, make("o" + std::to_string(i / 2), order_status::preparation,
                           "k" + std::to_string(i / 2)));
  }
  done = true;
  for (auto& t : readers)
    t.join();

  CHECK_FALSE(bad.load());
  CHECK(reads.load() > 0);
  CHECK(store->size() == writes);
  CHECK(store->find_by_idempotency_key("k1999")->id == "o1999");
  CHECK(store->list(order_status::preparation, 5000, std::nullopt).orders.size() == writes / 2);
}

// -- sqlite only ------------------------------------------------------------------

namespace {

/// A second, raw connection to a database file, as another process would have.
class raw_db {
public:
  explicit raw_db(const fs::path& path) {
    if (sqlite3_open(path.string().c_str(), &db_) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite3_open: ") + sqlite3_errmsg(db_));
  }
  raw_db(const raw_db&) = delete;
  raw_db& operator=(const raw_db&) = delete;
  ~raw_db() { sqlite3_close(db_); }

  void exec(const std::string& sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
    const std::string text = message ? message : "";
    sqlite3_free(message);
    if (rc != SQLITE_OK)
      throw std::runtime_error(sql + ": " + text);
  }

  int64_t integer(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    int64_t value = -1;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW)
      value = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return value;
  }

private:
  sqlite3* db_ = nullptr;
};

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::unique_ptr<order_store> open_at(const fs::path& path, std::string& error,
                                     int busy_timeout_ms = 2000) {
  sqlite_options options;
  options.path = path.string();
  options.synchronous_full = false;
  options.busy_timeout_ms = busy_timeout_ms;
  return open_sqlite_store(options, error);
}

/// Opening `path` is refused with a message naming it and `reason`, and the
/// file is left exactly as it was.
void check_refused(const fs::path& path, const std::string& reason) {
  const std::string before = file_bytes(path);
  std::string error;
  auto store = open_at(path, error);
  CHECK_FALSE(store);
  INFO(error);
  CHECK(error.rfind(path.string() + ": ", 0) == 0);
  CHECK_THAT(error, Catch::Contains(reason));
  CHECK(file_bytes(path) == before);
  CHECK_FALSE(fs::exists(path.string() + "-wal"));
}

} // namespace

TEST_CASE("sqlite store: everything committed is there after a reopen", "[store][sqlite]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  std::string error;
  {
    auto store = open_at(path, error);
    REQUIRE(store);
    store_write w;
    w.orders = {make("a", order_status::waiting, "key-a"), make("b", order_status::ready)};
    w.outbox = {entry("n1", "a", outbox_state::pending, 100)};
    breaker_snapshot snap;
    snap.state = circuit_state::open;
    snap.open_until_ms = 5000;
    w.breakers = {{service_kind::notification, snap}};
    REQUIRE(store->commit({&w}).ok);
  }
  auto store = open_at(path, error);
  INFO(error);
  REQUIRE(store);
  CHECK(store->size() == 2);
  CHECK(store->find_by_idempotency_key("key-a")->id == "a");
  CHECK(ids_of(store->list(std::nullopt, 10, std::nullopt)) == ids{"a", "b"});
  CHECK(store->outbox_get("n1")->state == outbox_state::pending);
  CHECK(store->breaker(service_kind::notification)->open_until_ms == std::optional<int64_t>(5000));
  // Creation order continues across the restart.
  REQUIRE(put_order(*store, make("0-sorts-first")).ok);
  CHECK(ids_of(store->list(std::nullopt, 10, std::nullopt)) == ids{"a", "b", "0-sorts-first"});

  raw_db raw(path);
  CHECK(raw.integer("PRAGMA application_id") == sqlite_application_id);
  CHECK(raw.integer("PRAGMA user_version") == sqlite_schema_version);
}

TEST_CASE("sqlite store: a new or empty file gets the latest schema", "[store][sqlite]") {
  temp_dir dir;
  const auto path = dir / "empty.db";
  std::ofstream(path).close();
  REQUIRE(fs::file_size(path) == 0);
  std::string error;
  auto store = open_at(path, error);
  INFO(error);
  REQUIRE(store);
  REQUIRE(put_order(*store, make("a")).ok);
  raw_db raw(path);
  CHECK(raw.integer("PRAGMA user_version") == sqlite_schema_version);
  CHECK(raw.integer("PRAGMA application_id") == sqlite_application_id);
}

TEST_CASE("sqlite store: a v1 database is migrated, keeping its orders", "[store][sqlite]") {
  // tests/unit/fixtures/store-v1.db: schema v1 (orders only) with two orders
  // whose notifications have no ids, written with the sqlite3 CLI. Copied:
  // opening migrates it.
  temp_dir dir;
  const auto path = dir / "store-v1.db";
  fs::copy_file(fs::path(COFFEESHOP_TEST_FIXTURES) / "store-v1.db", path);
  {
    raw_db raw(path);
    REQUIRE(raw.integer("PRAGMA user_version") == 1);
  }
  std::string error;
  auto store = open_at(path, error);
  INFO(error);
  REQUIRE(store);
  {
    raw_db raw(path);
    CHECK(raw.integer("PRAGMA user_version") == sqlite_schema_version);
    CHECK(raw.integer("PRAGMA application_id") == sqlite_application_id);
  }

  CHECK(store->size() == 2);
  CHECK(ids_of(store->list(std::nullopt, 10, std::nullopt)) == ids{"ord_v1_a", "ord_v1_b"});
  auto a = store->find_by_idempotency_key("key-v1-a");
  REQUIRE(a.has_value());
  CHECK(a->id == "ord_v1_a");
  CHECK(a->status == order_status::waiting);
  CHECK(a->total == 860);
  CHECK(a->payment.reference == std::optional<std::string>("pay_1"));
  CHECK(a->request_fingerprint == "fp-ord_v1_a");
  REQUIRE(a->notifications.size() == 1);
  CHECK(a->notifications[0].state == "sent");
  CHECK(a->notifications[0].id.empty());
  CHECK(a->trace_flags == "01"); // v3: orders from before it read as sampled
  CHECK(store->get("ord_v1_b")->status == order_status::pending_payment);

  // The tables v2 added work.
  store_write w;
  auto changed = *a;
  changed.status = order_status::preparation;
  changed.notifications.push_back({"preparation", "pending", 0, "ntf_1"});
  w.orders = {changed};
  w.outbox = {entry("ntf_1", "ord_v1_a", outbox_state::pending, 1)};
  w.breakers = {{service_kind::payment, breaker_snapshot{}}};
  REQUIRE(store->commit({&w}).ok);
  CHECK(store->outbox_count(outbox_state::pending).first == 1);
  CHECK(store->get("ord_v1_a")->notifications.at(1).id == "ntf_1");
  CHECK(store->breaker(service_kind::payment).has_value());
}

TEST_CASE("sqlite store: a v2 database gets the trace_flags column, its orders read as sampled",
          "[store][sqlite]") {
  temp_dir dir;
  const auto path = dir / "store-v2.db";
  std::string error;
  {
    auto store = open_at(path, error);
    REQUIRE(store);
    REQUIRE(put_order(*store, make("old", order_status::pending_payment, "key-old")).ok);
  }
  {
    // What schema version 2 looks like: the v3 column is not there yet.
    raw_db raw(path);
    raw.exec("ALTER TABLE orders DROP COLUMN trace_flags; PRAGMA user_version=2");
    REQUIRE(raw.integer("SELECT count(*) FROM pragma_table_info('orders')"
                        " WHERE name = 'trace_flags'") == 0);
  }
  auto store = open_at(path, error);
  INFO(error);
  REQUIRE(store);
  {
    raw_db raw(path);
    CHECK(raw.integer("PRAGMA user_version") == 3);
    CHECK(raw.integer("SELECT count(*) FROM pragma_table_info('orders')"
                      " WHERE name = 'trace_flags'") == 1);
  }
  auto old = store->find_by_idempotency_key("key-old");
  REQUIRE(old.has_value());
  CHECK(old->id == "old");
  CHECK(old->trace_flags == "01");
  auto unsampled = make("new");
  unsampled.trace_flags = "00";
  REQUIRE(put_order(*store, unsampled).ok);
  CHECK(store->get("new")->trace_flags == "00");
}

TEST_CASE("sqlite store: files that are not its database are refused, unchanged",
          "[store][sqlite]") {
  temp_dir dir;
  SECTION("another application's database") {
    const auto path = dir / "other.db";
    raw_db(path).exec("PRAGMA application_id=305419896; CREATE TABLE t (x); "
                      "INSERT INTO t VALUES (1)");
    check_refused(path, "not a coffeeshopd database (application_id 0x12345678");
  }
  SECTION("application_id 0 with tables in it") {
    const auto path = dir / "plain.db";
    raw_db(path).exec("CREATE TABLE orders (id TEXT); INSERT INTO orders VALUES ('x')");
    check_refused(path, "not a coffeeshopd database (application_id 0x00000000");
  }
  SECTION("a text file") {
    const auto path = dir / "notes.txt";
    std::ofstream(path) << "this is not a database, it is a shopping list\n";
    check_refused(path, "not an SQLite database");
  }
  SECTION("a newer schema") {
    const auto path = dir / "future.db";
    const auto newer = std::to_string(sqlite_schema_version + 1);
    raw_db(path).exec("PRAGMA application_id=" + std::to_string(sqlite_application_id) +
                      "; PRAGMA user_version=" + newer + "; CREATE TABLE orders (id TEXT)");
    check_refused(path, "schema version " + newer + " is newer than this coffeeshopd supports (" +
                          std::to_string(sqlite_schema_version) + ")");
  }
  SECTION("a path that cannot be opened") {
    std::string error;
    auto store = open_at(dir / "missing-dir" / "store.db", error);
    CHECK_FALSE(store);
    CHECK_THAT(error, Catch::Contains("missing-dir/store.db: cannot open"));
  }
}

TEST_CASE("sqlite store: a commit against a held write lock fails, the next succeeds",
          "[store][sqlite]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  std::string error;
  auto store = open_at(path, error, 50);
  REQUIRE(store);
  REQUIRE(put_order(*store, make("a")).ok);

  raw_db other(path);
  other.exec("BEGIN EXCLUSIVE");
  const auto started = std::chrono::steady_clock::now();
  auto result = put_order(*store, make("b"));
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK_FALSE(result.ok);
  CHECK_THAT(result.error, Catch::StartsWith("begin: ") && Catch::Contains("locked"));
  CHECK(waited < std::chrono::seconds(2));
  // Reads are not blocked by the writer holding its lock (WAL).
  CHECK(store->get("a").has_value());
  CHECK_FALSE(store->get("b").has_value());

  other.exec("COMMIT");
  auto retry = put_order(*store, make("b"));
  INFO(retry.error);
  CHECK(retry.ok);
  CHECK(store->size() == 2);
}

TEST_CASE("sqlite store: a write failing mid-batch leaves nothing of the batch",
          "[store][sqlite]") {
  temp_dir dir;
  const auto path = dir / "store.db";
  std::string error;
  auto store = open_at(path, error);
  REQUIRE(store);
  // Another connection makes one outbox insert fail, as a full disk would.
  raw_db(path).exec("CREATE TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.id = 'boom' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by test'); END");

  store_write first;
  first.orders = {make("a", order_status::waiting, "key-a")};
  store_write second;
  second.outbox = {entry("n1", "a", outbox_state::pending, 1),
                   entry("boom", "a", outbox_state::pending, 2)};
  auto result = store->commit({&first, &second});
  CHECK_FALSE(result.ok);
  CHECK(result.error == "put outbox entry boom: refused by test");
  CHECK(store->size() == 0);
  CHECK_FALSE(store->find_by_idempotency_key("key-a").has_value());
  CHECK_FALSE(store->outbox_get("n1").has_value());

  second.outbox.pop_back();
  auto retry = store->commit({&first, &second});
  INFO(retry.error);
  CHECK(retry.ok);
  CHECK(store->size() == 1);
  CHECK(store->outbox_get("n1").has_value());
}

TEST_CASE("sqlite store: committed pages reach the database file without a commit copying them",
          "[store][sqlite]") {
  // Automatic checkpoints are off on the write connection; a background
  // checkpointer copies the WAL into the database file once it holds 1000
  // pages. Without it the file would stay at its first few pages for ever
  // and the WAL would grow without bound.
  temp_dir dir;
  const auto path = dir / "store.db";
  std::string error;
  auto store = open_at(path, error);
  REQUIRE(store);
  const auto initial = fs::file_size(path);
  constexpr int orders_per_batch = 50;
  constexpr int batches = 60;
  const std::string padding(2000, 'x'); // ~3000 orders of ~2 KB: over 1000 pages
  for (int b = 0; b < batches; ++b) {
    store_write w;
    for (int i = 0; i < orders_per_batch; ++i) {
      auto o = make("o" + std::to_string(b * orders_per_batch + i));
      o.payment.reference = padding;
      w.orders.push_back(std::move(o));
    }
    REQUIRE(store->commit({&w}).ok);
  }
  const auto wanted = initial + 1000 * 4096 / 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::file_size(path) < wanted && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  INFO("database file " << initial << " -> " << fs::file_size(path) << " bytes");
  CHECK(fs::file_size(path) >= wanted);
  CHECK(store->size() == static_cast<std::size_t>(orders_per_batch * batches));
  CHECK(store->get("o2999")->payment.reference == padding);
}
