// What the benchmarks share: a wall clock and this machine's current sgemm peak.
#pragma once

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
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

// Seconds sgemm takes (best of reps) for the three products of a linear layer y = x W^T over T
// rows, W of out x in: the forward, dx = dy W and dW = dy^T x, called as ops::linear_forward and
// ops::linear_backward call them. Their flops: 6 T in out.
inline double linear_products_seconds(int64_t T, int64_t in, int64_t out, int reps) {
  std::vector<float> x(size_t(T * in), 0.01f), w(size_t(out * in), 0.02f), y(size_t(T * out), 0.03f);
  std::vector<float> dx(x.size()), dw(w.size());
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    const double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.f, x.data(), in, w.data(), in, 0.f,
                y.data(), out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.f, y.data(), out, w.data(), in, 0.f,
                dx.data(), in);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1.f, y.data(), out, x.data(), in, 1.f,
                dw.data(), in);
    best = std::min(best, now() - t0);
  }
  return best;
}

}  // namespace r1::bench
