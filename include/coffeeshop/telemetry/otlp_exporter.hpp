#pragma once

// The batching OTLP/HTTP exporter (CONTRACT §9): spans are queued by submit() on any
// thread and sent by one export thread in batches, so a slow, throttling or dead
// collector costs dropped spans, never a delayed order. It stands where an
// OpenTelemetry SDK's BatchSpanProcessor + OTLP exporter would, behind span_sink.

#include "coffeeshop/net/http_call.hpp"
#include "coffeeshop/resilience/clock_types.hpp"
#include "coffeeshop/telemetry/span.hpp"

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace coffeeshop {

/// How a batch reaches the collector: one blocking POST (net::upstream_client in the
/// daemon, a scripted fake in tests). Used by the export thread only.
class trace_transport {
public:
  virtual ~trace_transport() = default;

  /// POSTs `call` and waits for the reply or call.timeout; never throws on I/O errors.
  virtual http_reply send(const http_call& call) = 0;
};

/// The exporter's knobs; the daemon fills them from telemetry.* and keeps the rest.
struct exporter_settings {
  /// Full URL of the traces endpoint: `{otlp_endpoint}/v1/traces`.
  std::string url;
  /// Spans waiting beyond this are dropped (telemetry.max_queue_spans).
  std::size_t max_queue_spans = 8192;
  /// A batch is sent when this many spans wait, or when flush_interval has passed.
  std::size_t max_batch_spans = 512;
  millis flush_interval{1000};
  /// Timeout of one POST to the collector.
  millis timeout{5000};
  /// Wait after a 429/502/503/504 before the batch is sent again, doubling per try.
  millis initial_backoff{1000};
  millis max_backoff{30000};
  /// Tries of one batch (the first included) before it is dropped.
  int max_tries = 5;
};

/// Batches spans to an OTLP/HTTP JSON collector on its own thread.
class otlp_exporter final : public span_sink {
public:
  /// `on_dropped(n)` is told of every n spans dropped (the metrics counter), on the
  /// export thread (or the one calling step() or stop()): spans refused by a full queue
  /// at its next step, at most one flush interval late.
  otlp_exporter(exporter_settings settings, trace_resource resource,
                std::unique_ptr<trace_transport> transport,
                std::function<void(uint64_t)> on_dropped);
  ~otlp_exporter() override;

  otlp_exporter(const otlp_exporter&) = delete;
  otlp_exporter& operator=(const otlp_exporter&) = delete;

  /// Queues a span, or drops and counts it when max_queue_spans wait. Never blocks on I/O.
  void submit(span s) override;

  /// Starts the export thread (at most once).
  void start();

  /// Stops the export thread: the batch being sent finishes (bounded by the POST
  /// timeout), then what waits is sent once more, without backoff; what cannot be sent
  /// is dropped and counted. Idempotent; the destructor calls it.
  void stop();

  /// One step of the export loop at time `now`: sends a batch when one is due (full,
  /// flush interval passed, or a backoff ended) and answers when the next step is due.
  /// The export thread calls it; tests call it directly, without starting the thread,
  /// to drive the exporter on a clock of their own.
  time_point step(time_point now);

  /// Spans dropped so far (queue full, collector unreachable or refusing).
  uint64_t dropped() const { return dropped_.load(); }

  /// Spans waiting in the queue (not counting a batch waiting out a backoff).
  std::size_t queued() const;

private:
  void drop(std::size_t n);
  /// Hands the drops counted by submit() to on_dropped.
  void report_drops();
  /// POSTs `batch_`; on a retryable answer keeps it for after the backoff.
  void send_batch(time_point now);
  void run();

  exporter_settings settings_;
  trace_resource resource_;
  std::unique_ptr<trace_transport> transport_;
  std::function<void(uint64_t)> on_dropped_;

  mutable std::mutex mtx_;
  std::condition_variable wake_;
  std::deque<span> queue_;
  bool stopping_ = false;

  // The export thread's own state (or the test's, calling step()).
  std::vector<span> batch_; // being sent, or waiting out a backoff
  int tries_ = 0;
  time_point retry_at_{};
  time_point next_flush_{};
  bool started_flush_clock_ = false;

  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> unreported_drops_{0};
  std::thread thread_;
};

} // namespace coffeeshop
