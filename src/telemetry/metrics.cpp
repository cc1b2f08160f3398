#include "coffeeshop/telemetry/metrics.hpp"

#include <algorithm>
#include <array>
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

// -- metric_family ----------------------------------------------------------------

metric_family::metric_family(metric_registry& registry, std::string name, kind type,
                             std::string help)
  : name_(std::move(name)), type_(type), help_(std::move(help)) {
  registry.push_back(this);
}

double& metric_family::value_slot(std::string_view label_text) { return slot(values_, label_text); }

metric_family::histogram_data& metric_family::histogram_slot(std::string_view label_text) {
  auto& h = slot(histograms_, label_text);
  if (h.buckets.empty())
    h.buckets.resize(bucket_bounds.size());
  return h;
}

void metric_family::record(histogram_data& h, double seconds) {
  for (size_t i = 0; i < bucket_bounds.size(); ++i)
    if (seconds <= bucket_bounds[i]) {
      ++h.buckets[i];
      break;
    }
  ++h.count;
  h.sum += seconds;
}

void metric_family::render(std::string& out) const {
  std::lock_guard guard{mtx_};
  out += "# HELP " + name_ + ' ' + help_ + '\n';
  const char* type = type_ == kind::counter ? "counter"
                     : type_ == kind::gauge ? "gauge"
                                            : "histogram";
  out += "# TYPE " + name_ + ' ' + type + '\n';
  for (const auto& [labels, value] : values_)
    out += series(name_, labels) + ' ' + number(value) + '\n';
  for (const auto& [labels, h] : histograms_) {
    uint64_t cumulative = 0;
    auto prefix = labels.empty() ? std::string{} : labels + ',';
    for (size_t i = 0; i < bucket_bounds.size(); ++i) {
      cumulative += h.buckets[i];
      out += name_ + "_bucket{" + prefix + "le=\"" + number(bucket_bounds[i]) + "\"} " +
             std::to_string(cumulative) + '\n';
    }
    out += name_ + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(h.count) + '\n';
    out += series(name_ + "_sum", labels) + ' ' + number(h.sum) + '\n';
    out += series(name_ + "_count", labels) + ' ' + std::to_string(h.count) + '\n';
  }
}

counter_family::counter_family(metric_registry& registry, std::string name, std::string help)
  : metric_family(registry, std::move(name), kind::counter, std::move(help)) {}

void counter_family::add(const metric_labels& labels, double value) {
  auto key = label_text(labels);
  std::lock_guard guard{mtx_};
  value_slot(key) += value;
}

gauge_family::gauge_family(metric_registry& registry, std::string name, std::string help)
  : metric_family(registry, std::move(name), kind::gauge, std::move(help)) {}

void gauge_family::set(const metric_labels& labels, double value) {
  auto key = label_text(labels);
  std::lock_guard guard{mtx_};
  value_slot(key) = value;
}

histogram_family::histogram_family(metric_registry& registry, std::string name, std::string help)
  : metric_family(registry, std::move(name), kind::histogram, std::move(help)) {}

void histogram_family::observe(const metric_labels& labels, double seconds) {
  auto key = label_text(labels);
  std::lock_guard guard{mtx_};
  record(histogram_slot(key), seconds);
}

// -- integration_metrics ------------------------------------------------------------

integration_metrics::integration_metrics(metrics& m, service_kind kind)
  : m_(m), service_(to_string(kind)) {}

void integration_metrics::attempt_finished(std::string_view outcome, double seconds) {
  m_.integration_call_duration.observe({{"service", service_}}, seconds);
  m_.integration_calls.add({{"service", service_}, {"outcome", outcome}});
}

void integration_metrics::retried() { m_.integration_retries.add({{"service", service_}}); }

void integration_metrics::retry_suppressed() {
  m_.integration_retries_suppressed.add({{"service", service_}});
}

void integration_metrics::concurrency_limit(int limit) {
  m_.integration_concurrency_limit.set({{"service", service_}}, limit);
}

void integration_metrics::rejected() {
  m_.integration_calls.add({{"service", service_}, {"outcome", "rejected"}});
}

void integration_metrics::transition(circuit_state to) {
  m_.circuit_transitions.add({{"service", service_}, {"to", to_string(to)}});
}

void integration_metrics::state(circuit_state now) {
  m_.circuit_state.set({{"service", service_}}, gauge_value(now));
}

// -- metrics ------------------------------------------------------------------------

metrics::metrics() {
  std::sort(families_.begin(), families_.end(),
            [](const metric_family* a, const metric_family* b) { return a->name() < b->name(); });
  integrations_[0] = std::make_unique<integration_metrics>(*this, service_kind::payment);
  integrations_[1] = std::make_unique<integration_metrics>(*this, service_kind::notification);
}

std::string metrics::render() const {
  std::string out;
  out.reserve(8192);
  for (const auto* fam : families_)
    fam->render(out);
  return out;
}

} // namespace coffeeshop
