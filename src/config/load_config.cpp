// load_config: defaults <- JSON file ($COFFEESHOP_CONFIG when no file is given) <- --set
// overrides, then validation. Errors are values; nothing throws out of here.

#include "config_tree.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

namespace coffeeshop {
namespace {

namespace json = boost::json;

/// Reads a whole file; on failure returns false and sets `error` to the OS reason.
bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    error = std::strerror(errno);
    return false;
  }
  char buf[8192];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    out.append(buf, n);
  const bool failed = std::ferror(f) != 0; // e.g. EISDIR: fopen succeeds on a directory
  const int saved = errno;
  std::fclose(f);
  if (failed) {
    error = std::strerror(saved);
    return false;
  }
  return true;
}

/// Parses `text` as a JSON object; errors name the file and, for syntax errors, the line.
bool parse_file(const std::string& path, const std::string& text, json::object& out,
                std::vector<std::string>& errors) {
  json::stream_parser parser;
  boost::system::error_code ec;
  // write_some stops at the offending character, so its count locates the error.
  std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    ec = json::error::extra_data;
  } else if (!ec) {
    parser.finish(ec);
  }
  if (ec) {
    const long line = 1 + static_cast<long>(
                            std::count(text.begin(),
                                       text.begin() + static_cast<std::ptrdiff_t>(consumed), '\n'));
    errors.push_back("config: " + path + ": invalid JSON at line " + std::to_string(line) + ": " +
                     ec.message());
    return false;
  }
  json::value v = parser.release();
  if (!v.is_object()) {
    errors.push_back("config: " + path + ": expected a JSON object at the top level, got " +
                     config_detail::describe_value(v));
    return false;
  }
  out = std::move(v.get_object());
  return true;
}

config_result load_config_impl(const std::optional<std::string>& file,
                               const std::vector<std::string>& overrides) {
  std::vector<std::string> errors;
  json::object tree = config_detail::default_config_tree();

  std::optional<std::string> path = file;
  if (!path) {
    const char* env = std::getenv("COFFEESHOP_CONFIG");
    if (env != nullptr && *env != '\0')
      path = env;
  }
  if (path) {
    std::string text, reason;
    json::object patch;
    if (!read_file(*path, text, reason))
      errors.push_back("config: " + *path + ": cannot read: " + reason);
    else if (parse_file(*path, text, patch, errors))
      config_detail::merge_tree(tree, patch, "", errors);
    // An unusable file still lets the overrides and the rest be checked, so that one run
    // reports everything; the result carries no value either way.
  }

  for (const auto& spec : overrides)
    config_detail::apply_override(tree, spec, errors);

  config_result result = config_detail::validate_tree(tree);
  if (!errors.empty()) {
    errors.insert(errors.end(), result.errors.begin(), result.errors.end());
    result.errors = std::move(errors);
    result.value.reset();
  }
  return result;
}

} // namespace

config_result load_config(const std::optional<std::string>& file,
                          const std::vector<std::string>& overrides) {
  try {
    return load_config_impl(file, overrides);
  } catch (const std::exception& e) { // allocation failure and the like: still a value
    config_result r;
    r.errors.push_back(std::string("config: internal error: ") + e.what());
    return r;
  }
}

} // namespace coffeeshop
