#pragma once

// LeakSanitizer for processes that leave through std::_Exit, which skips the atexit
// handler where LSan normally runs its check.

#if defined(__SANITIZE_ADDRESS__) // GCC with -fsanitize=address
#define COFFEESHOP_LEAK_CHECK 1
#elif defined(__has_feature) // clang
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define COFFEESHOP_LEAK_CHECK 1
#endif
#endif

#ifdef COFFEESHOP_LEAK_CHECK
#include <sanitizer/lsan_interface.h>
#endif

namespace coffeeshop {

/// In a build with AddressSanitizer or LeakSanitizer: runs the leak check now, while the
/// process's objects are still alive and reachable from its stacks and globals. When
/// something leaked it prints the report and ends the process non-zero (ASan's `exitcode`,
/// 1 by default; SIGABRT with `abort_on_error=1`; 23 under LSan alone). Does nothing with
/// `detect_leaks=0` or in other builds. Call right before std::_Exit.
inline void leak_check_before_exit() {
#ifdef COFFEESHOP_LEAK_CHECK
  __lsan_do_leak_check();
#endif
}

} // namespace coffeeshop
