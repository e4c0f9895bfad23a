// The code-execution reward: take the last fenced code block of a completion, run it in the
// sandbox (src/sandbox) against test cases, and score all-pass (0/1) or the fraction passed.
//
// Test cases, as a dataset's "tests" field carries them (CodeTests::from_json):
//   {"language": "python", "io": [{"input": "1 2\n", "output": "3\n"}, ...]}
//   {"language": "python", "asserts": "assert f(2) == 4\nassert f(3) == 9"}      (one case)
//   {"language": "python", "asserts": ["assert f(2) == 4", "assert f(3) == 9"]}  (one case each)
//   {"language": "cpp", "io": [...]}  or  {"language": "cpp", "asserts": "int main() {...}"}
// Languages: "python" (also py, python3) runs with /usr/bin/python3 -I -S -B; "cpp" (also c++,
// cxx, cc) compiles with g++ -O1 -std=c++17 inside the sandbox, then runs. An io case passes
// when the program exits 0 within its limits and its stdout equals the expected output after
// normalisation (trailing whitespace of each line and trailing empty lines dropped; \r\n as \n).
// An assert case passes when the program with the test code appended (Python: after the
// program; C++: after the program, the test code holding main()) exits 0.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sandbox/sandbox.h"

namespace r1::verify {

struct CodeBlock {
  std::string language;  // the fence's tag, lower-cased ("" when none)
  std::string code;
};

// The last complete fenced block (``` or ~~~, three or more, closed by a fence of the same
// character at least as long). An unclosed block does not count. Absent means std::nullopt.
std::optional<CodeBlock> extract_code(std::string_view completion);

// "python", "cpp", or "" when the tag names neither.
std::string normalize_language(std::string_view tag);

struct IoCase {
  std::string input, output;
};

struct CodeTests {
  std::string language;              // "python" or "cpp" ("" = take the block's tag)
  std::vector<IoCase> io;            // stdin/stdout cases
  std::vector<std::string> asserts;  // assert-style cases (each: test code appended to the program)

  size_t size() const { return io.size() + asserts.size(); }
  // Throws r1::Error naming the field at fault.
  static CodeTests from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// Per-case limits for running a program, and the (larger) limits for compiling C++.
inline sandbox::Limits default_run_limits() {
  sandbox::Limits l;
  l.wall_seconds = 5;
  l.cpu_seconds = 4;
  l.address_space_bytes = size_t(1) << 30;
  l.output_cap_bytes = size_t(1) << 20;
  return l;
}
inline sandbox::Limits default_compile_limits() {
  sandbox::Limits l;
  l.wall_seconds = 30;
  l.cpu_seconds = 30;
  l.address_space_bytes = size_t(4) << 30;
  l.file_size_bytes = size_t(64) << 20;
  return l;
}

struct CodeOptions {
  bool fraction = false;  // score = passed / total instead of all-pass 0/1
  int workers = 2;        // cases run concurrently
  sandbox::Limits run_limits = default_run_limits();
  sandbox::Limits compile_limits = default_compile_limits();
  std::string python = "/usr/bin/python3";
  std::string cxx = "/usr/bin/g++";
};

struct CodeScore {
  int passed = 0, total = 0;
  double score = 0;
  std::string reason;  // "no code block", "compile error", "3/5 passed; case 2: timeout", ...
};

// Outputs equal after normalisation (see above).
bool outputs_match(std::string_view got, std::string_view expected);

CodeScore score_code(std::string_view completion, const CodeTests& tests, const CodeOptions& opts = {});

}  // namespace r1::verify
