#pragma once

// Internal to src/config: the JSON-tree steps behind load_config and print_config.
// The effective config is built as a boost::json tree first (defaults <- file <- --set) and
// validated into the `config` struct in one pass, so that every error is reported at once.

#include "coffeeshop/config.hpp"

#include <boost/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace coffeeshop::config_detail {

/// The built-in defaults as a JSON tree (the same content as config/coffeeshop.json). Its keys
/// are the known keys: merge_tree reports any other as unknown.
boost::json::object default_config_tree();

/// Merges `patch` into `base` (both rooted at `prefix`, "" for the root). Keys absent from
/// `base` are reported as unknown; a section (object) can only be patched by an object.
void merge_tree(boost::json::object& base, const boost::json::object& patch,
                const std::string& prefix, std::vector<std::string>& errors);

/// Applies one `a.b.c=VALUE` override to `root`; returns false (and adds errors) on failure.
bool apply_override(boost::json::object& root, std::string_view spec,
                    std::vector<std::string>& errors);

/// Validates a merged tree (shape of the defaults) into a config, collecting every error.
config_result validate_tree(const boost::json::object& root);

/// How config_to_tree renders secrets (admin.token).
enum class secrets { masked, shown };

/// The config as a JSON tree in the shape of config/coffeeshop.json; masked secrets read "***".
boost::json::object config_to_tree(const config& cfg, secrets how);

/// A short rendering of an offending value for an error message.
std::string describe_value(const boost::json::value& v);

} // namespace coffeeshop::config_detail
