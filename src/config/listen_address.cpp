// HOST:PORT parsing shared by http.listen and coffeeshop-sim --listen.

#include "coffeeshop/config.hpp"

#include <cctype>

namespace coffeeshop {

namespace {

bool all_of(std::string_view s, bool (*pred)(char)) {
  for (char c : s)
    if (!pred(c))
      return false;
  return true;
}

bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }
bool is_ipv4_char(char c) { return is_digit(c) || c == '.'; }
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}
bool is_ipv6_char(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0 || c == ':' || c == '.';
}

/// Dotted quad with every octet 0..255.
bool is_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = s.find('.', start);
    std::string_view octet = s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (octet.empty() || octet.size() > 3 || !all_of(octet, is_digit))
      return false;
    if (std::stoi(std::string(octet)) > 255)
      return false;
    ++parts;
    if (dot == std::string_view::npos)
      break;
    start = dot + 1;
  }
  return parts == 4;
}

} // namespace

std::optional<listen_address> parse_listen_address(std::string_view text, std::string& error) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    error = "expected HOST:PORT";
    return std::nullopt;
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);

  const bool bracketed = !host.empty() && host.front() == '[';
  if (bracketed) {
    if (host.size() < 3 || host.back() != ']' ||
        !all_of(host.substr(1, host.size() - 2), is_ipv6_char)) {
      error = "host must be an IPv4 address, a host name or [IPv6]";
      return std::nullopt;
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.empty()) {
    error = "host must not be empty";
    return std::nullopt;
  } else if (all_of(host, is_ipv4_char) ? !is_ipv4(host) : !all_of(host, is_name_char)) {
    // Digits and dots only must be a real dotted quad: "127.0.0" is a typo, not a name.
    error = "host must be an IPv4 address, a host name or [IPv6]";
    return std::nullopt;
  }

  if (port.empty() || port.size() > 5 || !all_of(port, is_digit) ||
      std::stol(std::string(port)) > 65535) {
    error = "port must be an integer in 0..65535";
    return std::nullopt;
  }
  return listen_address{std::string(host), static_cast<uint16_t>(std::stol(std::string(port)))};
}

std::string format_listen_address(const std::string& host, uint16_t port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

} // namespace coffeeshop
