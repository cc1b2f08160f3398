#pragma once

#include "coffeeshop/resilience/circuit_breaker.hpp"
#include "coffeeshop/resilience/service_kind.hpp"

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop {

/// Label set of one series, in the order given: {{"service","payment"}}.
using metric_labels = std::vector<std::pair<std::string_view, std::string_view>>;

class metric_family;

/// The families of one metrics object; each family adds itself when it is
/// constructed, so no list of them is kept by hand.
using metric_registry = std::vector<const metric_family*>;

/// One metric family of the Prometheus text format 0.0.4. Its series are
/// created on first use, so a label set nobody used is not rendered.
/// Safe to use from any thread.
class metric_family {
public:
  enum class kind { counter, gauge, histogram };

  metric_family(metric_registry& registry, std::string name, kind type, std::string help);
  metric_family(const metric_family&) = delete;
  metric_family& operator=(const metric_family&) = delete;

  const std::string& name() const { return name_; }

  /// Appends the HELP, TYPE and series lines of this family.
  void render(std::string& out) const;

protected:
  struct histogram_data {
    std::vector<uint64_t> buckets; // cumulative counts are computed at render
    uint64_t count = 0;
    double sum = 0;
  };

  double& value_slot(std::string_view label_text);
  histogram_data& histogram_slot(std::string_view label_text);
  static void record(histogram_data& h, double seconds);

  std::string name_;
  kind type_;
  std::string help_;
  // One lock per family: HTTP threads and actors update different families
  // at the same time without queueing on one global lock.
  mutable std::mutex mtx_;
  std::map<std::string, double, std::less<>> values_;             // label text -> value
  std::map<std::string, histogram_data, std::less<>> histograms_; // label text -> data
};

class counter_family : public metric_family {
public:
  counter_family(metric_registry& registry, std::string name, std::string help);
  void add(const metric_labels& labels, double value = 1.0);
};

class gauge_family : public metric_family {
public:
  gauge_family(metric_registry& registry, std::string name, std::string help);
  void set(const metric_labels& labels, double value);
};

class histogram_family : public metric_family {
public:
  histogram_family(metric_registry& registry, std::string name, std::string help);
  void observe(const metric_labels& labels, double seconds);
};

/// The series one integration updates, labelled with its service.
class integration_metrics {
public:
  integration_metrics(class metrics& m, service_kind kind);

  void attempt_finished(std::string_view outcome, double seconds);
  void retried();
  void retry_suppressed();
  void rejected();
  /// The attempts allowed in flight (adaptive, or max_connections).
  void concurrency_limit(int limit);
  void transition(circuit_state to);
  void state(circuit_state now);

private:
  class metrics& m_;
  std::string service_;
};

/// The coffeeshop_* families of CONTRACT §3.5, declared up front so every
/// HELP/TYPE line is present before a series has a value. Callers update
/// them through these typed members; nothing is looked up by name.
class metrics {
  // First: the families below add themselves to it while they are constructed.
  metric_registry families_;

public:
  metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  counter_family http_requests{families_, "coffeeshop_http_requests_total",
                               "HTTP requests served, by route and code."};
  histogram_family http_request_duration{families_, "coffeeshop_http_request_duration_seconds",
                                         "HTTP request latency by route."};
  counter_family integration_calls{families_, "coffeeshop_integration_calls_total",
                                   "Upstream call attempts by service and outcome."};
  histogram_family integration_call_duration{families_,
                                             "coffeeshop_integration_call_duration_seconds",
                                             "Upstream call attempt latency by service."};
  counter_family integration_retries{families_, "coffeeshop_integration_retries_total",
                                     "Retries scheduled by service."};
  counter_family integration_retries_suppressed{
    families_, "coffeeshop_integration_retries_suppressed_total",
    "Retries not made because the service's retry budget was spent."};
  gauge_family integration_concurrency_limit{
    families_, "coffeeshop_integration_concurrency_limit",
    "Attempts allowed in flight to the service: the adaptive limit, else max_connections."};
  gauge_family circuit_state{families_, "coffeeshop_circuit_state",
                             "Circuit breaker state: 0 closed, 1 half-open, 2 open."};
  counter_family circuit_transitions{families_, "coffeeshop_circuit_transitions_total",
                                     "Circuit breaker transitions by target state."};
  counter_family actor_restarts{families_, "coffeeshop_actor_restarts_total",
                                "Supervisor restarts by actor."};
  counter_family orders{families_, "coffeeshop_orders_total", "Orders by the status they reached."};
  gauge_family inflight_orders{families_, "coffeeshop_inflight_orders",
                               "Create-order requests in flight."};
  // The bound beside the count, so an alert can say "near the limit" without
  // copying http.max_inflight_orders into the rules.
  gauge_family inflight_orders_limit{families_, "coffeeshop_inflight_orders_limit",
                                     "http.max_inflight_orders: creates that may wait at once."};
  gauge_family store_up{families_, "coffeeshop_store_up",
                        "1 while the store takes commits, 0 while it fails them."};
  counter_family integration_events{families_, "coffeeshop_integration_events_total",
                                    "Integration events by service and type."};
  histogram_family store_commit_duration{families_, "coffeeshop_store_commit_duration_seconds",
                                         "Store transaction latency (one per group commit)."};
  counter_family store_writes{families_, "coffeeshop_store_writes_total",
                              "Writes committed or failed; divided by commits, the group size."};
  counter_family store_errors{families_, "coffeeshop_store_errors_total",
                              "Failed store operations by op."};
  gauge_family outbox_entries{families_, "coffeeshop_outbox_entries", "Outbox entries by state."};
  gauge_family outbox_oldest_pending{families_, "coffeeshop_outbox_oldest_pending_seconds",
                                     "Age of the oldest pending outbox entry."};
  counter_family telemetry_spans_dropped{
    families_, "coffeeshop_telemetry_spans_dropped_total",
    "Spans the trace export dropped: queue full, collector unreachable or refusing."};

  /// The per-integration series (payment, notification).
  integration_metrics& integration(service_kind kind) {
    return *integrations_[kind == service_kind::payment ? 0 : 1];
  }

  /// The /metrics body, families sorted by name.
  std::string render() const;

private:
  std::array<std::unique_ptr<integration_metrics>, 2> integrations_;
};

} // namespace coffeeshop
