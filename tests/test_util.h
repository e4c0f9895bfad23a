// Helpers shared by the test files, so each file does not keep its own copy.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace r1::testing {

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
