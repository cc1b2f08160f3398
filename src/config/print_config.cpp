// print_config: the effective config as JSON in the shape of config/coffeeshop.json, so that
// its output can be saved and loaded again (--print-config > my.json). The tree is rendered by
// walking the key table of config_schema.hpp.

#include "config_schema.hpp"
#include "config_tree.hpp"

#include "coffeeshop/store/postgres_store.hpp"
#include "coffeeshop/util/json_text.hpp"

#include <utility>

namespace coffeeshop {
namespace config_detail {
namespace json = boost::json;

namespace {

/// The visitor of config_schema.hpp that writes each row's value into a JSON tree. Limits are
/// the reader's business; they are accepted and ignored here.
class tree_writer {
public:
  tree_writer(json::object& root, secrets how) : section_(&root), secrets_(how) {}

  template <class Body>
  void section(const char* key, Body&& body) {
    json::object* outer = std::exchange(section_, &(*section_)[key].emplace_object());
    body();
    section_ = outer;
  }

  template <class T>
  void integer(const char* key, const T& value, int_range, order_rule = {}) {
    (*section_)[key] = value;
  }

  void boolean(const char* key, bool value) { (*section_)[key] = value; }
  void string(const char* key, const std::string& value) { (*section_)[key] = value; }

  template <class Enum>
  void choice(const char* key, Enum value, name_list names) {
    (*section_)[key] = names[static_cast<std::size_t>(value)];
  }

  void choice(const char* key, const std::string& value, name_list) { (*section_)[key] = value; }

  void url(const char* key, const std::string& value) { (*section_)[key] = value; }

  void nullable_url(const char* key, const std::optional<std::string>& value) {
    (*section_)[key] = value ? json::value(*value) : json::value(nullptr);
  }

  void nullable_integer(const char* key, const std::optional<int64_t>& value, int_range) {
    (*section_)[key] = value ? json::value(*value) : json::value(nullptr);
  }

  void ratio(const char* key, const std::optional<double>& value) {
    (*section_)[key] = value ? json::value(*value) : json::value(nullptr);
  }

  void secret(const char* key, const std::optional<std::string>& value) {
    // Masked, a secret shows only whether one is set.
    if (!value)
      (*section_)[key] = nullptr;
    else
      (*section_)[key] = secrets_ == secrets::masked ? "***" : *value;
  }

  void nullable_string(const char* key, const std::optional<std::string>& value) {
    (*section_)[key] = value ? json::value(*value) : json::value(nullptr);
  }

  void db_url(const char* key, const std::optional<std::string>& value) {
    if (!value)
      (*section_)[key] = nullptr;
    else
      (*section_)[key] = secrets_ == secrets::masked ? redact_db_url(*value) : *value;
  }

  void listen(const char* key, const std::string& host, uint16_t port) {
    (*section_)[key] = format_listen_address(host, port);
  }

private:
  json::object* section_;
  secrets secrets_;
};

} // namespace

json::object config_to_tree(const config& cfg, secrets how) {
  json::object root;
  tree_writer w(root, how);
  visit_config(w, cfg);
  return root;
}

} // namespace config_detail

std::string print_config(const config& cfg) {
  return to_json_text(config_detail::config_to_tree(cfg, config_detail::secrets::masked), true) +
         "\n";
}

} // namespace coffeeshop
