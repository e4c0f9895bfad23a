// The backward of a linear layer in fp32 (ops::linear_backward: two OpenBLAS sgemm calls) and in
// bf16 (linear_backward_bf16, kernels/blas.h), in the same run, on Qwen2.5-0.5B's matrix shapes
// with T = 2048 rows: qkv (in 896, out 1152), o (896, 896), gate_up (896, 9728), down (4864, 896).
// Each shape computes dx = dy . w and dw += dy^T . x (4 T in out flops). The bf16 time includes the
// per-call conversions (dy to bf16 rows, dy^T, x^T packed) and excludes packing w^T, which a
// trainer does once per weight version (reported on its own). fp32 and bf16 calls alternate, rep
// by rep, so both see the same machine load; best and median of the reps are printed. Then the
// bf16 call's parts timed one by one (best of reps): where its time goes. First, one core's rate
// of the two multiply-add instructions, which bounds what a bf16 kernel can gain on this CPU.
//
//   build/bench/bench_bf16_grad [--reps 7] [--T 2048]
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "bench_util.h"
#include "core/rng.h"
#include "kernels/blas.h"
#include "kernels/ops.h"

namespace {

using r1::bench::now;

struct Shape {
  const char* name;
  int64_t in, out;
};

std::vector<float> random(uint64_t seed, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); i++) v[i] = float(r1::normal(seed, 0, i));
  return v;
}

double best(const std::vector<double>& v) {
  double b = 1e300;
  for (double t : v) b = std::min(b, t);
  return b;
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Instructions per second of VFMADD231PS and VDPBF16PS (512-bit) on one core, 16 independent
// accumulators each, in registers, best of 5 alternating rounds: the bound on any AVX-512 BF16
// kernel's speed-up over an fp32 one is 2 x (VDPBF16PS rate) / (VFMADD231PS rate), a VDPBF16PS
// lane doing two multiply-adds.
__attribute__((target("avx512f,avx512bf16"))) void instruction_rates(double* fma, double* dp) {
  constexpr int64_t kIters = 4'000'000;
  volatile float seed = 0.5f;  // unknown to the compiler: the loops are not folded
  const __m512 a = _mm512_set1_ps(seed), b = _mm512_set1_ps(seed * 0.5f);
  const __m512bh p = _mm512_cvtne2ps_pbh(a, b), q = _mm512_cvtne2ps_pbh(b, b);
  __m512 acc[16];
  for (int i = 0; i < 16; i++) acc[i] = _mm512_set1_ps(float(i) * seed);
  *fma = *dp = 0;
  for (int round = 0; round < 5; round++) {
    const double t0 = now();
    for (int64_t n = 0; n < kIters; n++) {
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);  // |a| < 1: stays finite
    }
    const double t1 = now();
    for (int64_t n = 0; n < kIters; n++) {
#pragma GCC unroll 16
      for (int i = 0; i < 16; i++) acc[i] = _mm512_dpbf16_ps(acc[i], p, q);
    }
    const double t2 = now();
    *fma = std::max(*fma, 16.0 * kIters / (t1 - t0)), *dp = std::max(*dp, 16.0 * kIters / (t2 - t1));
  }
  float sink = 0;
  for (int i = 0; i < 16; i++) {
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, acc[i]);
    sink += lanes[i];
  }
  seed = sink;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  int64_t T = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--reps"))
      reps = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--T"))
      T = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "usage: bench_bf16_grad [--reps N] [--T rows]\n");
      return 2;
    }
  }
  std::printf("linear backward, T = %ld, %d threads, OpenBLAS %s kernels, bf16 kernels: %s, %d reps\n",
              long(T), omp_get_max_threads(), r1::blas_core_name(),
              r1::bf16_kernels_available() ? "AVX-512 BF16" : "scalar fallback", reps);
  if (r1::bf16_kernels_available()) {
    double fma = 0, dp = 0;
    instruction_rates(&fma, &dp);
    std::printf(
        "one core: VFMADD231PS %.2f G/s (%.0f GFLOP/s), VDPBF16PS %.2f G/s (%.0f GFLOP/s): bf16/fp32 bound "
        "%.2fx\n",
        fma / 1e9, fma * 32 / 1e9, dp / 1e9, dp * 64 / 1e9, 2 * dp / fma);
  }
  const Shape shapes[] = {{"qkv", 896, 1152}, {"o", 896, 896}, {"gate_up", 896, 9728}, {"down", 4864, 896}};
  double sum_f32 = 0, sum_bf16 = 0, sum_flops = 0;
  r1::Bf16Scratch scratch;
  for (const Shape& s : shapes) {
    const int64_t in = s.in, out = s.out;
    const std::vector<float> dy = random(1, T * out), x = random(2, T * in), w = random(3, out * in);
    std::vector<float> dx(size_t(T * in)), dw(size_t(out * in), 0.f);
    std::vector<uint16_t> wt(size_t(r1::bf16_packed_size(in, out)));
    std::vector<double> pack_t, f32_t, bf16_t;
    for (int r = 0; r < reps + 1; r++) {  // the first rep warms up (page faults, scratch growth)
      double t0 = now();
      r1::pack_bf16_kmajor(w.data(), out, in, in, wt.data());
      const double t1 = now();
      r1::ops::linear_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), T, in, out, 0.f);
      const double t2 = now();
      r1::linear_backward_bf16(dx.data(), dw.data(), dy.data(), x.data(), wt.data(), T, in, out, 0.f,
                               scratch);
      const double t3 = now();
      if (r == 0) continue;
      pack_t.push_back(t1 - t0), f32_t.push_back(t2 - t1), bf16_t.push_back(t3 - t2);
    }
    const double flops = 4.0 * double(T) * double(in) * double(out);
    const double f = best(f32_t), b = best(bf16_t);
    sum_f32 += f, sum_bf16 += b, sum_flops += flops;
    std::printf(
        "%-7s in %4ld out %4ld: fp32 %7.2f ms %6.1f GFLOP/s (median %7.2f ms) | bf16 %7.2f ms %6.1f GFLOP/s "
        "(median %7.2f ms) | bf16/fp32 speed %.2fx (medians %.2fx) | w^T pack %.2f ms (once per step)\n",
        s.name, long(in), long(out), f * 1e3, flops / f / 1e9, median(f32_t) * 1e3, b * 1e3, flops / b / 1e9,
        median(bf16_t) * 1e3, f / b, median(f32_t) / median(bf16_t), best(pack_t) * 1e3);

    // The bf16 call's parts, each timed alone (best of reps).
    uint16_t* dyb = scratch.get(0, T * r1::bf16_ld(out));
    uint16_t* dyt = scratch.get(1, out * r1::bf16_ld(T));
    uint16_t* xt = scratch.get(2, r1::bf16_packed_size(in, T));
    double part[5] = {1e9, 1e9, 1e9, 1e9, 1e9};
    for (int r = 0; r < reps; r++) {
      double t[6];
      t[0] = now();
      r1::f32_to_bf16_rows(dy.data(), T, out, dyb);
      t[1] = now();
      r1::linear_forward_bf16(dx.data(), dyb, wt.data(), T, out, in, 0.f);
      t[2] = now();
      r1::f32_to_bf16_transposed(dy.data(), T, out, out, dyt);
      t[3] = now();
      r1::pack_bf16_kmajor(x.data(), T, in, in, xt);
      t[4] = now();
      r1::linear_forward_bf16(dw.data(), dyt, xt, out, T, in, 1.f);
      t[5] = now();
      for (int i = 0; i < 5; i++) part[i] = std::min(part[i], t[i + 1] - t[i]);
    }
    const double half = flops / 2;
    std::printf(
        "        bf16 parts: dy rows %.2f ms, dx product %.2f ms (%.1f GFLOP/s), dy^T %.2f ms, x^T pack %.2f "
        "ms, "
        "dw product %.2f ms (%.1f GFLOP/s)\n",
        part[0] * 1e3, part[1] * 1e3, half / part[1] / 1e9, part[2] * 1e3, part[3] * 1e3, part[4] * 1e3,
        half / part[4] / 1e9);
  }
  std::printf("all four: fp32 %.2f ms %.1f GFLOP/s | bf16 %.2f ms %.1f GFLOP/s | bf16/fp32 speed %.2fx\n",
              sum_f32 * 1e3, sum_flops / sum_f32 / 1e9, sum_bf16 * 1e3, sum_flops / sum_bf16 / 1e9,
              sum_f32 / sum_bf16);
  return 0;
}
