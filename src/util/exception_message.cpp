#include "coffeeshop/util/exception_message.hpp"

namespace coffeeshop {

std::string exception_message(std::exception_ptr ep) {
  try {
    if (ep)
      std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
  }
  return "unknown exception";
}

} // namespace coffeeshop
