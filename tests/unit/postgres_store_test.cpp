// The PostgreSQL store beyond the conformance suite: URL redaction, schema
// identity and migration, and connections the server drops. Cases that need
// the server carry the [pg-server] tag (see pg_test_db.hpp).

#include "coffeeshop/store/postgres_store.hpp"

#include "coffeeshop/util/clock.hpp"

#include "pg_test_db.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <thread>
#include <vector>

using namespace coffeeshop;
using coffeeshop::testing::pg_test_schema;

namespace {

order make(const std::string& id, std::optional<std::string> key = std::nullopt) {
  order o;
  o.id = id;
  o.status = order_status::waiting;
  o.idempotency_key = std::move(key);
  o.customer_email = "ana@example.com";
  o.items = {{"Latte", "Vanilla", 1, 430, 430}};
  o.total = 430;
  return o;
}

std::unique_ptr<order_store> open_at(const std::string& url, std::string& error) {
  postgres_options options;
  options.url = url;
  options.pool_size = 2;
  return open_postgres_store(options, error);
}

} // namespace

TEST_CASE("postgres store: redact_db_url hides every password") {
  CHECK(redact_db_url("postgresql://app:s3cret@db:5432/shop") ==
        "postgresql://app:***@db:5432/shop");
  CHECK(redact_db_url("postgres://app:p%40ss@db/shop?sslmode=require") ==
        "postgres://app:***@db/shop?sslmode=require");
  CHECK(redact_db_url("postgresql://app@db/shop?password=s3cret&sslmode=require") ==
        "postgresql://app@db/shop?password=***&sslmode=require");
  CHECK(redact_db_url("postgresql:///shop?host=/run/postgresql&password=x") ==
        "postgresql:///shop?host=/run/postgresql&password=***");
  // Nothing to hide: unchanged, including an '@' or ':' after the authority.
  CHECK(redact_db_url("postgresql://app@db:5432/shop") == "postgresql://app@db:5432/shop");
  CHECK(redact_db_url("postgresql://db/shop?application_name=a:b@c") ==
        "postgresql://db/shop?application_name=a:b@c");
  CHECK(redact_db_url("postgresql://app:pa:ss@word@db/x") == "postgresql://app:***@db/x");
}

TEST_CASE("postgres store: an unreachable server is named without its password") {
  std::string error;
  auto store = open_at("postgresql://app:s3cret@/shop?host=/nonexistent-coffeeshop-dir&port=1",
                       error);
  CHECK_FALSE(store);
  INFO(error);
  CHECK(error.rfind("postgresql://app:***@/shop?host=/nonexistent-coffeeshop-dir&port=1: ", 0) ==
        0);
  CHECK_THAT(error, Catch::Contains("cannot connect"));
  CHECK(error.find("s3cret") == std::string::npos);
}

TEST_CASE("postgres store: committed data is seen by a second store on the database",
          "[pg-server]") {
  pg_test_schema schema;
  std::string error;
  auto a = open_at(schema.url(), error);
  INFO(error);
  REQUIRE(a);
  REQUIRE(put_order(*a, make("o1", std::string("k1"))).ok);
  auto b = open_at(schema.url(), error); // the schema exists now: no migration
  REQUIRE(b);
  REQUIRE(b->get("o1").has_value());
  CHECK(b->find_by_idempotency_key("k1")->id == "o1");
  REQUIRE(put_order(*b, make("o2")).ok);
  CHECK(a->size() == 2);
}

TEST_CASE("postgres store: daemons starting together migrate once", "[pg-server]") {
  pg_test_schema schema;
  std::vector<std::unique_ptr<order_store>> stores(4);
  std::vector<std::string> errors(stores.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < stores.size(); ++i)
    threads.emplace_back([&, i] { stores[i] = open_at(schema.url(), errors[i]); });
  for (auto& t : threads)
    t.join();
  for (std::size_t i = 0; i < stores.size(); ++i) {
    INFO(errors[i]);
    CHECK(stores[i]);
  }
  REQUIRE(put_order(*stores[0], make("o1")).ok);
  CHECK(stores[3]->get("o1").has_value());
}

TEST_CASE("postgres store: a schema that is not coffeeshopd's is refused, unchanged",
          "[pg-server]") {
  pg_test_schema schema;
  std::string error;
  SECTION("another application's tables") {
    schema.exec("CREATE TABLE customers (id int); INSERT INTO customers VALUES (7)");
    CHECK_FALSE(open_at(schema.url(), error));
    CHECK_THAT(error, Catch::Contains("not a coffeeshopd database (schema " + schema.name() +
                                      " holds 1 tables and no coffeeshop_schema)"));
    // Still exactly what it was: one table, one row, nothing of ours.
    schema.exec("DO $$ BEGIN IF (SELECT count(*) FROM customers) <> 1 OR "
                "to_regclass('orders') IS NOT NULL THEN RAISE 'changed'; END IF; END $$");
  }
  SECTION("a coffeeshop_schema naming another application") {
    schema.exec("CREATE TABLE coffeeshop_schema (application text, version int);"
                "INSERT INTO coffeeshop_schema VALUES ('teashop', 1)");
    CHECK_FALSE(open_at(schema.url(), error));
    CHECK_THAT(error, Catch::Contains("is not a coffeeshopd database"));
  }
  SECTION("a newer schema") {
    {
      auto store = open_at(schema.url(), error);
      REQUIRE(store);
    }
    schema.exec("UPDATE coffeeshop_schema SET version = " +
                std::to_string(postgres_schema_version + 1));
    CHECK_FALSE(open_at(schema.url(), error));
    CHECK_THAT(error, Catch::Contains("database schema version " +
                                      std::to_string(postgres_schema_version + 1) +
                                      " is newer than this coffeeshopd supports"));
  }
  CHECK(error.rfind(redact_db_url(schema.url()) + ": ", 0) == 0);
}

TEST_CASE("postgres store: connections the server dropped are made again", "[pg-server]") {
  pg_test_schema schema;
  // Its own application_name, so that only this store's connections are dropped.
  const std::string url = schema.url() + "&application_name=" + schema.name();
  std::string error;
  auto store = open_at(url, error);
  INFO(error);
  REQUIRE(store);
  REQUIRE(put_order(*store, make("o1")).ok);
  schema.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
              schema.name() + "'");
  // A read on a dead connection is made again on a new one: the order is not
  // answered as absent (an HTTP 404) just because the server dropped it.
  CHECK(store->get("o1").has_value());
  CHECK(store->size() == 1);
  // The writer's first commit on its dead connection fails (and is reported);
  // the next is made on a new one.
  put_order(*store, make("o2"));
  CHECK(put_order(*store, make("o3")).ok);
  CHECK(store->get("o1").has_value());
  CHECK(store->get("o3").has_value());
}

TEST_CASE("postgres store: two daemons racing on one key or one status change, one wins",
          "[pg-server]") {
  pg_test_schema schema;
  std::string error;
  auto a = open_at(schema.url(), error);
  auto b = open_at(schema.url(), error);
  INFO(error);
  REQUIRE((a && b));
  // Repeated: the interleaving differs from round to round.
  for (int round = 0; round < 20; ++round) {
    const std::string n = std::to_string(round);
    store_write wa;
    wa.claim_keys = true;
    wa.orders.push_back(make("a" + n, "key-" + n));
    store_write wb;
    wb.claim_keys = true;
    wb.orders.push_back(make("b" + n, "key-" + n));
    commit_result ra, rb;
    std::thread ta([&] { ra = a->commit({&wa}).for_write(0); });
    std::thread tb([&] { rb = b->commit({&wb}).for_write(0); });
    ta.join();
    tb.join();
    INFO(ra.error << " / " << rb.error);
    REQUIRE((ra.ok && rb.ok));
    CHECK(ra.conflict != rb.conflict);
    const auto owner = a->find_by_idempotency_key("key-" + n);
    REQUIRE(owner.has_value());
    CHECK(owner->id == (ra.conflict ? "b" + n : "a" + n));
    CHECK(a->get(ra.conflict ? "a" + n : "b" + n).has_value() == false);

    // Both move the winner's order on from `waiting`: one change lands.
    store_write ca;
    ca.expect_status = order_status::waiting;
    auto moved = *owner;
    moved.status = order_status::preparation;
    ca.orders.push_back(moved);
    store_write cb = ca;
    cb.orders.front().status = order_status::canceled;
    std::thread tc([&] { ra = a->commit({&ca}).for_write(0); });
    std::thread td([&] { rb = b->commit({&cb}).for_write(0); });
    tc.join();
    td.join();
    REQUIRE((ra.ok && rb.ok));
    CHECK(ra.conflict != rb.conflict);
    CHECK(a->get(owner->id)->status ==
          (ra.conflict ? order_status::canceled : order_status::preparation));
  }
}

TEST_CASE("postgres store: a version 1 schema is migrated, keeping its orders", "[pg-server]") {
  pg_test_schema schema;
  std::string error;
  {
    auto store = open_at(schema.url(), error);
    REQUIRE(store);
    REQUIRE(put_order(*store, make("o1", std::string("k1"))).ok);
  }
  // What a version 1 database looks like: no instances table, no leases, no trace flags yet.
  schema.exec("DROP TABLE instances; DROP TABLE work_leases;"
              " ALTER TABLE orders DROP COLUMN trace_flags;"
              " UPDATE coffeeshop_schema SET version = 1");
  auto store = open_at(schema.url(), error);
  INFO(error);
  REQUIRE(store);
  CHECK(store->find_by_idempotency_key("k1")->id == "o1");
  CHECK(store->get("o1")->trace_flags == "01");
  schema.exec("DO $$ BEGIN IF (SELECT version FROM coffeeshop_schema) <> " +
              std::to_string(postgres_schema_version) +
              " OR to_regclass('instances') IS NULL OR to_regclass('work_leases') IS NULL"
              " THEN RAISE 'not migrated'; END IF; END $$");
}

TEST_CASE("postgres store: a version 3 schema gets the trace_flags column, its orders read as "
          "sampled",
          "[pg-server]") {
  pg_test_schema schema;
  std::string error;
  {
    auto store = open_at(schema.url(), error);
    REQUIRE(store);
    auto unsampled = make("o1", std::string("k1"));
    unsampled.status = order_status::pending_payment;
    unsampled.trace_flags = "00";
    REQUIRE(put_order(*store, unsampled).ok);
  }
  // Version 3: everything but the column (and so no flags kept for o1).
  schema.exec(
    "ALTER TABLE orders DROP COLUMN trace_flags; UPDATE coffeeshop_schema SET version = 3");
  auto store = open_at(schema.url(), error);
  INFO(error);
  REQUIRE(store);
  auto old = store->find_by_idempotency_key("k1");
  REQUIRE(old.has_value());
  CHECK(old->status == order_status::pending_payment);
  CHECK(old->trace_flags == "01");
  schema.exec("DO $$ BEGIN IF (SELECT version FROM coffeeshop_schema) <> 4 OR NOT EXISTS"
              " (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
              " AND table_name = 'orders' AND column_name = 'trace_flags')"
              " THEN RAISE 'not migrated'; END IF; END $$");
  auto unsampled = make("o2");
  unsampled.trace_flags = "00";
  REQUIRE(put_order(*store, unsampled).ok);
  CHECK(store->get("o2")->trace_flags == "00");
}

TEST_CASE("postgres store: heartbeats list the live daemons", "[pg-server]") {
  pg_test_schema schema;
  postgres_options options;
  options.url = schema.url();
  std::string error;
  REQUIRE(open_at(schema.url(), error)); // creates the schema
  auto a = open_postgres_instances(options, error);
  auto b = open_postgres_instances(options, error);
  INFO(error);
  REQUIRE((a && b));
  REQUIRE(a->heartbeat({"shop-a", "127.0.0.1:1", "0.1.0", 1000, 10'000}));
  REQUIRE(b->heartbeat({"shop-b", "127.0.0.1:2", "0.1.0", 2000, 12'000}));
  auto live = a->live(13'000, 5000);
  REQUIRE(live.size() == 2);
  CHECK(live[0].id == "shop-a");
  CHECK(live[0].address == "127.0.0.1:1");
  CHECK(live[0].started_at_ms == 1000);
  CHECK(live[1].heartbeat_at_ms == 12'000);
  // shop-a's beat is older than the lease at 15.5 s; a renewed beat brings it back.
  CHECK(b->live(15'500, 5000).size() == 1);
  REQUIRE(a->heartbeat({"shop-a", "127.0.0.1:1", "0.1.0", 1000, 15'000}));
  CHECK(b->live(15'500, 5000).size() == 2);
  b->leave("shop-b");
  live = a->live(15'500, 5000);
  REQUIRE(live.size() == 1);
  CHECK(live[0].id == "shop-a");
}

// -- leases on order work (CONTRACT §8) ------------------------------------------

namespace {

struct leased_daemon {
  std::unique_ptr<order_store> store;
  std::unique_ptr<work_leases> leases;
};

leased_daemon daemon_on(const pg_test_schema& schema, const std::string& id) {
  postgres_options options;
  options.url = schema.url();
  options.pool_size = 2;
  options.instance_id = id;
  options.lease_ms = 60000;
  std::string error;
  leased_daemon d;
  d.store = open_postgres_store(options, error);
  INFO(error);
  REQUIRE(d.store);
  d.leases = open_postgres_leases(options, error);
  INFO(error);
  REQUIRE(d.leases);
  return d;
}

/// Commits `o` with a lease change on it; the write's result.
commit_result write_leased(order_store& store, const order& o, store_write::lease_change c,
                           std::vector<outbox_entry> outbox = {}) {
  store_write w;
  w.orders.push_back(o);
  w.outbox = std::move(outbox);
  w.lease = c;
  w.lease_order = o.id;
  return store.commit({&w}).for_write(0);
}

/// shop-a and shop-b on one fresh schema.
struct two_daemons {
  pg_test_schema schema;
  leased_daemon a = daemon_on(schema, "shop-a");
  leased_daemon b = daemon_on(schema, "shop-b");
};

outbox_entry pending_entry(const std::string& id, const std::string& order_id,
                           const std::string& status) {
  outbox_entry e;
  e.id = id;
  e.order_id = order_id;
  e.status = status;
  e.created_at_ms = 1;
  return e;
}

} // namespace

TEST_CASE("postgres store: one daemon holds an order's work and another takes it only after the "
          "lease",
          "[pg-server]") {
  two_daemons shops;
  auto& a = shops.a;
  auto& b = shops.b;
  using change = store_write::lease_change;

  order o = make("ord_1");
  o.status = order_status::pending_payment;
  auto taken = write_leased(*a.store, o, change::take);
  REQUIRE(taken.ok);
  CHECK(taken.leased);
  CHECK(a.leases->held() == std::vector<std::string>{"ord_1"});

  // b adds a notification to it: committed, but the work stays with a.
  o.status = order_status::waiting;
  auto added = write_leased(*b.store, o, change::take, {pending_entry("ntf_1", "ord_1", "waiting")});
  REQUIRE(added.ok);
  CHECK_FALSE(added.leased);
  CHECK(b.leases->held().empty());
  // ... and b's claimer finds nothing to take while a's lease holds.
  const int64_t now = now_ms();
  CHECK(b.leases->claim(now, 10).empty());

  // a finishing the payment does not give the order up: the entry is work left.
  auto kept = write_leased(*a.store, o, change::give_back);
  REQUIRE(kept.ok);
  CHECK(kept.leased);

  // a stops renewing (it died): once the lease has passed, b claims it, once.
  CHECK(b.leases->claim(now + 30000, 10).empty());
  CHECK(b.leases->claim(now + 61000, 10) == std::vector<std::string>{"ord_1"});
  CHECK(b.leases->claim(now + 61000, 10).empty());
  CHECK(b.leases->held() == std::vector<std::string>{"ord_1"});
  CHECK(a.leases->held().empty());
  // Renewal keeps b's lease against a's claim at the same time.
  CHECK(b.leases->renew(now + 61000));
  CHECK(a.leases->claim(now + 62000, 10).empty());

  // The entry sent: nothing left, the lease is given back.
  outbox_entry sent = pending_entry("ntf_1", "ord_1", "waiting");
  sent.state = outbox_state::sent;
  auto done = write_leased(*b.store, o, change::give_back, {sent});
  REQUIRE(done.ok);
  CHECK_FALSE(done.leased);
  CHECK(b.leases->held().empty());
}

TEST_CASE("postgres store: work nobody holds is claimed by one daemon and a clean stop hands it on",
          "[pg-server]") {
  two_daemons shops;
  auto& a = shops.a;
  auto& b = shops.b;
  // Written without a lease (as a daemon of schema version 2 did).
  order o = make("ord_2");
  o.status = order_status::pending_payment;
  REQUIRE(put_order(*a.store, o).ok);
  store_write w;
  w.outbox.push_back(pending_entry("ntf_2", "ord_3", "preparation"));
  REQUIRE(a.store->commit({&w}).ok);

  const int64_t now = now_ms();
  auto claimed_a = a.leases->claim(now, 10);
  std::sort(claimed_a.begin(), claimed_a.end());
  CHECK(claimed_a == std::vector<std::string>{"ord_2", "ord_3"});
  CHECK(b.leases->claim(now, 10).empty());

  a.leases->give_up_all();
  CHECK(a.leases->held().empty());
  auto claimed_b = b.leases->claim(now, 1);
  CHECK(claimed_b.size() == 1);
  CHECK(b.leases->claim(now, 10).size() == 1);
  CHECK(b.leases->held().size() == 2);
}

TEST_CASE("postgres store: work another daemon could not take is announced to the others",
          "[pg-server]") {
  two_daemons shops;
  auto& a = shops.a;
  auto& b = shops.b;
  using change = store_write::lease_change;
  order o = make("ord_4");
  REQUIRE(write_leased(*a.store, o, change::take).leased);
  // a listens from its first wait on; nothing is announced yet.
  CHECK_FALSE(a.leases->wait_for_work(10));
  auto added = write_leased(*b.store, o, change::take, {pending_entry("ntf_4", "ord_4", "ready")});
  REQUIRE(added.ok);
  CHECK_FALSE(added.leased);
  CHECK(a.leases->wait_for_work(5000));
  // Each announcement is read once.
  CHECK_FALSE(a.leases->wait_for_work(10));
}
