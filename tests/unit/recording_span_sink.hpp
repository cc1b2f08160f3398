#pragma once

#include "coffeeshop/telemetry/span.hpp"

#include <mutex>
#include <vector>

namespace coffeeshop::testing {

/// The one fake of span_sink: keeps every span submitted, from any thread.
class recording_span_sink final : public span_sink {
public:
  void submit(span s) override {
    std::lock_guard<std::mutex> lk(mtx_);
    spans_.push_back(std::move(s));
  }

  std::vector<span> spans() const {
    std::lock_guard<std::mutex> lk(mtx_);
    return spans_;
  }

private:
  mutable std::mutex mtx_;
  std::vector<span> spans_;
};

} // namespace coffeeshop::testing
