#include "coffeeshop/domain/order_store.hpp"

#include <algorithm>
#include <array>
#include <deque>
#include <limits>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>

namespace coffeeshop {

namespace {

constexpr std::size_t status_count = static_cast<std::size_t>(order_status::canceled) + 1;

std::size_t status_index(order_status s) { return static_cast<std::size_t>(s); }

/// Orders in a deque (creation order; push_back never moves an element), with
/// hash indexes whose keys are views into the stored orders, so that an id or
/// an Idempotency-Key is held once. Per-status position sets make a filtered
/// page cost O(log n + limit) instead of a scan over every other order.
///
/// Orders are never removed, so a position is a stable handle.
class memory_order_store final : public order_store {
public:
  commit_result commit(const std::vector<const store_write*>& batch) override {
    std::unique_lock lock(mutex_);
    commit_result result;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const store_write* w = batch[i];
      if (!holds_locked(*w)) {
        result.conflicts.push_back(i);
        continue;
      }
      for (const auto& o : w->orders)
        put_locked(o);
      for (const auto& e : w->outbox)
        put_entry_locked(e);
      for (const auto& [service, snap] : w->breakers)
        breakers_[service == service_kind::payment ? 0 : 1] = snap;
    }
    return result;
  }

  std::optional<outbox_entry> outbox_get(const std::string& id) const override {
    std::shared_lock lock(mutex_);
    auto found = entry_by_id_.find(id);
    if (found == entry_by_id_.end())
      return std::nullopt;
    return entries_[found->second];
  }

  std::vector<outbox_entry> outbox_list(const std::optional<outbox_state>& state,
                                        std::size_t limit) const override {
    std::vector<outbox_entry> out;
    std::shared_lock lock(mutex_);
    for (const auto& e : entries_) {
      if (out.size() >= limit)
        break;
      if (!state || e.state == *state)
        out.push_back(e);
    }
    return out;
  }

  std::pair<std::size_t, std::optional<int64_t>> outbox_count(outbox_state state) const override {
    std::shared_lock lock(mutex_);
    std::size_t n = 0;
    std::optional<int64_t> oldest;
    for (const auto& e : entries_)
      if (e.state == state) {
        ++n;
        if (!oldest || e.created_at_ms < *oldest)
          oldest = e.created_at_ms;
      }
    return {n, oldest};
  }

  std::optional<breaker_snapshot> breaker(service_kind service) const override {
    std::shared_lock lock(mutex_);
    return breakers_[service == service_kind::payment ? 0 : 1];
  }

private:
  bool holds_locked(const store_write& w) const {
    std::optional<order_status> stored;
    if (!w.orders.empty())
      if (auto found = by_id_.find(w.orders.front().id); found != by_id_.end())
        stored = orders_[found->second].status;
    return conditions_hold(w, stored, [&](const std::string& key) -> std::optional<std::string> {
      auto k = by_key_.find(key);
      if (k == by_key_.end())
        return std::nullopt;
      return orders_[k->second].id;
    });
  }

  void put_entry_locked(const outbox_entry& e) {
    auto found = entry_by_id_.find(e.id);
    if (found != entry_by_id_.end()) {
      entries_[found->second] = e;
      return;
    }
    entry_by_id_.emplace(e.id, entries_.size());
    entries_.push_back(e);
  }

  void put_locked(const order& o) {
    // Copy before touching any index: if the copy throws, nothing has changed.
    order copy = o;
    auto found = by_id_.find(copy.id);
    if (found == by_id_.end()) {
      const std::size_t pos = orders_.size();
      order& slot = orders_.emplace_back(std::move(copy));
      by_id_.emplace(slot.id, pos);
      // First writer keeps a key: the order created with it is the one to replay.
      if (slot.idempotency_key)
        by_key_.emplace(*slot.idempotency_key, pos);
      by_status_[status_index(slot.status)].insert(by_status_[status_index(slot.status)].end(),
                                                   pos);
      return;
    }

    // Replace in place: same position, so listings keep creation order. The
    // index nodes viewing the old strings are detached first and re-pointed at
    // the new ones afterwards (node handles: no reallocation).
    const std::size_t pos = found->second;
    order& slot = orders_[pos];
    auto id_node = by_id_.extract(found);
    decltype(by_key_)::node_type key_node;
    if (slot.idempotency_key) {
      auto k = by_key_.find(*slot.idempotency_key);
      if (k != by_key_.end() && k->second == pos)
        key_node = by_key_.extract(k);
    }
    if (slot.status != copy.status) {
      by_status_[status_index(slot.status)].erase(pos);
      by_status_[status_index(copy.status)].insert(pos);
    }

    slot = std::move(copy);

    id_node.key() = slot.id;
    by_id_.insert(std::move(id_node));
    if (slot.idempotency_key) {
      if (key_node) {
        key_node.key() = *slot.idempotency_key;
        by_key_.insert(std::move(key_node));
      } else {
        by_key_.emplace(*slot.idempotency_key, pos);
      }
    }
  }

public:
  std::optional<order> get(const std::string& id) const override {
    std::shared_lock lock(mutex_);
    auto found = by_id_.find(id);
    if (found == by_id_.end())
      return std::nullopt;
    return orders_[found->second];
  }

  std::optional<order> find_by_idempotency_key(const std::string& key) const override {
    std::shared_lock lock(mutex_);
    auto found = by_key_.find(key);
    if (found == by_key_.end())
      return std::nullopt;
    return orders_[found->second];
  }

  /// An `after` id that is not stored yields an empty page rather than the
  /// first page: a stale or mistyped cursor must not silently restart the
  /// listing and make a client re-process orders it has already seen.
  order_page list(const std::optional<order_status>& status, std::size_t limit,
                  const std::optional<std::string>& after) const override {
    order_page page;
    std::shared_lock lock(mutex_);
    std::size_t start = 0;
    if (after) {
      auto found = by_id_.find(*after);
      if (found == by_id_.end())
        return page;
      start = found->second + 1;
    }
    if (limit == 0)
      return page;

    if (!status) {
      const std::size_t remaining = orders_.size() - start;
      const std::size_t end = limit >= remaining ? orders_.size() : start + limit;
      page.orders.reserve(end - start);
      for (std::size_t i = start; i < end; ++i)
        page.orders.push_back(orders_[i]);
      if (end < orders_.size() && !page.orders.empty())
        page.next = page.orders.back().id;
      return page;
    }

    const auto& positions = by_status_[status_index(*status)];
    auto it = positions.lower_bound(start);
    for (; it != positions.end() && page.orders.size() < limit; ++it)
      page.orders.push_back(orders_[*it]);
    if (it != positions.end() && !page.orders.empty())
      page.next = page.orders.back().id;
    return page;
  }

  std::size_t size() const override {
    std::shared_lock lock(mutex_);
    return orders_.size();
  }

private:
  mutable std::shared_mutex mutex_;
  std::deque<order> orders_;
  std::unordered_map<std::string_view, std::size_t> by_id_;  // views into orders_[i].id
  std::unordered_map<std::string_view, std::size_t> by_key_; // views into idempotency keys
  std::array<std::set<std::size_t>, status_count> by_status_;
  std::deque<outbox_entry> entries_; // creation order
  std::unordered_map<std::string, std::size_t> entry_by_id_;
  std::array<std::optional<breaker_snapshot>, 2> breakers_;
};

} // namespace

const char* to_string(outbox_state s) {
  switch (s) {
    case outbox_state::pending: return "pending";
    case outbox_state::sent: return "sent";
    case outbox_state::failed: return "failed";
  }
  return "pending";
}

std::optional<outbox_state> parse_outbox_state(std::string_view name) {
  for (auto s : {outbox_state::pending, outbox_state::sent, outbox_state::failed})
    if (name == to_string(s))
      return s;
  return std::nullopt;
}

commit_result commit_result::for_write(std::size_t index) const {
  commit_result one;
  one.ok = ok;
  one.error = error;
  one.conflict = std::find(conflicts.begin(), conflicts.end(), index) != conflicts.end();
  one.leased = std::find(unleased.begin(), unleased.end(), index) == unleased.end();
  return one;
}

std::vector<outbox_entry> order_store::outbox_pending_for(const std::string& order_id) const {
  std::vector<outbox_entry> out;
  for (auto& e : outbox_list(outbox_state::pending, std::numeric_limits<std::size_t>::max()))
    if (e.order_id == order_id)
      out.push_back(std::move(e));
  return out;
}

commit_result put_order(order_store& store, const order& o) {
  store_write w;
  w.orders.push_back(o);
  return store.commit({&w}).for_write(0);
}

std::unique_ptr<order_store> make_memory_order_store() {
  return std::make_unique<memory_order_store>();
}

} // namespace coffeeshop
