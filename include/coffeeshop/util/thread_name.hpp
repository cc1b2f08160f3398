#pragma once

#include <pthread.h>

namespace coffeeshop {

/// Names the calling thread as `top -H`, `ps -L` and /proc/PID/task/TID/comm show it, so an
/// operator (and bench/) can tell which of the daemon's threads spends what. Linux keeps at
/// most 15 characters; a longer name is left unset rather than cut.
inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

} // namespace coffeeshop
