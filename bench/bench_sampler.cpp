// sample_token cost per call for a Qwen-sized vocabulary (V = 151936) of random logits
// (normal, standard deviation 2), single thread: greedy, temperature 1 without truncation,
// top-p 0.95, top-k 50, min-p 0.05. Each figure is the best of REPS rounds of CALLS calls (each
// call its own key), in thread CPU time. Prints one JSON line per setting.
//
//   bench_sampler [CALLS] [REPS]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "core/rng.h"
#include "sample/sampler.h"

namespace {

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  const int calls = argc > 1 ? std::max(1, std::atoi(argv[1])) : 200;
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  const int64_t V = 151936;
  std::vector<float> logits(V);
  for (int64_t i = 0; i < V; ++i)
    logits[i] = static_cast<float>(2.0 * r1::normal(7, static_cast<uint64_t>(i), 0));

  struct Case {
    const char* name;
    r1::SamplingParams params;
  };
  std::vector<Case> cases(5);
  cases[0].name = "greedy", cases[0].params.greedy = true;
  cases[1].name = "temperature_1";
  cases[2].name = "top_p_0.95", cases[2].params.top_p = 0.95f;
  cases[3].name = "top_k_50", cases[3].params.top_k = 50;
  cases[4].name = "min_p_0.05", cases[4].params.min_p = 0.05f;

  r1::SamplerWorkspace ws;
  for (const Case& c : cases) {
    int64_t checksum = 0;
    double best = 1e30;
    for (int r = -1; r < reps; ++r) {  // round -1 warms the workspace and caches
      const double t0 = cpu_now();
      for (int i = 0; i < calls; ++i)
        checksum += r1::sample_token(logits.data(), V, c.params, r1::sample_key(1, 0, i, r), ws).token;
      if (r >= 0) best = std::min(best, cpu_now() - t0);
    }
    std::printf(
        "{\"bench\": \"sample_token\", \"case\": \"%s\", \"V\": %lld, \"ns_per_call\": %.0f, \"checksum\": "
        "%lld}\n",
        c.name, static_cast<long long>(V), best / calls * 1e9, static_cast<long long>(checksum));
    std::fflush(stdout);
  }
  return 0;
}
