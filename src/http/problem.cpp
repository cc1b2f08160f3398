#include "problem.hpp"

#include "coffeeshop/util/clock.hpp"

#include "coffeeshop/util/json_text.hpp"
#include <httplib.h>

namespace coffeeshop {

namespace {

/// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no
/// surrogates, nothing past U+10FFFF), or 0 when the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto c = b(0);
  if (c < 0x80)
    return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF; // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0)
      lo = 0xA0;
    else if (c == 0xED)
      hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0)
      lo = 0x90;
    else if (c == 0xF4)
      hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size() || b(1) < lo || b(1) > hi)
    return 0;
  for (std::size_t k = 2; k < n; ++k)
    if ((b(k) & 0xC0) != 0x80)
      return 0;
  return n;
}

/// `s` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (auto n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

/// Makes every string in `v` valid UTF-8 (member names included).
void make_valid_utf8(boost::json::value& v) {
  if (auto* str = v.if_string()) {
    if (!is_valid_utf8(*str))
      *str = valid_utf8(*str);
  } else if (auto* arr = v.if_array()) {
    for (auto& e : *arr)
      make_valid_utf8(e);
  } else if (auto* obj = v.if_object()) {
    boost::json::object fixed;
    for (auto& kv : *obj) {
      make_valid_utf8(kv.value());
      fixed[is_valid_utf8(kv.key()) ? std::string(kv.key()) : valid_utf8(kv.key())] = std::move(
        kv.value());
    }
    *obj = std::move(fixed);
  }
}

} // namespace

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto n = utf8_sequence(s, i);
    if (n == 0)
      return false;
    i += n;
  }
  return true;
}

void write_problem(httplib::Response& res, const problem& p, const std::string& instance,
                   const std::string& trace_id) {
  boost::json::object body;
  body["type"] = "https://coffeeshop.dev/problems/" + p.error_type;
  body["title"] = p.title;
  body["status"] = p.status;
  body["detail"] = p.detail;
  body["instance"] = instance;
  body["traceId"] = trace_id;
  body["errorType"] = p.error_type;
  body["timestamp"] = format_rfc3339(now_ms());
  for (const auto& kv : p.extensions)
    body[kv.key()] = kv.value();
  // The instance and details echo the request (its path is percent-decoded by httplib, so
  // "%ff" arrives as a raw byte): the reply must stay valid UTF-8 JSON (RFC 8259 §8.1).
  boost::json::value whole = std::move(body);
  make_valid_utf8(whole);
  res.status = p.status;
  if (p.retry_after_s > 0)
    res.set_header("Retry-After", std::to_string(p.retry_after_s));
  res.set_content(to_json_text(whole), "application/problem+json");
}

} // namespace coffeeshop
