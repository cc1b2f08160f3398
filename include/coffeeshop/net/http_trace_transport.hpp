#pragma once

#include "coffeeshop/telemetry/otlp_exporter.hpp"

#include <memory>

namespace coffeeshop::net {

/// The exporter's transport in the daemon: one keep-alive upstream_client connection
/// to the collector, used by the export thread only.
std::unique_ptr<trace_transport> make_http_trace_transport();

} // namespace coffeeshop::net
