#pragma once

#include "coffeeshop/config.hpp"
#include "coffeeshop/resilience/clock_types.hpp"

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace coffeeshop {

/// What went wrong below HTTP, if anything.
enum class transport_error { none, connect_failed, timeout, connection_reset, other };

/// The observable result of one attempt, as the policies need it.
struct attempt_result {
  transport_error error = transport_error::none;
  int http_status = 0; // 0 when error != none
  /// A 2xx reply whose JSON says `"success": false` (payment semantics).
  bool reported_failure = false;
  /// Parsed Retry-After of a 429/503 reply.
  std::optional<millis> retry_after;
};

/// How one attempt ended, for the retry loop.
enum class attempt_class { success, retryable, final_failure };

/// Classifies an attempt (CONTRACT §2): retried are connection errors, timeouts,
/// 408, 429, 500, 502, 503, 504 and a 2xx with success:false; other 4xx/5xx are final.
attempt_class classify(const attempt_result& r);

/// True when the attempt counts as a failure for the circuit breaker: everything
/// retryable does; a 4xx other than 408/429 does not (the service is up).
bool is_breaker_failure(const attempt_result& r);

/// Parses a Retry-After header: delta-seconds or an HTTP-date relative to
/// `now_epoch_ms`. Negative or unparsable values yield nullopt.
std::optional<millis> parse_retry_after(std::string_view header, int64_t now_epoch_ms);

/// Exponential backoff with cap, jitter and Retry-After (CONTRACT §2).
class retry_policy {
public:
  explicit retry_policy(retry_settings settings = {}, uint64_t seed = std::random_device{}());

  /// Retries allowed after the first attempt.
  int max_retries() const { return settings_.max_retries; }

  /// Delay before retry `n` (1-based): min(base * 2^(n-1), max), jittered,
  /// then raised to `retry_after` (capped by max) when honoured.
  millis next_delay(int n, std::optional<millis> retry_after = {});

  const retry_settings& settings() const { return settings_; }

  /// Takes new settings (a config reload); the jitter sequence goes on.
  void set_settings(const retry_settings& settings) { settings_ = settings; }

private:
  retry_settings settings_;
  std::mt19937_64 rng_;
};

/// The total time budget of one logical call (all attempts and delays).
class deadline {
public:
  deadline(time_point start, millis budget) : end_(start + budget) {}

  /// True while an attempt may still start at `now` (strictly before the end).
  bool allows_attempt_at(time_point now) const { return now < end_; }

  /// Time left at `now`, never negative.
  millis remaining(time_point now) const;

  /// Timeout of an attempt starting at `now`: the per-call timeout clipped to what is left.
  millis attempt_timeout(time_point now, millis per_call) const;

  time_point end() const { return end_; }

private:
  time_point end_;
};

} // namespace coffeeshop
