// Code-reward throughput: score_code() calls per second (each call extracts the block, runs
// every test case in its own sandbox, and compares outputs) for
//   - python: a trivial adder, 4 stdin/stdout cases (4 sandboxed python3 runs per call);
//   - cpp: the same adder in C++, 4 cases (1 sandboxed g++ -O1 compile + 4 runs per call);
// with the case pool at 1 and 2 workers, and the sandbox mode in use (namespaces or fallback).
// Prints a table: calls/s and sandboxed runs/s.
//
//   bench_code [PY_CALLS] [CPP_CALLS]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "bench_util.h"
#include "sandbox/sandbox.h"
#include "verify/code.h"

int main(int argc, char** argv) {
  const int py_calls = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  const int cpp_calls = argc > 2 ? std::max(1, std::atoi(argv[2])) : 4;
  const auto tests = [](const char* lang) {
    return r1::verify::CodeTests::from_json(nlohmann::json::parse(
        std::string(R"({"language": ")") + lang + R"(", "io": [{"input": "1 2\n", "output": "3\n"},
        {"input": "10 -4\n", "output": "6\n"}, {"input": "0 0\n", "output": "0\n"},
        {"input": "5 5\n", "output": "10\n"}]})"));
  };
  const std::string py = "```python\na, b = map(int, input().split())\nprint(a + b)\n```";
  const std::string cpp =
      "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; "
      "}\n```";
  std::printf("sandbox mode: %s\n", r1::sandbox::namespaces_available() ? "namespaces" : "fallback");
  std::printf("| program | workers | calls | calls/s | sandboxed runs/s |\n|---|---|---|---|---|\n");
  for (const char* lang : {"python", "cpp"}) {
    const bool is_py = std::string(lang) == "python";
    const int calls = is_py ? py_calls : cpp_calls;
    const int runs_per_call = is_py ? 4 : 5;
    const auto t = tests(lang);
    for (int workers : {1, 2}) {
      r1::verify::CodeOptions o;
      o.workers = workers;
      const double t0 = r1::bench::now();
      int ok = 0;
      for (int i = 0; i < calls; i++) ok += r1::verify::score_code(is_py ? py : cpp, t, o).score == 1.0;
      const double dt = r1::bench::now() - t0;
      if (ok != calls) std::fprintf(stderr, "warning: %d of %d calls did not pass\n", calls - ok, calls);
      std::printf("| %s | %d | %d | %.2f | %.1f |\n",
                  is_py ? "python adder, 4 io cases" : "c++ adder, compile + 4 io cases", workers, calls,
                  calls / dt, calls * runs_per_call / dt);
    }
  }
  return 0;
}
