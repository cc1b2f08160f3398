// Layering of config sources onto the defaults tree: a file (any subset of keys) and
// `--set a.b.c=VALUE` overrides. The defaults tree is the schema: a key it does not have is
// unknown, so typos are reported instead of silently ignored.

#include "config_tree.hpp"

#include "coffeeshop/util/json_fields.hpp"

namespace coffeeshop::config_detail {
namespace json = boost::json;

namespace {

/// Splits "a.b.c" into its segments; false if any segment is empty.
bool split_path(std::string_view path, std::vector<std::string_view>& out) {
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    std::string_view seg = path.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (seg.empty())
      return false;
    out.push_back(seg);
    if (dot == std::string_view::npos)
      return true;
    start = dot + 1;
  }
}

} // namespace

void merge_tree(json::object& base, const json::object& patch, const std::string& prefix,
                std::vector<std::string>& errors) {
  for (const auto& member : patch) {
    const std::string path = field_path(prefix, member.key());
    json::value* target = base.if_contains(member.key());
    if (target == nullptr) {
      errors.push_back("config: " + path + ": unknown key");
      continue;
    }
    if (target->is_object()) {
      // A section: replacing it wholesale would lose the defaults of its other keys.
      if (const json::object* sub = member.value().if_object())
        merge_tree(target->get_object(), *sub, path, errors);
      else
        errors.push_back("config: " + path + ": expected an object, got " +
                         describe_value(member.value()));
      continue;
    }
    *target = member.value(); // a leaf: its type and range are checked by validate_tree
  }
}

bool apply_override(json::object& root, std::string_view spec, std::vector<std::string>& errors) {
  const std::size_t eq = spec.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    errors.push_back("config: --set " +
                     json::serialize(json::string_view(spec.data(), spec.size())) +
                     ": expected KEY=VALUE");
    return false;
  }
  const std::string_view key = spec.substr(0, eq);
  const std::string_view text = spec.substr(eq + 1);

  std::vector<std::string_view> segments;
  if (!split_path(key, segments)) {
    errors.push_back("config: " + std::string(key) + ": invalid key path");
    return false;
  }

  // VALUE is JSON when it parses (numbers, booleans, null, quoted strings, objects), else it is
  // taken literally as a string, so `--set http.listen=127.0.0.1:9000` needs no quoting.
  boost::system::error_code ec;
  json::value parsed = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec)
    parsed = json::string(text.data(), text.size());

  json::object* section = &root;
  std::string path;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string_view seg = segments[i];
    path = field_path(path, seg);
    json::value* target = section->if_contains(json::string_view(seg.data(), seg.size()));
    if (target == nullptr) {
      errors.push_back("config: " + path + ": unknown key");
      return false;
    }
    const bool last = i + 1 == segments.size();
    if (!last) {
      if (!target->is_object()) { // e.g. http.threads.x: threads has no sub-keys
        errors.push_back("config: " + field_path(path, segments[i + 1]) + ": unknown key");
        return false;
      }
      section = &target->get_object();
      continue;
    }
    if (target->is_object()) {
      if (const json::object* sub = parsed.if_object()) {
        const std::size_t before = errors.size();
        merge_tree(target->get_object(), *sub, path, errors);
        return errors.size() == before;
      }
      errors.push_back("config: " + path + ": expected an object, got " + describe_value(parsed));
      return false;
    }
    *target = std::move(parsed);
  }
  return true;
}

} // namespace coffeeshop::config_detail
