// Verifier throughput: math verifications per second on MATH-500 (the last \boxed{} of each
// reference solution against its answer field, extraction included) and on GSM8K test (the
// "#### N" line against itself, extraction included), one thread. Also the slowest pair (each
// pair's fastest repetition, so scheduler noise does not count), since a verifier that is fast on
// average but slow on one input stalls a training step.
// Usage: bench_verify [--data DIR] [--reps N]   (DIR defaults to ../shared/data)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "verify/extract.h"
#include "verify/math.h"

namespace {

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

struct Pair {
  std::string gold, completion;
};

void run(const char* name, const std::vector<Pair>& pairs, int reps) {
  using r1::bench::now;
  int correct = 0, wrong = 0, unverifiable = 0;
  std::vector<double> best(pairs.size(), 1e30);  // per pair, the fastest of the reps (noise-free)
  const double t0 = now();
  for (int r = 0; r < reps; r++) {
    for (size_t i = 0; i < pairs.size(); i++) {
      const double s = now();
      const auto pred = r1::verify::extract_answer(pairs[i].completion);
      const auto v = pred ? r1::verify::verify_math(pairs[i].gold, *pred) : r1::verify::Verdict::kWrong;
      const double dt = now() - s;
      best[i] = std::min(best[i], dt);
      if (r == 0) {
        correct += v == r1::verify::Verdict::kCorrect;
        wrong += v == r1::verify::Verdict::kWrong;
        unverifiable += v == r1::verify::Verdict::kUnverifiable;
      }
    }
  }
  const double dt = now() - t0;
  size_t worst_i = 0;
  for (size_t i = 0; i < pairs.size(); i++)
    if (best[i] > best[worst_i]) worst_i = i;
  const double worst = pairs.empty() ? 0 : best[worst_i];
  const double n = double(pairs.size()) * reps;
  std::printf(
      "%-10s %6zu pairs x %d: %9.0f verifications/s  (%.1f us mean, slowest pair %.1f us, #%zu)  "
      "correct %d wrong %d unverifiable %d\n",
      name, pairs.size(), reps, n / dt, dt / n * 1e6, worst * 1e6, worst_i, correct, wrong, unverifiable);
}

}  // namespace

int main(int argc, char** argv) {
  std::string data = R1_SOURCE_DIR "/../shared/data";
  int reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--data"))
      data = argv[i + 1];
    else if (!std::strcmp(argv[i], "--reps"))
      reps = std::atoi(argv[i + 1]);
  }
  std::vector<Pair> math, gsm;
  for (const auto& row : read_jsonl(data + "/math500/test.jsonl"))
    math.push_back({row.at("answer").get<std::string>(), row.at("solution").get<std::string>()});
  for (const auto& row : read_jsonl(data + "/gsm8k/test.jsonl")) {
    const std::string answer = row.at("answer").get<std::string>();
    const auto n = r1::verify::extract_gsm8k(answer);
    if (n) gsm.push_back({*n, answer});
  }
  if (math.empty() && gsm.empty()) {
    std::fprintf(stderr, "bench_verify: no data under %s (give --data DIR)\n", data.c_str());
    return 1;
  }
  std::printf("bench_verify: one thread, extraction + verify_math per pair\n");
  if (!math.empty()) run("MATH-500", math, reps);
  if (!gsm.empty()) run("GSM8K", gsm, reps);
  return 0;
}
