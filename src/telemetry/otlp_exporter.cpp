#include "coffeeshop/telemetry/otlp_exporter.hpp"

#include "coffeeshop/telemetry/otlp_json.hpp"

#include <algorithm>
#include <charconv>
#include <optional>

namespace coffeeshop {

namespace {

bool retryable(const http_reply& r) {
  // OTLP/HTTP: these mean "try again later"; anything else will not get better.
  return r.error == transport_error::none &&
         (r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504);
}

/// Retry-After in seconds, the only form OTLP collectors send.
std::optional<millis> retry_after_of(const http_reply& r) {
  if (!r.retry_after)
    return std::nullopt;
  const auto& text = *r.retry_after;
  int64_t s = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
  if (ec != std::errc{} || p != text.data() + text.size() || s < 0)
    return std::nullopt;
  return millis{std::min<int64_t>(s, 86'400) * 1000};
}

} // namespace

otlp_exporter::otlp_exporter(exporter_settings settings, trace_resource resource,
                             std::unique_ptr<trace_transport> transport,
                             std::function<void(uint64_t)> on_dropped)
  : settings_(std::move(settings)),
    resource_(std::move(resource)),
    transport_(std::move(transport)),
    on_dropped_(std::move(on_dropped)) {
  settings_.max_batch_spans = std::max<std::size_t>(1, settings_.max_batch_spans);
}

otlp_exporter::~otlp_exporter() { stop(); }

void otlp_exporter::submit(span s) {
  {
    std::lock_guard<std::mutex> lk(mtx_);
    if (stopping_ || queue_.size() >= settings_.max_queue_spans) {
      // Counted here, reported to on_dropped by the export thread: a full queue means
      // every request drops spans, and the metrics family's lock is not worth taking for each.
      ++dropped_;
      ++unreported_drops_;
      return;
    }
    queue_.push_back(std::move(s));
    // Only the span that completes a batch wakes the thread, not every one after it.
    if (queue_.size() != settings_.max_batch_spans)
      return;
  }
  wake_.notify_one();
}

void otlp_exporter::report_drops() {
  auto n = unreported_drops_.exchange(0);
  if (n != 0 && on_dropped_)
    on_dropped_(n);
}

std::size_t otlp_exporter::queued() const {
  std::lock_guard<std::mutex> lk(mtx_);
  return queue_.size();
}

void otlp_exporter::drop(std::size_t n) {
  if (n == 0)
    return;
  dropped_ += n;
  if (on_dropped_)
    on_dropped_(n);
}

void otlp_exporter::send_batch(time_point now) {
  http_call call;
  call.url = settings_.url;
  call.body = encode_otlp_traces(resource_, batch_);
  call.headers.emplace_back("Content-Type", "application/json");
  call.timeout = settings_.timeout;
  auto reply = transport_->send(call);
  ++tries_;
  bool ok = reply.error == transport_error::none && reply.status >= 200 && reply.status < 300;
  if (!ok && retryable(reply) && tries_ < settings_.max_tries) {
    auto backoff = settings_.initial_backoff * (int64_t{1} << std::min(tries_ - 1, 20));
    if (auto ra = retry_after_of(reply))
      backoff = std::max(backoff, *ra);
    retry_at_ = now + std::min(backoff, settings_.max_backoff);
    return;
  }
  if (!ok)
    drop(batch_.size());
  batch_.clear();
  tries_ = 0;
}

time_point otlp_exporter::step(time_point now) {
  report_drops();
  if (!started_flush_clock_) {
    started_flush_clock_ = true;
    next_flush_ = now + settings_.flush_interval;
  }
  if (!batch_.empty()) {
    if (now < retry_at_)
      return retry_at_;
    send_batch(now);
    if (!batch_.empty())
      return retry_at_;
  }
  {
    std::lock_guard<std::mutex> lk(mtx_);
    bool full = queue_.size() >= settings_.max_batch_spans;
    bool due = now >= next_flush_;
    if (!full && !(due && !queue_.empty())) {
      if (due)
        next_flush_ = now + settings_.flush_interval;
      return next_flush_;
    }
    auto n = std::min(queue_.size(), settings_.max_batch_spans);
    batch_.assign(std::make_move_iterator(queue_.begin()),
                  std::make_move_iterator(queue_.begin() + static_cast<std::ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  next_flush_ = now + settings_.flush_interval;
  tries_ = 0;
  send_batch(now);
  if (!batch_.empty())
    return retry_at_;
  std::lock_guard<std::mutex> lk(mtx_);
  return queue_.size() >= settings_.max_batch_spans ? now : next_flush_;
}

void otlp_exporter::start() {
  std::lock_guard<std::mutex> lk(mtx_);
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread([this] { run(); });
}

void otlp_exporter::run() {
  while (true) {
    auto next = step(std::chrono::steady_clock::now());
    std::unique_lock<std::mutex> lk(mtx_);
    wake_.wait_until(lk, next, [&] {
      return stopping_ || (batch_.empty() && queue_.size() >= settings_.max_batch_spans);
    });
    if (stopping_)
      return;
  }
}

void otlp_exporter::stop() {
  std::vector<span> rest;
  {
    std::lock_guard<std::mutex> lk(mtx_);
    if (stopping_)
      return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable())
    thread_.join();
  report_drops();
  {
    std::lock_guard<std::mutex> lk(mtx_);
    rest.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
  }
  // One more try for what waits, without backoff, and none after a failure: shutdown
  // must not wait out a dead collector once per batch.
  rest.insert(rest.begin(), std::make_move_iterator(batch_.begin()),
              std::make_move_iterator(batch_.end()));
  batch_.clear();
  std::size_t sent = 0;
  const auto dropped_before = dropped_.load();
  while (sent < rest.size()) {
    auto n = std::min(rest.size() - sent, settings_.max_batch_spans);
    batch_.assign(std::make_move_iterator(rest.begin() + static_cast<std::ptrdiff_t>(sent)),
                  std::make_move_iterator(rest.begin() + static_cast<std::ptrdiff_t>(sent + n)));
    sent += n;
    tries_ = settings_.max_tries; // a retryable answer drops the batch too
    send_batch(std::chrono::steady_clock::now());
    if (dropped_.load() != dropped_before) {
      drop(rest.size() - sent);
      break;
    }
  }
}

} // namespace coffeeshop
