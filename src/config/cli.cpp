// Command-line parsing of coffeeshopd (CONTRACT §1). Hand-written: six options do not justify
// a dependency, and the error texts are part of the user interface.

#include "coffeeshop/cli.hpp"

#include <string_view>

namespace coffeeshop {

namespace {

/// Splits "--name=value" into name and value; `has_value` tells "--name=" from "--name".
void split_option(std::string_view arg, std::string_view& name, std::string_view& value,
                  bool& has_value) {
  const std::size_t eq = arg.find('=');
  has_value = eq != std::string_view::npos;
  name = has_value ? arg.substr(0, eq) : arg;
  value = has_value ? arg.substr(eq + 1) : std::string_view();
}

/// A --set argument must be KEY=VALUE with a non-empty KEY (VALUE may be empty: "").
bool is_key_value(std::string_view s) {
  const std::size_t eq = s.find('=');
  return eq != std::string_view::npos && eq > 0;
}

} // namespace

std::optional<cli_options> parse_cli(int argc, const char* const* argv, std::string& error) {
  cli_options opts;
  for (int i = 0; i < argc; ++i) {
    const std::string_view arg = argv[i] != nullptr ? argv[i] : "";
    std::string_view name, value;
    bool has_value = false;
    split_option(arg, name, value, has_value);

    // Options with an argument take it inline (--x=V) or from the next word (--x V).
    auto take_value = [&](std::string_view& out) {
      if (has_value) {
        out = value;
        return true;
      }
      // A following option is not a value: "--config --check-config" forgot the file.
      if (i + 1 < argc && argv[i + 1] != nullptr &&
          std::string_view(argv[i + 1]).rfind("--", 0) != 0) {
        out = argv[++i];
        return true;
      }
      return false;
    };

    if (name == "--config") {
      std::string_view file;
      if (!take_value(file) || file.empty()) {
        error = "--config needs FILE";
        return std::nullopt;
      }
      if (opts.config_file) {
        error = "--config given more than once";
        return std::nullopt;
      }
      opts.config_file = std::string(file);
    } else if (name == "--set") {
      std::string_view kv;
      if (!take_value(kv) || !is_key_value(kv)) {
        error = "--set needs KEY=VALUE";
        return std::nullopt;
      }
      opts.overrides.emplace_back(kv);
    } else if (name == "--check-config" || name == "--print-config" || name == "--version" ||
               name == "--help" || name == "-h") {
      if (has_value) {
        error = std::string(name) + " takes no value";
        return std::nullopt;
      }
      if (name == "--check-config")
        opts.check_config = true;
      else if (name == "--print-config")
        opts.print_config = true;
      else if (name == "--version")
        opts.version = true;
      else
        opts.help = true;
    } else if (!arg.empty() && arg.front() == '-') {
      error = "unknown option " + std::string(name);
      return std::nullopt;
    } else {
      error = "unexpected argument " + std::string(arg);
      return std::nullopt;
    }
  }
  return opts;
}

std::string help_text() {
  return "Usage: coffeeshopd [--config FILE] [--set KEY=VALUE]... [--check-config] "
         "[--print-config] [--version] [--help]\n"
         "\n"
         "Coffee shop order daemon: HTTP API for orders, with supervised payment and\n"
         "notification integrations (retries, circuit breakers).\n"
         "\n"
         "Options:\n"
         "  --config FILE       read the JSON config FILE (any subset of keys)\n"
         "  --set KEY=VALUE     override one key by dotted path, e.g. --set http.threads=64;\n"
         "                      VALUE is JSON if it parses, else a string; repeatable\n"
         "  --check-config      validate the config, print \"ok\" or the errors, and exit\n"
         "  --print-config      print the effective config as JSON (secrets as \"***\") and exit\n"
         "  --version           print the version and exit\n"
         "  -h, --help          print this help and exit\n"
         "\n"
         "Configuration, later sources win:\n"
         "  1. built-in defaults (identical to config/coffeeshop.json)\n"
         "  2. the file given by --config, else the file named by $COFFEESHOP_CONFIG if set\n"
         "  3. each --set, in command-line order\n"
         "Unknown keys and invalid values are errors.\n"
         "\n"
         "Exit status:\n"
         "  0  clean shutdown (or --check-config ok, --print-config, --version, --help)\n"
         "  1  fatal runtime error (port in use, store cannot be opened, supervisor gave up)\n"
         "  2  usage or config error\n"
         "\n"
         "Signals: SIGTERM/SIGINT drain in-flight requests for up to shutdown.drain_timeout_ms,\n"
         "then exit 0; a second signal exits at once. SIGHUP re-reads --config and --set and\n"
         "applies what can change at run time (logging.level, admin.token, each service's\n"
         "timeouts, max_connections, retry, circuit_breaker and adaptive_concurrency); the\n"
         "log names what changed and what needs a restart.\n";
}

} // namespace coffeeshop
