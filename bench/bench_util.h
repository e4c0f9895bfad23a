// What the benchmarks share: a wall clock and this machine's current sgemm peak.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace r1::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best-of-runs sgemm rate on square matrices (what BLAS reaches on this machine right now).
inline double gemm_peak_gflops(int n, int reps) {
  std::vector<float> a(size_t(n) * n), b(a.size()), c(a.size());
  for (size_t i = 0; i < a.size(); i++) a[i] = float(i % 7) * 0.1f, b[i] = float(i % 5) * 0.1f;
  double best = 0;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.f, a.data(), n, b.data(), n, 0.f,
                c.data(), n);
    best = std::max(best, 2.0 * n * n * n / (now() - t0) / 1e9);
  }
  return best;
}

}  // namespace r1::bench
