// Our own JSON writer: boost::json::serialize prints doubles as "5E-1", which reads badly in
// --print-config output and in error messages, and it has no pretty mode.

#include "config_tree.hpp"

#include <charconv>
#include <cmath>

namespace coffeeshop::config_detail {
namespace json = boost::json;

namespace {

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) { // not representable in JSON; Boost.JSON never yields these anyway
    out += "null";
    return;
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  std::string_view text(buf, static_cast<std::size_t>(res.ptr - buf));
  out += text;
  // Keep it visibly a floating-point number ("1.0", not "1").
  if (text.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

void newline(std::string& out, bool pretty, int depth) {
  if (!pretty) return;
  out += '\n';
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

void write_value(std::string& out, const json::value& v, bool pretty, int depth) {
  switch (v.kind()) {
  case json::kind::null: out += "null"; break;
  case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
  case json::kind::int64: out += std::to_string(v.get_int64()); break;
  case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
  case json::kind::double_: write_double(out, v.get_double()); break;
  case json::kind::string: out += json::serialize(v.get_string()); break;
  case json::kind::array: {
    const auto& arr = v.get_array();
    if (arr.empty()) { out += "[]"; break; }
    out += '[';
    bool first = true;
    for (const auto& item : arr) {
      if (!first) out += ',';
      first = false;
      newline(out, pretty, depth + 1);
      write_value(out, item, pretty, depth + 1);
    }
    newline(out, pretty, depth);
    out += ']';
    break;
  }
  case json::kind::object: {
    const auto& obj = v.get_object();
    if (obj.empty()) { out += "{}"; break; }
    out += '{';
    bool first = true;
    for (const auto& member : obj) {
      if (!first) out += ',';
      first = false;
      newline(out, pretty, depth + 1);
      out += json::serialize(json::string_view(member.key()));
      out += pretty ? ": " : ":";
      write_value(out, member.value(), pretty, depth + 1);
    }
    newline(out, pretty, depth);
    out += '}';
    break;
  }
  }
}

} // namespace

std::string to_json_text(const json::value& v, bool pretty) {
  std::string out;
  write_value(out, v, pretty, 0);
  return out;
}

std::string describe_value(const json::value& v) {
  // Long values (a whole object pasted into the wrong key) would drown the message.
  constexpr std::size_t max_len = 80;
  std::string text = to_json_text(v, false);
  if (text.size() > max_len) text = text.substr(0, max_len) + "...";
  return text;
}

} // namespace coffeeshop::config_detail
