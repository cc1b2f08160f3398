#include "coffeeshop/domain/order_store.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <limits>
#include <thread>

using namespace coffeeshop;

namespace {

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

std::vector<std::string> ids_of(const order_page& page) {
  std::vector<std::string> ids;
  for (const auto& o : page.orders)
    ids.push_back(o.id);
  return ids;
}

using ids = std::vector<std::string>;

} // namespace

TEST_CASE("store: put and get", "[store]") {
  auto store = make_memory_order_store();
  CHECK(store->size() == 0);
  CHECK_FALSE(store->get("a").has_value());
  put_order(*store, make("a"));
  put_order(*store, make("b", order_status::ready));
  CHECK(store->size() == 2);
  auto b = store->get("b");
  REQUIRE(b.has_value());
  CHECK(b->id == "b");
  CHECK(b->status == order_status::ready);
  CHECK(b->items.size() == 1);
  CHECK_FALSE(store->get("c").has_value());
}

TEST_CASE("store: replacing keeps creation position", "[store]") {
  auto store = make_memory_order_store();
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
  // The id index still works after the replacement (it holds views into the order).
  put_order(*store, make("a", order_status::ready));
  CHECK(store->get("a")->status == order_status::ready);
  CHECK(store->list(order_status::preparation, 10, std::nullopt).orders.empty());
}

TEST_CASE("store: idempotency lookup", "[store]") {
  auto store = make_memory_order_store();
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

  // The first order created with a key keeps it.
  put_order(*store, make("c", order_status::waiting, "key-1"));
  CHECK(store->find_by_idempotency_key("key-1")->id == "a");

  // A key removed from an order is no longer found.
  put_order(*store, make("b"));
  CHECK_FALSE(store->find_by_idempotency_key("key-2").has_value());
}

TEST_CASE("store: list pages with next", "[store]") {
  auto store = make_memory_order_store();
  for (int i = 0; i < 7; ++i)
    put_order(*store, make("o" + std::to_string(i), i % 2 ? order_status::ready : order_status::waiting));

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
  }
  SECTION("limit 0 and a huge limit") {
    CHECK(store->list(std::nullopt, 0, std::nullopt).orders.empty());
    auto all = store->list(std::nullopt, std::numeric_limits<std::size_t>::max(), std::string("o0"));
    CHECK(all.orders.size() == 6);
    CHECK_FALSE(all.next.has_value());
  }
}

TEST_CASE("store: concurrent readers and a writer", "[store]") {
  auto store = make_memory_order_store();
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
  for (int i = 0; i < writes; ++i) {
    put_order(*store, make("o" + std::to_string(i), order_status::waiting, "k" + std::to_string(i)));
    put_order(*store, make("o" + std::to_string(i / 2), order_status::preparation, "k" + std::to_string(i / 2)));
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
