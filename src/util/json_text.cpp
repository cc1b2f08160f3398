#include "coffeeshop/util/json_text.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <string_view>

namespace coffeeshop {

namespace {

void append_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else {
          out += ch; // UTF-8 passes through unchanged, as in boost::json::serialize
        }
    }
  }
  out += '"';
}

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null"; // JSON has no NaN or infinity
    return;
  }
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, d);
  const std::string_view text(buffer, static_cast<std::size_t>(result.ptr - buffer));
  out += text;
  // Keep a visible fraction (4 -> 4.0) so the number reads as an amount.
  if (text.find_first_of(".e") == std::string_view::npos)
    out += ".0";
}

void newline(std::string& out, bool pretty, int depth) {
  if (!pretty)
    return;
  out += '\n';
  out.append(static_cast<std::size_t>(depth) * 2, ' ');
}

void append_json(std::string& out, const boost::json::value& v, bool pretty, int depth) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: append_double(out, v.get_double()); break;
    case boost::json::kind::string: append_escaped(out, v.get_string()); break;
    case boost::json::kind::array: {
      const auto& arr = v.get_array();
      if (arr.empty()) {
        out += "[]";
        break;
      }
      out += '[';
      bool first = true;
      for (const auto& element : arr) {
        if (!first)
          out += ',';
        first = false;
        newline(out, pretty, depth + 1);
        append_json(out, element, pretty, depth + 1);
      }
      newline(out, pretty, depth);
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      const auto& obj = v.get_object();
      if (obj.empty()) {
        out += "{}";
        break;
      }
      out += '{';
      bool first = true;
      for (const auto& member : obj) {
        if (!first)
          out += ',';
        first = false;
        newline(out, pretty, depth + 1);
        append_escaped(out, member.key());
        out += pretty ? ": " : ":";
        append_json(out, member.value(), pretty, depth + 1);
      }
      newline(out, pretty, depth);
      out += '}';
      break;
    }
  }
}

} // namespace

std::string to_json_text(const boost::json::value& v, bool pretty) {
  std::string out;
  out.reserve(256);
  append_json(out, v, pretty, 0);
  return out;
}

} // namespace coffeeshop
