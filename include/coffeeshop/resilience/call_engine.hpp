#pragma once

// The integration call as a pure state machine: one logical call is a loop of
// attempts guarded by the circuit breaker, a bulkhead and the total deadline.
// The engine takes inputs (a call starts, an attempt's reply, a retry timer, an
// operator's circuit action) with the current time and answers with commands
// (send attempt n, retry after d, finish with r, emit e, report the breaker).
// It owns no thread and no clock, so tests drive it directly; the payment and
// notification actors are thin shells that execute its commands.

#include "coffeeshop/config.hpp"
#include "coffeeshop/messages.hpp"
#include "coffeeshop/net/http_call.hpp"
#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/clock_types.hpp"
#include "coffeeshop/resilience/learned_load.hpp"
#include "coffeeshop/resilience/retry_policy.hpp"
#include "coffeeshop/resilience/service_kind.hpp"
#include "coffeeshop/telemetry/integration_event.hpp"
#include "coffeeshop/telemetry/span.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace coffeeshop {

/// "succeeded", "declined", "exhausted", "timed_out", "circuit_open", "overloaded".
const char* to_string(call_result r);

/// The two clocks an input is stamped with: monotonic for timing, wall-clock
/// for HTTP-date Retry-After values and the breaker's `openedAt`.
struct call_clock {
  time_point now;
  int64_t epoch_ms = 0;
  /// Wall-clock nanoseconds for span times; 0 = epoch_ms in nanoseconds.
  int64_t epoch_ns = 0;
};

/// What differs between the upstreams, supplied by each service.
class call_hooks {
public:
  virtual ~call_hooks() = default;

  /// True when a 2xx reply still reports a failure (payment: `"success": false`).
  virtual bool reply_reports_failure(const http_reply& reply) const;

  /// What a successful reply yields for the caller (payment: its reference).
  virtual std::optional<std::string> reference(const http_reply& reply) const;

  /// Events the service adds when a call ends (notification: sent / failed).
  virtual void on_finished(const outbound_call& call, const call_outcome& outcome,
                           std::vector<integration_event>& events) const;
};

// -- commands -------------------------------------------------------------------

/// Send this attempt of call `call` to the transport; its reply (or its
/// absence after `request.timeout` plus a grace) goes back to on_reply.
struct send_attempt {
  uint64_t call = 0;
  int attempt = 0;
  http_call request;
};

/// Deliver on_retry_timer(call) after `delay`.
struct schedule_retry {
  uint64_t call = 0;
  millis delay{0};
};

/// The call ended: answer its caller with `outcome`.
struct finish_call {
  uint64_t call = 0;
  call_outcome outcome;
};

/// Record an integration event (CONTRACT §5).
struct emit_event {
  integration_event event;
};

/// The breaker changed in a way others must see (the board a restarted
/// successor starts from, the state gauge); `transition` is set when its
/// state moved (count it, log it).
struct report_breaker {
  std::optional<circuit_transition> transition;
  circuit_state state = circuit_state::closed;
};

/// The retry budget or the concurrency limit moved: what a restarted successor starts
/// from (see call_engine::budget / limiter) and the gauge of the limit.
struct report_load {
  int limit = 0;
};

/// Counts for the board and the metrics.
struct tally_call {
  enum class kind { succeeded, failed, retried, rejected, retry_suppressed };
  kind what = kind::succeeded;
  /// For succeeded / failed: the `outcome` label of
  /// coffeeshop_integration_calls_total and the attempt's duration.
  const char* outcome_label = "";
  double seconds = 0;
};

/// A finished span for the trace export (CONTRACT §9): the client span of an attempt
/// when its reply came, the internal span of the whole call when it ended.
struct export_span {
  span finished;
};

using call_command = std::variant<send_attempt, schedule_retry, finish_call, emit_event,
                                  report_breaker, report_load, tally_call, export_span>;

/// Commands of one step, in the order they must be executed.
using call_commands = std::vector<call_command>;

// -- the engine -----------------------------------------------------------------

/// Every logical call of one integration, with the breaker, retry policy and
/// bulkhead they share.
class call_engine {
public:
  /// `breaker` and `learned` are where to start from (a restarted actor passes its
  /// predecessor's last reports; its half-open probes are forgotten).
  /// `hooks` must outlive the engine.
  call_engine(service_kind kind, service_settings settings, std::string url,
              const call_hooks& hooks, circuit_breaker breaker, std::optional<int64_t> opened_at_ms,
              uint64_t jitter_seed, const call_clock& clock, learned_load learned = {});

  /// Starts call `id` (unique among active calls) and tries its first attempt.
  void start(uint64_t id, outbound_call call, const call_clock& clock, call_commands& out);

  /// The transport answered (or failed to answer) the attempt in flight of `id`.
  /// A reply for a call with no attempt in flight is ignored.
  void on_reply(uint64_t id, const http_reply& reply, const call_clock& clock, call_commands& out);

  /// A retry timer of `id` fired.
  void on_retry_timer(uint64_t id, const call_clock& clock, call_commands& out);

  /// An operator isolated or reset the breaker.
  void apply(circuit_action action, const call_clock& clock, call_commands& out);

  /// Takes new settings (a config reload) for the calls to come; calls under way keep
  /// their deadline and in-flight attempts. The breaker keeps its state; a changed retry
  /// budget, adaptive limit or max_connections starts its budget or limiter afresh.
  void reconfigure(const service_settings& settings, call_commands& out);

  std::size_t active_calls() const { return calls_.size(); }
  int attempts_in_flight() const { return attempts_in_flight_; }
  const circuit_breaker& breaker() const { return breaker_; }
  const retry_budget& budget() const { return budget_; }
  const concurrency_limiter& limiter() const { return limiter_; }
  std::optional<int64_t> opened_at_ms() const { return opened_at_ms_; }
  service_kind kind() const { return kind_; }
  const service_settings& settings() const { return settings_; }

private:
  struct active_call {
    outbound_call call;
    deadline budget;
    int attempt = 0;
    bool in_flight = false;
    time_point attempt_started{};
    /// The call's internal span, open until the call ends.
    span call_span;
    /// The attempt in flight's client span: its id is in the attempt's traceparent.
    span attempt_span;
  };

  void attempt(uint64_t id, active_call& c, const call_clock& clock, call_commands& out);
  /// What the policies need to know of a reply.
  attempt_result observe(const http_reply& reply, const call_clock& clock) const;
  /// A failed attempt ends the call (declined, exhausted, out of budget) or schedules a retry.
  void after_failure(uint64_t id, active_call& c, const http_reply& reply, const attempt_result& ar,
                     attempt_class cls, const call_clock& clock, call_commands& out);
  void finish(uint64_t id, call_outcome outcome, const call_clock& clock, call_commands& out);
  /// Ends the call before an attempt was sent: counted and announced as rejected.
  void reject(uint64_t id, active_call& c, call_result result, millis retry_after,
              std::string detail, boost::json::object event_payload, const call_clock& clock,
              call_commands& out);
  void emit(const outbound_call* about, const char* type, int attempt, boost::json::object payload,
            call_commands& out) const;
  /// `about` is the call whose attempt moved the breaker (none for an operator's action);
  /// the transition is also an event of its span.
  void note_breaker(const std::optional<circuit_transition>& tr, active_call* about,
                    const call_clock& clock, call_commands& out);
  /// Ends an input: reports the budget and the limit when the input moved them.
  void note_load(call_commands& out);
  /// Brings the breaker, retry policy, budget and limiter in line with settings_.
  void adopt_settings();

  service_kind kind_;
  service_settings settings_;
  std::string url_;
  const call_hooks& hooks_;
  circuit_breaker breaker_;
  retry_policy retry_;
  retry_budget budget_;
  concurrency_limiter limiter_;
  /// Set when budget_ or limiter_ changed during the current input.
  bool load_changed_ = false;
  std::optional<int64_t> opened_at_ms_;
  std::unordered_map<uint64_t, active_call> calls_;
  int attempts_in_flight_ = 0;
  /// What was last reported, so only changes are.
  circuit_state reported_state_ = circuit_state::closed;
  int reported_failures_ = 0;
  bool reported_isolated_ = false;
};

} // namespace coffeeshop
