// Errors: every failure the user can cause (bad files, bad options, bad data) is an r1::Error
// carrying one line that names the file, line or field and what was wrong. The CLI prints it
// as "r1: error: <message>" and exits non-zero.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace r1 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

// Internal invariants (programming errors, not user errors).
#define R1_CHECK(cond)                                                                              \
  do {                                                                                              \
    if (!(cond)) ::r1::fail("internal error: check failed: {} ({}:{})", #cond, __FILE__, __LINE__); \
  } while (0)

}  // namespace r1
