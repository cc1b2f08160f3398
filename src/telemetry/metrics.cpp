#include "coffeeshop/telemetry/metrics.hpp"

#include <array>
#include <cassert>
#include <cmath>
#include <cstdio>

namespace coffeeshop {

namespace {

constexpr std::array<double, 14> bucket_bounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};

/// Renders labels into a per-thread buffer: the hot path allocates nothing
/// once a series exists.
std::string_view label_text(const metric_labels& labels) {
  thread_local std::string out;
  out.clear();
  for (const auto& [key, value] : labels) {
    if (!out.empty())
      out += ',';
    out += key;
    out += "=\"";
    for (char c : value) {
      if (c == '\\' || c == '"')
        out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out;
}

template <class Map>
typename Map::mapped_type& slot(Map& m, std::string_view key) {
  auto i = m.find(key);
  if (i == m.end())
    i = m.emplace(std::string{key}, typename Map::mapped_type{}).first;
  return i->second;
}

std::string number(double v) {
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

std::string series(const std::string& name, const std::string& labels) {
  return labels.empty() ? name : name + '{' + labels + '}';
}

} // namespace

metrics::metrics() {
  declare("coffeeshop_http_requests_total", kind::counter, "HTTP requests served, by route and code.");
  declare("coffeeshop_http_request_duration_seconds", kind::histogram,
          "HTTP request latency by route.");
  declare("coffeeshop_integration_calls_total", kind::counter,
          "Upstream call attempts by service and outcome.");
  declare("coffeeshop_integration_call_duration_seconds", kind::histogram,
          "Upstream call attempt latency by service.");
  declare("coffeeshop_integration_retries_total", kind::counter, "Retries scheduled by service.");
  declare("coffeeshop_circuit_state", kind::gauge,
          "Circuit breaker state: 0 closed, 1 half-open, 2 open.");
  declare("coffeeshop_circuit_transitions_total", kind::counter,
          "Circuit breaker transitions by target state.");
  declare("coffeeshop_actor_restarts_total", kind::counter, "Supervisor restarts by actor.");
  declare("coffeeshop_orders_total", kind::counter, "Orders by the status they reached.");
  declare("coffeeshop_inflight_orders", kind::gauge, "Create-order requests in flight.");
  declare("coffeeshop_integration_events_total", kind::counter,
          "Integration events by service and type.");
}

void metrics::declare(std::string name, kind type, std::string help) {
  auto& fam = families_[std::move(name)];
  fam.type = type;
  fam.help = std::move(help);
}

metrics::family& metrics::find(std::string_view name) {
  auto i = families_.find(name);
  assert(i != families_.end() && "metric family must be declared");
  return i->second;
}

void metrics::add(std::string_view name, const metric_labels& labels, double value) {
  auto key = label_text(labels);
  auto& fam = find(name);
  std::lock_guard guard{fam.mtx};
  slot(fam.values, key) += value;
}

void metrics::set(std::string_view name, const metric_labels& labels, double value) {
  auto key = label_text(labels);
  auto& fam = find(name);
  std::lock_guard guard{fam.mtx};
  slot(fam.values, key) = value;
}

void metrics::observe(std::string_view name, const metric_labels& labels, double seconds) {
  auto key = label_text(labels);
  auto& fam = find(name);
  std::lock_guard guard{fam.mtx};
  auto& h = slot(fam.histograms, key);
  if (h.buckets.empty())
    h.buckets.resize(bucket_bounds.size());
  for (size_t i = 0; i < bucket_bounds.size(); ++i)
    if (seconds <= bucket_bounds[i]) {
      ++h.buckets[i];
      break;
    }
  ++h.count;
  h.sum += seconds;
}

std::string metrics::render() const {
  std::string out;
  out.reserve(8192);
  for (const auto& [name, fam] : families_) {
    std::lock_guard guard{fam.mtx};
    out += "# HELP " + name + ' ' + fam.help + '\n';
    const char* type = fam.type == kind::counter ? "counter"
                       : fam.type == kind::gauge ? "gauge"
                                                 : "histogram";
    out += "# TYPE " + name + ' ' + type + '\n';
    for (const auto& [labels, value] : fam.values)
      out += series(name, labels) + ' ' + number(value) + '\n';
    for (const auto& [labels, h] : fam.histograms) {
      uint64_t cumulative = 0;
      auto prefix = labels.empty() ? std::string{} : labels + ',';
      for (size_t i = 0; i < bucket_bounds.size(); ++i) {
        cumulative += h.buckets[i];
        out += name + "_bucket{" + prefix + "le=\"" + number(bucket_bounds[i]) + "\"} "
               + std::to_string(cumulative) + '\n';
      }
      out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(h.count) + '\n';
      out += series(name + "_sum", labels) + ' ' + number(h.sum) + '\n';
      out += series(name + "_count", labels) + ' ' + std::to_string(h.count) + '\n';
    }
  }
  return out;
}

} // namespace coffeeshop
