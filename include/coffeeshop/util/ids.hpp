#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace coffeeshop {

/// A random RFC 4122 version-4 UUID in canonical text form.
std::string make_uuid();

/// A sortable order id: "ord_" + 12 hex of creation ms + 8 random hex.
std::string make_order_id();

/// A random, non-zero span id: 16 lowercase hex.
std::string make_span_id();

/// W3C trace context (traceparent `00-<32 hex trace>-<16 hex span>-<2 hex flags>`).
struct trace_context {
  std::string trace_id; // 32 lowercase hex
  std::string span_id;  // 16 lowercase hex
  std::string flags = "01";

  /// Parses a traceparent header; an invalid one (wrong shape, all-zero ids,
  /// version ff) yields a fresh context.
  static trace_context from_header_or_new(std::string_view traceparent);

  /// Parses a traceparent header; nullopt when it is invalid (as above).
  static std::optional<trace_context> parse(std::string_view traceparent);

  /// A fresh trace with a fresh span.
  static trace_context make_new();

  /// The same trace with a new span id (for an outgoing call or a server span).
  trace_context child() const;

  std::string to_header() const;
};

/// Masks an e-mail address for logs and events: "ana@example.com" -> "a***@example.com".
std::string mask_email(std::string_view email);

} // namespace coffeeshop
