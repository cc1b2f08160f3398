#include "daemon.hpp"

#include "coffeeshop/cli.hpp"
#include "coffeeshop/config.hpp"
#include "coffeeshop/domain/menu.hpp"

#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  using namespace coffeeshop;
  std::string error;
  auto opts = parse_cli(argc - 1, argv + 1, error);
  if (!opts) {
    std::cerr << "coffeeshopd: " << error << "\nTry 'coffeeshopd --help'.\n";
    return 2;
  }
  if (opts->help) {
    std::cout << help_text();
    return 0;
  }
  if (opts->version) {
    std::cout << "coffeeshopd " << COFFEESHOP_VERSION_STRING << '\n';
    return 0;
  }
  auto loaded = load_config(opts->config_file, opts->overrides);
  if (!loaded.value) {
    for (const auto& e : loaded.errors)
      std::cerr << e << '\n';
    return 2;
  }
  // The menu file is part of the config: one the daemon cannot load is a config error
  // (exit 2), found by --check-config too, not only at start.
  if (loaded.value->menu != "built-in") {
    std::string menu_error;
    if (!menu::load_file(loaded.value->menu, menu_error)) {
      std::cerr << "config: menu: cannot load the menu file " << menu_error << '\n';
      return 2;
    }
  }
  if (opts->check_config) {
    std::cout << "ok\n";
    return 0;
  }
  if (opts->print_config) {
    std::cout << print_config(*loaded.value) << '\n';
    return 0;
  }
  // SIGHUP reads the same file with the same overrides again.
  return run_daemon(*loaded.value, [opts = *opts] {
    return load_config(opts.config_file, opts.overrides);
  });
}
