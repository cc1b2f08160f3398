#pragma once

#include <atomic>

namespace coffeeshop {

/// A bulkhead for threads: at most `limit` holders at once. A pass that was
/// admitted leaves the gate when it is destroyed, whatever path the holder
/// takes out, so the count cannot leak.
class bounded_gate {
public:
  explicit bounded_gate(int limit) : limit_(limit) {}
  bounded_gate(const bounded_gate&) = delete;
  bounded_gate& operator=(const bounded_gate&) = delete;

  class pass {
  public:
    pass(pass&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    pass& operator=(pass&&) = delete;
    ~pass() {
      if (gate_)
        gate_->inside_.fetch_sub(1);
    }

    /// False when the gate was full: the holder must not do the guarded work.
    bool admitted() const { return gate_ != nullptr; }

  private:
    friend class bounded_gate;
    explicit pass(bounded_gate* gate) : gate_(gate) {}
    bounded_gate* gate_;
  };

  /// Enters when fewer than `limit` are inside; otherwise a pass that was not admitted.
  pass try_enter() {
    if (inside_.fetch_add(1) < limit_)
      return pass{this};
    inside_.fetch_sub(1);
    return pass{nullptr};
  }

  /// Holders inside now.
  int inside() const { return inside_.load(); }

private:
  const int limit_;
  std::atomic<int> inside_{0};
};

} // namespace coffeeshop
