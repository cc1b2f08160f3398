// The menu file: any bytes as its content.

#include "coffeeshop/domain/menu.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // menu::load_file reads a path: one scratch file per process, rewritten per input.
  static const std::string path = [] {
    char name[] = "/tmp/fuzz_menu_XXXXXX";
    const int fd = ::mkstemp(name);
    if (fd < 0)
      std::abort();
    ::close(fd);
    std::atexit([] { std::remove(path.c_str()); });
    return std::string{name};
  }();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort();
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  std::string error;
  auto m = coffeeshop::menu::load_file(path, error);
  if (!m && error.empty())
    std::abort(); // a refused menu always says why
  return 0;
}
