#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coffeeshop {

/// Label set of one series, in the order given: {{"service","payment"}}.
using metric_labels = std::vector<std::pair<std::string_view, std::string_view>>;

/// Counters, gauges and histograms rendered as Prometheus text format 0.0.4.
/// Families are declared up front so every HELP/TYPE line is present even
/// before a series has a value. Safe to call from any thread.
class metrics {
public:
  enum class kind { counter, gauge, histogram };

  /// Declares the coffeeshop_* families of CONTRACT §3.5.
  metrics();

  void add(std::string_view family, const metric_labels& labels, double value = 1.0);
  void set(std::string_view family, const metric_labels& labels, double value);
  void observe(std::string_view family, const metric_labels& labels, double seconds);

  /// The /metrics body.
  std::string render() const;

private:
  struct histogram_data {
    std::vector<uint64_t> buckets; // cumulative counts are computed at render
    uint64_t count = 0;
    double sum = 0;
  };
  struct family {
    std::string help;
    kind type = kind::counter;
    // One lock per family: HTTP threads and actors update different families
    // at the same time without queueing on one global lock.
    mutable std::mutex mtx;
    std::map<std::string, double, std::less<>> values;            // label text -> value
    std::map<std::string, histogram_data, std::less<>> histograms; // label text -> data
  };

  void declare(std::string name, kind type, std::string help);
  family& find(std::string_view name);

  // Filled by the constructor and never changed after: looked up without a lock.
  std::map<std::string, family, std::less<>> families_;
};

} // namespace coffeeshop
