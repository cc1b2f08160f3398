#include "coffeeshop/util/ids.hpp"

#include "coffeeshop/util/clock.hpp"

#include <array>
#include <random>

namespace coffeeshop {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

/// One generator per thread: no lock on the hot path, and seeding from
/// random_device keeps ids unpredictable across threads and restarts.
std::mt19937_64& rng() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::array<std::random_device::result_type, 8> words{};
    for (auto& w : words)
      w = device();
    std::seed_seq seed(words.begin(), words.end());
    return std::mt19937_64(seed);
  }();
  return engine;
}

/// Appends the low `count` hex digits of `value`, most significant first.
void append_hex(std::string& out, uint64_t value, int count) {
  for (int shift = (count - 1) * 4; shift >= 0; shift -= 4)
    out += hex_digits[(value >> shift) & 0xF];
}

bool is_lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

bool all_zero(std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; }

/// `count` random hex digits that are not all zero (W3C forbids all-zero ids).
std::string random_nonzero_hex(int count) {
  std::string out;
  out.reserve(static_cast<std::size_t>(count));
  for (;;) {
    out.clear();
    for (int left = count; left > 0; left -= 16)
      append_hex(out, rng()(), left < 16 ? left : 16);
    if (!all_zero(out))
      return out;
  }
}

} // namespace

std::string make_uuid() {
  uint64_t hi = rng()();
  uint64_t lo = rng()();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull; // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull; // RFC 4122 variant
  std::string out;
  out.reserve(36);
  append_hex(out, hi >> 32, 8);
  out += '-';
  append_hex(out, hi >> 16, 4);
  out += '-';
  append_hex(out, hi, 4);
  out += '-';
  append_hex(out, lo >> 48, 4);
  out += '-';
  append_hex(out, lo, 12);
  return out;
}

std::string make_order_id() {
  // Fixed-width hex of the creation time first, so ids sort by creation
  // millisecond as plain strings; the random tail separates same-ms orders.
  std::string out = "ord_";
  out.reserve(24);
  append_hex(out, static_cast<uint64_t>(now_ms()), 12);
  append_hex(out, rng()(), 8);
  return out;
}

std::optional<trace_context> trace_context::parse(std::string_view header) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t'))
    header.remove_prefix(1);
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t'))
    header.remove_suffix(1);
  // version(2)-trace(32)-span(16)-flags(2), lowercase hex only.
  if (header.size() != 55 || header[2] != '-' || header[35] != '-' || header[52] != '-')
    return std::nullopt;
  const auto version = header.substr(0, 2);
  const auto trace = header.substr(3, 32);
  const auto span = header.substr(36, 16);
  const auto flags = header.substr(53, 2);
  if (!is_lower_hex(version) || !is_lower_hex(trace) || !is_lower_hex(span) ||
      !is_lower_hex(flags) || version == "ff" || all_zero(trace) || all_zero(span))
    return std::nullopt;
  trace_context ctx;
  ctx.trace_id = std::string(trace);
  ctx.span_id = std::string(span);
  ctx.flags = std::string(flags);
  return ctx;
}

trace_context trace_context::from_header_or_new(std::string_view header) {
  auto ctx = parse(header);
  return ctx ? std::move(*ctx) : make_new();
}

std::string make_span_id() { return random_nonzero_hex(16); }

trace_context trace_context::make_new() {
  trace_context ctx;
  ctx.trace_id = random_nonzero_hex(32);
  ctx.span_id = random_nonzero_hex(16);
  return ctx;
}

trace_context trace_context::child() const {
  trace_context ctx;
  ctx.trace_id = trace_id;
  ctx.span_id = random_nonzero_hex(16);
  ctx.flags = flags;
  return ctx;
}

std::string trace_context::to_header() const {
  return "00-" + trace_id + "-" + span_id + "-" + flags;
}

std::string mask_email(std::string_view email) {
  const auto at = email.rfind('@');
  if (at == std::string_view::npos)
    return "***";
  std::string out;
  if (at > 0) {
    // Keep the whole first UTF-8 character, so the log line stays valid UTF-8.
    std::size_t len = 1;
    while (len < at && (static_cast<unsigned char>(email[len]) & 0xC0) == 0x80)
      ++len;
    out.append(email.substr(0, len));
  }
  out += "***";
  out.append(email.substr(at));
  return out;
}

} // namespace coffeeshop
