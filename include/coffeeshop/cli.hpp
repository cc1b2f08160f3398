#pragma once

#include <optional>
#include <string>
#include <vector>

namespace coffeeshop {

/// What the command line asked for (CONTRACT §1).
struct cli_options {
  /// `--config FILE`; when absent, load_config falls back to $COFFEESHOP_CONFIG.
  std::optional<std::string> config_file;
  /// `--set KEY=VALUE` arguments in command-line order (later ones win).
  std::vector<std::string> overrides;
  bool check_config = false;
  bool print_config = false;
  bool version = false;
  bool help = false;
};

/// Parses argv (without argv[0]); on error returns nullopt and sets error
/// ("unknown option --foo", "--set needs KEY=VALUE").
std::optional<cli_options> parse_cli(int argc, const char* const* argv, std::string& error);

/// The --help text: usage line, every option, the config lookup order, exit codes.
std::string help_text();

} // namespace coffeeshop
