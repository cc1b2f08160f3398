#include "behavior.hpp"

#include "coffeeshop/sim/simulator.hpp"
#include "coffeeshop/util/json_fields.hpp"

#include <array>
#include <cmath>
#include <cstdint>

namespace coffeeshop::sim {
namespace json = boost::json;

namespace {

// Upper bound for a configured delay: long enough for any timeout test, short enough that
// a typo (seconds vs. milliseconds times 1000) is caught.
constexpr int max_latency_ms = 600'000;

constexpr std::array<std::string_view, 6> profile_names = {"trio", "fast",  "down",
                                                           "hang", "flaky", "slow"};

std::optional<int64_t> as_integer(const json::value& v) {
  if (!v.is_number())
    return std::nullopt;
  json::error_code ec;
  auto n = v.to_number<int64_t>(ec);
  if (ec)
    return std::nullopt;
  return n;
}

std::optional<service> parse_service(std::string_view name) {
  if (name == "payment")
    return service::payment;
  if (name == "notification")
    return service::notification;
  return std::nullopt;
}

} // namespace

bool is_valid_profile(std::string_view name) {
  for (auto p : profile_names)
    if (p == name)
      return true;
  return false;
}

std::string_view to_string(service svc) {
  return svc == service::payment ? "payment" : "notification";
}

std::optional<service_behavior> profile_behavior(std::string_view profile, service svc) {
  if (!is_valid_profile(profile))
    return std::nullopt;
  service_behavior b;
  b.profile = std::string(profile);
  const bool pay = svc == service::payment;
  if (profile == "trio") {
    // Measured on challenge.trio.dev: payment ~1 s with ~30 % 500s, notification 4-8 s.
    if (pay) {
      b.failure_rate = 0.3;
      b.latency_min_ms = 900;
      b.latency_max_ms = 1100;
    } else {
      b.latency_min_ms = 4000;
      b.latency_max_ms = 8000;
    }
  } else if (profile == "down") {
    // An upstream that is up at the TCP level but fails everything at once: the case that
    // exercises retries and the breaker fastest.
    b.fixed_status = 500;
  } else if (profile == "hang") {
    b.hang = true;
  } else if (profile == "flaky") {
    if (pay) {
      b.failure_rate = 0.5;
    } else {
      b.failure_rate = 0.3;
      b.fail_status = 503;
    }
  } else if (profile == "slow") {
    // An upstream that queues: 50-100 ms alone, 10 ms more for each call beside it, so
    // that the latency an adaptive concurrency limit learns from depends on the load.
    b.latency_min_ms = 50;
    b.latency_max_ms = 100;
    b.latency_per_inflight_ms = 10;
  }
  // "fast": the defaults (no delay, no failure).
  return b;
}

void behavior_update::apply_to(service_behavior& b, service svc) const {
  if (profile)
    b = *profile_behavior(*profile, svc);
  if (failure_rate)
    b.failure_rate = *failure_rate;
  if (latency_ms) {
    b.latency_min_ms = latency_ms->first;
    b.latency_max_ms = latency_ms->second;
  }
  if (latency_per_inflight_ms)
    b.latency_per_inflight_ms = *latency_per_inflight_ms;
  if (fixed_status)
    b.fixed_status = *fixed_status;
  if (retry_after_s)
    b.retry_after_s = *retry_after_s;
  if (hang)
    b.hang = *hang;
  if (fail_status)
    b.fail_status = *fail_status;
}

std::variant<behavior_update, behavior_error> parse_behavior_update(std::string_view body) {
  json::error_code ec;
  json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object())
    return behavior_error{"body", "expected a JSON object"};

  const json::object& members = doc.as_object();
  // The first problem in document order is the one reported, so an unknown member wins
  // only over the members after it, as if the walk below met it in its place.
  const auto unknown = unknown_fields(members, "",
                                      {"service", "profile", "failureRate", "latencyMs",
                                       "latencyPerInflightMs", "fixedStatus", "retryAfter", "hang",
                                       "failStatus"});
  behavior_update u;
  for (const auto& kv : members) {
    const std::string key(kv.key());
    const json::value& v = kv.value();
    if (!unknown.empty() && key == unknown.front()) {
      return behavior_error{key, "unknown member"};
    } else if (key == "service") {
      if (!v.is_string())
        return behavior_error{key, R"(expected "payment", "notification" or "all")"};
      std::string_view s = v.as_string();
      if (s == "all") {
        u.only.reset();
      } else if (auto svc = parse_service(s)) {
        u.only = *svc;
      } else {
        return behavior_error{key, R"(expected "payment", "notification" or "all")"};
      }
    } else if (key == "profile") {
      if (!v.is_string() || !is_valid_profile(v.as_string()))
        return behavior_error{key, "expected one of trio, fast, down, hang, flaky, slow"};
      u.profile = std::string(v.as_string());
    } else if (key == "failureRate") {
      if (!v.is_number())
        return behavior_error{key, "expected a number between 0 and 1"};
      double r = v.to_number<double>();
      if (!(r >= 0.0 && r <= 1.0))
        return behavior_error{key, "expected a number between 0 and 1"};
      u.failure_rate = r;
    } else if (key == "latencyMs") {
      // [min, max]; a single number means a fixed delay.
      const char* msg = "expected [min, max] milliseconds with 0 <= min <= max <= 600000";
      std::optional<int64_t> lo, hi;
      if (v.is_array() && v.as_array().size() == 2) {
        lo = as_integer(v.as_array()[0]);
        hi = as_integer(v.as_array()[1]);
      } else if (v.is_number()) {
        lo = hi = as_integer(v);
      }
      if (!lo || !hi || *lo < 0 || *lo > *hi || *hi > max_latency_ms)
        return behavior_error{key, msg};
      u.latency_ms = std::make_pair(static_cast<int>(*lo), static_cast<int>(*hi));
    } else if (key == "latencyPerInflightMs") {
      auto n = as_integer(v);
      if (!n || *n < 0 || *n > 10'000)
        return behavior_error{key, "expected milliseconds 0..10000"};
      u.latency_per_inflight_ms = static_cast<int>(*n);
    } else if (key == "fixedStatus") {
      if (v.is_null()) {
        u.fixed_status = std::optional<int>{};
      } else {
        auto n = as_integer(v);
        if (!n || *n < 200 || *n > 599)
          return behavior_error{key, "expected an HTTP status 200..599 or null"};
        u.fixed_status = std::optional<int>{static_cast<int>(*n)};
      }
    } else if (key == "retryAfter") {
      if (v.is_null()) {
        u.retry_after_s = std::optional<int>{};
      } else {
        auto n = as_integer(v);
        if (!n || *n < 0 || *n > 86400)
          return behavior_error{key, "expected seconds 0..86400 or null"};
        u.retry_after_s = std::optional<int>{static_cast<int>(*n)};
      }
    } else if (key == "hang") {
      if (!v.is_bool())
        return behavior_error{key, "expected true or false"};
      u.hang = v.as_bool();
    } else if (key == "failStatus") {
      auto n = as_integer(v);
      if (!n || *n < 400 || *n > 599)
        return behavior_error{key, "expected an HTTP status 400..599"};
      u.fail_status = static_cast<int>(*n);
    }
  }
  return u;
}

json::object to_json(const service_behavior& b) {
  json::object o;
  o["profile"] = b.profile;
  o["failureRate"] = b.failure_rate;
  o["latencyMs"] = json::array{b.latency_min_ms, b.latency_max_ms};
  o["latencyPerInflightMs"] = b.latency_per_inflight_ms;
  o["fixedStatus"] = b.fixed_status ? json::value(*b.fixed_status) : json::value(nullptr);
  o["retryAfter"] = b.retry_after_s ? json::value(*b.retry_after_s) : json::value(nullptr);
  o["hang"] = b.hang;
  o["failStatus"] = b.fail_status;
  return o;
}

} // namespace coffeeshop::sim
