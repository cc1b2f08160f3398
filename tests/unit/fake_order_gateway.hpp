#pragma once

// The one fake of coffeeshop::order_gateway for tests of the HTTP layer: it records every
// call with all its arguments and answers with whatever the test scripted. Server threads
// call it concurrently, so every member is guarded by one mutex; scripted replies run
// outside it, so a reply that blocks (hold()) does not block other calls or the test.

#include "coffeeshop/order_gateway.hpp"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop::testing {

class fake_order_gateway final : public order_gateway {
public:
  template <class Command>
  struct recorded {
    Command cmd;
    millis timeout;
  };

  struct circuit_call {
    service_kind service;
    circuit_action action;
    millis timeout;
  };

  using create_script =
    std::function<gateway_result<create_order_reply>(const create_order_command&)>;
  using status_script =
    std::function<gateway_result<change_status_reply>(const change_status_command&)>;
  using circuit_script =
    std::function<gateway_result<integration_view>(service_kind, circuit_action)>;
  using crash_script = std::function<bool(std::string_view)>;
  using requeue_script = std::function<gateway_result<requeue_reply>(const std::string&)>;

  // -- scripting ----------------------------------------------------------------------

  void on_create(create_script s) { set(create_, std::move(s)); }
  void on_change_status(status_script s) { set(status_, std::move(s)); }
  void on_circuit(circuit_script s) { set(circuit_, std::move(s)); }
  void on_crash(crash_script s) { set(crash_, std::move(s)); }
  void on_requeue(requeue_script s) { set(requeue_, std::move(s)); }

  /// Every create answers `reply`.
  void reply_create(create_order_reply reply) {
    on_create([reply](const create_order_command&) {
      return gateway_result<create_order_reply>::ok(reply);
    });
  }

  /// Every status change answers `reply`.
  void reply_change_status(change_status_reply reply) {
    on_change_status([reply](const change_status_command&) {
      return gateway_result<change_status_reply>::ok(reply);
    });
  }

  /// Every call that can fail answers "no reply" with `why`, as a gateway whose
  /// machinery timed out or is restarting does.
  void fail_all(const std::string& why) {
    on_create([why](const create_order_command&) {
      return gateway_result<create_order_reply>::failed(why);
    });
    on_change_status([why](const change_status_command&) {
      return gateway_result<change_status_reply>::failed(why);
    });
    on_circuit([why](service_kind, circuit_action) {
      return gateway_result<integration_view>::failed(why);
    });
  }

  // -- holding calls ------------------------------------------------------------------

  /// Makes scripts that call wait_while_held() block until release().
  void hold() {
    std::lock_guard lock{mtx_};
    held_ = true;
  }

  /// Lets every held call go on; later ones pass at once. Teardown calls it so a failed
  /// test cannot leave a server thread (and the server's stop()) waiting forever.
  void release() {
    {
      std::lock_guard lock{mtx_};
      held_ = false;
    }
    changed_.notify_all();
  }

  /// For scripts: blocks while the fake is held.
  void wait_while_held() {
    std::unique_lock lock{mtx_};
    changed_.wait(lock, [this] { return !held_; });
  }

  /// Waits until at least `n` creates arrived; false when `limit` passed first.
  bool wait_for_creates(std::size_t n, std::chrono::milliseconds limit = std::chrono::seconds{5}) {
    std::unique_lock lock{mtx_};
    return changed_.wait_for(lock, limit, [&] { return creates_.size() >= n; });
  }

  // -- what was received --------------------------------------------------------------

  std::vector<recorded<create_order_command>> creates() const { return copy(creates_); }
  std::vector<recorded<change_status_command>> status_changes() const { return copy(statuses_); }
  std::vector<circuit_call> circuits() const { return copy(circuits_); }
  std::vector<std::string> crashes() const { return copy(crashes_); }
  std::vector<std::string> requeues() const { return copy(requeues_); }

  /// Calls of any kind, for "this request never reached the gateway".
  std::size_t total_calls() const {
    std::lock_guard lock{mtx_};
    return creates_.size() + statuses_.size() + circuits_.size() + crashes_.size() +
           requeues_.size();
  }

  // -- order_gateway ------------------------------------------------------------------

  gateway_result<create_order_reply> create_order(create_order_command cmd,
                                                  millis timeout) override {
    auto script = record(creates_, {cmd, timeout}, create_);
    return script(cmd);
  }

  gateway_result<change_status_reply> change_status(change_status_command cmd,
                                                    millis timeout) override {
    auto script = record(statuses_, {cmd, timeout}, status_);
    return script(cmd);
  }

  gateway_result<integration_view> circuit(service_kind service, circuit_action action,
                                           millis timeout) override {
    auto script = record(circuits_, {service, action, timeout}, circuit_);
    return script(service, action);
  }

  bool crash(std::string_view actor) override {
    auto script = record(crashes_, std::string{actor}, crash_);
    return script(actor);
  }

  gateway_result<requeue_reply> requeue_notification(std::string entry_id, millis) override {
    auto script = record(requeues_, entry_id, requeue_);
    return script(entry_id);
  }

private:
  template <class Script>
  void set(Script& slot, Script s) {
    std::lock_guard lock{mtx_};
    slot = std::move(s);
  }

  template <class T>
  std::vector<T> copy(const std::vector<T>& v) const {
    std::lock_guard lock{mtx_};
    return v;
  }

  /// Appends the call, wakes wait_for_creates() and hands out the script to run unlocked.
  template <class T, class Script>
  Script record(std::vector<T>& log, T call, const Script& script) {
    Script out;
    {
      std::lock_guard lock{mtx_};
      log.push_back(std::move(call));
      out = script;
    }
    changed_.notify_all();
    return out;
  }

  mutable std::mutex mtx_;
  std::condition_variable changed_;
  bool held_ = false;

  std::vector<recorded<create_order_command>> creates_;
  std::vector<recorded<change_status_command>> statuses_;
  std::vector<circuit_call> circuits_;
  std::vector<std::string> crashes_;
  std::vector<std::string> requeues_;

  // Unscripted calls answer "no reply", so a test that forgot a script fails loudly
  // with a 503 instead of passing on some default.
  create_script create_ = [](const create_order_command&) {
    return gateway_result<create_order_reply>::failed("fake: create_order not scripted");
  };
  status_script status_ = [](const change_status_command&) {
    return gateway_result<change_status_reply>::failed("fake: change_status not scripted");
  };
  circuit_script circuit_ = [](service_kind, circuit_action) {
    return gateway_result<integration_view>::failed("fake: circuit not scripted");
  };
  crash_script crash_ = [](std::string_view) { return false; };
  requeue_script requeue_ = [](const std::string&) {
    return gateway_result<requeue_reply>::failed("fake: requeue_notification not scripted");
  };
};

} // namespace coffeeshop::testing
