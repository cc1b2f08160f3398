// The menu file: any bytes as its content.

#include "coffeeshop/domain/menu.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // menu::load_file reads a path: one scratch file per process, rewritten per input. A char
  // array, not a std::string: it must outlive the atexit handler that removes the file.
  static char path[] = "/tmp/fuzz_menu_XXXXXX";
  static const bool made = [] {
    const int fd = ::mkstemp(path);
    if (fd < 0)
      std::abort();
    ::close(fd);
    std::atexit([] { std::remove(path); });
    return true;
  }();
  (void)made;
  std::FILE* f = std::fopen(path, "wb");
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
