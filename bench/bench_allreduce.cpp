// All-reduce bandwidth of the communicator (src/dist) between the ranks of an MPI job: the sum
// of float buffers of 1 MiB to 256 MiB, as data parallelism sums gradients. Run under mpirun:
//   mpirun -np 2 build/bench/bench_allreduce
// Prints, per size, the median time of 7 sums after 2 warm-ups, the algorithmic bandwidth
// (bytes / time) and the bus bandwidth (2 (N - 1) / N x bytes / time, the convention of NCCL's
// tests: what each link carries in a ring all-reduce).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "dist/comm.h"

int main(int argc, char** argv) {
  r1::init_world(&argc, &argv);
  r1::Comm& w = r1::world();
  if (w.root())
    std::printf("ranks %d (%s)\n%10s %12s %14s %14s\n", w.size(), w.name().c_str(), "MiB", "median ms",
                "algo GB/s", "bus GB/s");
  for (size_t mib : {1, 4, 16, 64, 256}) {
    std::vector<float> x(mib * 1024 * 1024 / sizeof(float), 1.0f);
    std::vector<double> t;
    for (int i = 0; i < 9; i++) {
      w.barrier();
      const auto t0 = std::chrono::steady_clock::now();
      w.sum(x.data(), x.size());
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (i >= 2) t.push_back(w.max(s));  // the slowest rank's time
    }
    std::sort(t.begin(), t.end());
    const double med = t[t.size() / 2], bytes = double(x.size() * sizeof(float));
    const double n = w.size();
    if (w.root())
      std::printf("%10zu %12.2f %14.2f %14.2f\n", mib, med * 1e3, bytes / med / 1e9,
                  n > 1 ? 2 * (n - 1) / n * bytes / med / 1e9 : 0.0);
  }
  r1::finalize_world();
  return 0;
}
