// Helpers shared by the test files, so each file does not keep its own copy.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace r1::testing {

// The shared fixtures (real models, tokenizers, data sets, llama.cpp's tokenizer vectors): the
// directory $R1_SHARED_DIR names when it is set, else ../shared beside the checkout
// (R1_SHARED_DIR_DEFAULT, from tests/CMakeLists.txt). They may be absent (a user's fresh clone;
// scripts/test.sh's second pass points R1_SHARED_DIR at a missing directory), so every test that
// reads them starts with R1_SKIP_UNLESS_SHARED.
inline std::string shared_dir() {
  const char* env = std::getenv("R1_SHARED_DIR");
  return env && *env ? std::string(env) : std::string(R1_SHARED_DIR_DEFAULT);
}

// The fixture at rel (a path relative to shared_dir(), e.g. "models/stories260K").
inline std::string shared_path(const std::string& rel) {
  return shared_dir() + "/" + rel;
}

// Whether every one of paths exists; each is relative to shared_dir() or already absolute (as
// shared_path gives). Otherwise *why names the first that is missing.
inline bool have_shared(const std::vector<std::string>& paths, std::string* why = nullptr) {
  for (const std::string& p : paths) {
    const std::string full = std::filesystem::path(p).is_absolute() ? p : shared_path(p);
    std::error_code ec;
    if (!std::filesystem::exists(full, ec)) {
      if (why)
        *why = "shared fixture " + full + " is absent (the fixtures are ../shared beside the checkout, or " +
               "$R1_SHARED_DIR)";
      return false;
    }
  }
  return true;
}

// Skips the running test, with a message naming the missing path, unless every path given (as
// have_shared takes them) exists: R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf").
// Fixtures are not oracles: a missing fixture skips under CI=true too.
#define R1_SKIP_UNLESS_SHARED(...)                                                               \
  do {                                                                                           \
    std::string r1_skip_why_;                                                                    \
    if (!::r1::testing::have_shared({__VA_ARGS__}, &r1_skip_why_)) GTEST_SKIP() << r1_skip_why_; \
  } while (0)

// Whether the suite runs under CI (CI=true). There a test whose oracle is missing (python3-torch,
// python3-jinja2: scripts/install-deps.sh installs them) fails, so that CI cannot pass by
// comparing with nothing; on a user's machine it skips (R1_SKIP_WITHOUT_ORACLE).
inline bool under_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string_view(ci) == "true";
}

#define R1_SKIP_WITHOUT_ORACLE(why)                                                                       \
  do {                                                                                                    \
    const std::string r1_oracle_why_ = (why);                                                             \
    if (::r1::testing::under_ci()) FAIL() << r1_oracle_why_ << " (under CI=true a missing oracle fails)"; \
    GTEST_SKIP() << r1_oracle_why_;                                                                       \
  } while (0)

// A fresh, empty directory R1_TEST_TMP/<suite>.<test> for the running test. One per test, so
// tests never see each other's files (ctest may run them in parallel) nor leftovers of an earlier
// run. Calling it again in the same test empties it again. '/' in parameterised names
// becomes '_' to keep it one directory. Made with std::filesystem rather than r1::make_dirs,
// which is itself under test.
inline std::string scratch_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  std::replace(name.begin(), name.end(), '/', '_');
  const std::string dir = std::string(R1_TEST_TMP) + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Writes content to path byte for byte and returns path. A plain write, not
// r1::write_file_atomic: that is under test, and the fsync would slow tests that write
// hundreds of small files.
inline std::string write_file(const std::string& path, std::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  EXPECT_FALSE(out.fail()) << "cannot write " << path;
  return path;
}

// A file's bytes ("" when it cannot be read).
inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Sets an environment variable for the scope (r1 children started meanwhile inherit it).
struct ScopedEnv {
  std::string name;
  ScopedEnv(std::string n, const std::string& value) : name(std::move(n)) {
    setenv(name.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name.c_str()); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
};

// The message of the r1::Error that f throws; a test failure (and "") if it throws none.
// Lets a test compare the whole message.
template <typename F>
std::string error_of(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const r1::Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an r1::Error";
  return "";
}

// Runs f, which must throw an r1::Error whose message contains every part and is one line
// (errors reach the user as one line of text). For messages that embed paths or system
// error text, where comparing the whole message would be brittle.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    std::forward<F>(f)();
    ADD_FAILURE() << "no r1::Error thrown";
  } catch (const r1::Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}

// The same with the parts written in place: expect_error(f, {path, "is a directory"}).
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  expect_error(std::forward<F>(f), std::vector<std::string>(parts));
}

}  // namespace r1::testing
