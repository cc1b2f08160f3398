#pragma once

// The one seam between the HTTP layer and whatever runs orders behind it.
// Everything that changes state goes through it; reads go to the store and
// the boards directly. The daemon's implementation is actor-backed
// (actors/actor_gateway.hpp); tests of the HTTP layer use a fake.

#include "coffeeshop/messages.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace coffeeshop {

/// A reply, or why there is none (the order machinery did not answer in
/// time, or is restarting): the HTTP layer answers 503 with `error`.
template <class T>
struct gateway_result {
  std::optional<T> value;
  std::string error;

  static gateway_result ok(T v) { return {std::move(v), {}}; }
  static gateway_result failed(std::string why) { return {std::nullopt, std::move(why)}; }
  explicit operator bool() const { return value.has_value(); }
  T& operator*() { return *value; }
  T* operator->() { return &*value; }
};

/// What the HTTP layer asks of the order machinery. Calls block the calling
/// thread until the answer is there or `timeout` has passed; any thread may
/// call them.
class order_gateway {
public:
  virtual ~order_gateway() = default;

  /// Creates (or replays) an order and runs its payment.
  virtual gateway_result<create_order_reply> create_order(create_order_command cmd,
                                                          millis timeout) = 0;

  /// Moves an order to another status and queues its notification.
  virtual gateway_result<change_status_reply> change_status(change_status_command cmd,
                                                            millis timeout) = 0;

  /// Isolates or resets an integration's breaker; answers its view after.
  virtual gateway_result<integration_view> circuit(service_kind service, circuit_action action,
                                                   millis timeout) = 0;

  /// Puts a failed outbox entry back to pending with its attempts reset.
  virtual gateway_result<requeue_reply> requeue_notification(std::string entry_id,
                                                             millis timeout) = 0;

  /// Crash rehearsal: makes the named actor fail as an uncaught exception
  /// would. False when no actor of that name can be crashed.
  virtual bool crash(std::string_view actor) = 0;
};

} // namespace coffeeshop
