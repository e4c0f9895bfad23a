// The bf16 backward of a linear layer (kernels/blas.h): the k-major packing and the transposing
// conversion bit for bit against the routines they must agree with, and linear_backward_bf16
// against a double-precision reference on the same bf16-rounded inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "core/rng.h"
#include "io/dtype.h"
#include "kernels/blas.h"

namespace {

// Values where conversions differ (subnormals, which VCVTNEPS2BF16 flushes; NaNs with payloads;
// ties; overflow to inf), mixed into normal samples: every fifth element.
std::vector<float> sample(uint64_t seed, int64_t n, bool special_values) {
  static const std::vector<uint32_t> special = {
      0x00000001u, 0x807fffffu, 0x00400000u, 0x00008000u, 0x00018000u, 0x7f800001u,
      0xffc00000u, 0x7fbfffffu, 0x7f810000u, 0x7f800000u, 0xff800000u, 0x7f7fffffu,
      0xff7fffffu, 0x3f808000u, 0x3f818000u, 0x3f808001u, 0x80000000u, 0u};
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); i++)
    v[i] = special_values && i % 5 == 0 ? std::bit_cast<float>(special[(i / 5) % special.size()])
                                        : float(r1::normal(seed, 0, i));
  return v;
}

std::string shape_name(int64_t a, int64_t b, int64_t c) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%ldx%ldx%ld", long(a), long(b), long(c));
  return buf;
}

}  // namespace

// pack_bf16_kmajor(src (K, N), ld) equals pack_bf16_weights of the explicitly transposed (N, K)
// matrix bit for bit, the vectorised and the portable routine alike, and writes nothing past the
// packed size: odd and even K and N, sizes not multiples of 16 or 64 (column tails inside a
// panel, partial last panel), several 128-pair k-blocks, a row stride larger than N.
TEST(Bf16Backward, KmajorPackingEqualsPackedTransposeBitForBit) {
  for (const auto& [K, N, ld] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1},
                                                                                   {2, 3, 3},
                                                                                   {3, 2, 7},
                                                                                   {31, 16, 16},
                                                                                   {32, 17, 17},
                                                                                   {33, 63, 70},
                                                                                   {64, 64, 64},
                                                                                   {100, 65, 65},
                                                                                   {513, 130, 130},
                                                                                   {37, 200, 203},
                                                                                   {896, 47, 47},
                                                                                   {600, 520, 520}}) {
    const std::vector<float> src = sample(7, K * ld, true);
    std::vector<float> t(size_t(N * K));  // src^T, (N, K)
    for (int64_t k = 0; k < K; k++)
      for (int64_t n = 0; n < N; n++) t[size_t(n * K + k)] = src[size_t(k * ld + n)];
    const size_t size = size_t(r1::bf16_packed_size(N, K)), pad = 40;
    std::vector<uint16_t> ref(size), got(size + pad, 0x1234), portable(size + pad, 0x4321);
    r1::pack_bf16_weights(t.data(), N, K, ref.data());
    r1::pack_bf16_kmajor(src.data(), K, N, ld, got.data());
    r1::pack_bf16_kmajor_portable(src.data(), K, N, ld, portable.data());
    const std::string shape = shape_name(K, N, ld);
    for (size_t i = 0; i < size; i++) {
      ASSERT_EQ(got[i], ref[i]) << shape << " element " << i;
      ASSERT_EQ(portable[i], ref[i]) << shape << " portable element " << i;
    }
    for (size_t i = size; i < size + pad; i++) {
      ASSERT_EQ(got[i], 0x1234) << shape << ": wrote past the end";
      ASSERT_EQ(portable[i], 0x4321) << shape << " portable: wrote past the end";
    }
  }
}

// f32_to_bf16_transposed(x (T, n), ldx) equals f32_to_bf16_rows of the explicitly transposed
// (n, T) matrix bit for bit (the same rounding, special values included; the pad column of odd T
// zeroed) and writes nothing past n * bf16_ld(T): row and column tails of the 32 x 16 tiles,
// T = 1, several 64-row work items, a row stride larger than n.
TEST(Bf16Backward, TransposedConversionEqualsRowsOfTransposeBitForBit) {
  for (const auto& [T, n, ldx] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1},
                                                                                    {1, 17, 17},
                                                                                    {2, 16, 19},
                                                                                    {31, 5, 5},
                                                                                    {33, 16, 16},
                                                                                    {64, 64, 64},
                                                                                    {65, 33, 40},
                                                                                    {130, 100, 100},
                                                                                    {301, 47, 47},
                                                                                    {700, 300, 301}}) {
    const std::vector<float> x = sample(8, T * ldx, true);
    std::vector<float> t(size_t(n * T));  // x^T, (n, T)
    for (int64_t i = 0; i < T; i++)
      for (int64_t j = 0; j < n; j++) t[size_t(j * T + i)] = x[size_t(i * ldx + j)];
    const int64_t ld = r1::bf16_ld(T);
    const size_t size = size_t(n * ld), pad = 40;
    std::vector<uint16_t> ref(size), got(size + pad, 0xffff);
    r1::f32_to_bf16_rows(t.data(), n, T, ref.data());
    r1::f32_to_bf16_transposed(x.data(), T, n, ldx, got.data());
    const std::string shape = shape_name(T, n, ldx);
    for (size_t i = 0; i < size; i++) ASSERT_EQ(got[i], ref[i]) << shape << " element " << i;
    for (int64_t j = 0; j < n && ld > T; j++)
      ASSERT_EQ(got[size_t(j * ld + T)], 0) << shape << " pad, row " << j;
    for (size_t i = size; i < size + pad; i++) ASSERT_EQ(got[i], 0xffff) << shape << ": wrote past the end";
  }
}

namespace {

double rounded(float v) {
  return r1::bf16_to_f32(r1::f32_to_bf16(v));
}

// Largest |got - ref| / (|c term| + sum |a||b|) over the elements, ref in double on the bf16-rounded
// inputs: only the fp32 accumulation (and its order) differs.
struct Errors {
  double dx = 0, dw = 0;
};

// dx = dy . w + beta dx0 and dw = dw0 + scale * dy^T . x, in double on bf16-rounded inputs,
// compared with the given outputs (either may be null).
Errors compare(const float* dx, const float* dw, const std::vector<float>& dy, const std::vector<float>& x,
               const std::vector<float>& w, const std::vector<float>& dx0, const std::vector<float>& dw0,
               int64_t T, int64_t in, int64_t out, float beta, double scale) {
  Errors e;
  if (dx)
    for (int64_t t = 0; t < T; t++)
      for (int64_t i = 0; i < in; i++) {
        double ref = beta != 0.f ? beta * double(dx0[size_t(t * in + i)]) : 0.0, mag = std::abs(ref);
        for (int64_t o = 0; o < out; o++) {
          const double p = rounded(dy[size_t(t * out + o)]) * rounded(w[size_t(o * in + i)]);
          ref += p, mag += std::abs(p);
        }
        e.dx = std::max(e.dx, std::abs(dx[t * in + i] - ref) / mag);
      }
  if (dw)
    for (int64_t o = 0; o < out; o++)
      for (int64_t i = 0; i < in; i++) {
        double ref = dw0[size_t(o * in + i)], mag = std::abs(ref);
        for (int64_t t = 0; t < T; t++) {
          const double p = scale * rounded(dy[size_t(t * out + o)]) * rounded(x[size_t(t * in + i)]);
          ref += p, mag += std::abs(p);
        }
        e.dw = std::max(e.dw, std::abs(dw[o * in + i] - ref) / mag);
      }
  return e;
}

// Bound on the relative error above. Measured worst over these shapes: 1.4e-7 (k up to 520);
// a wrong transpose, a missing k-pair or an unrounded input is off by far more (a lost k-pair
// alone is ~1/K of the magnitude, > 1e-3 here).
constexpr double kRelBound = 1e-6;

}  // namespace

// linear_backward_bf16 against the double-precision reference: odd in/out/T, T = 1, T not a
// multiple of the 6-row tile nor of the 96-row chunk, k (out for dx, T for dw) over several
// 128-pair blocks, dx_beta 0 (dx not read: it holds NaNs) and 1, dw accumulated onto nonzero
// values, shapes large enough for every parallel path, one scratch reused across shrinking and
// growing shapes (stale contents must not leak into pads).
TEST(Bf16Backward, MatchesRoundedReference) {
  r1::Bf16Scratch scratch;
  for (const auto& [T, in, out, beta] :
       std::vector<std::tuple<int64_t, int64_t, int64_t, float>>{{520, 520, 260, 1.f},
                                                                 {1, 32, 16, 0.f},
                                                                 {1, 7, 5, 1.f},
                                                                 {13, 37, 150, 0.f},
                                                                 {7, 300, 200, 1.f},
                                                                 {97, 65, 33, 1.f},
                                                                 {20, 513, 71, 0.f},
                                                                 {6, 2, 64, 0.f},
                                                                 {301, 130, 97, 0.f},
                                                                 {200, 64, 300, 1.f}}) {
    const std::vector<float> dy = sample(11, T * out, false), x = sample(12, T * in, false),
                             w = sample(13, out * in, false), dw0 = sample(14, out * in, false);
    const std::vector<float> dx0 =
        beta != 0.f ? sample(15, T * in, false) : std::vector<float>(size_t(T * in), std::nanf(""));
    std::vector<uint16_t> wt(size_t(r1::bf16_packed_size(in, out)));
    r1::pack_bf16_kmajor(w.data(), out, in, in, wt.data());
    std::vector<float> dx = dx0, dw = dw0;
    r1::linear_backward_bf16(dx.data(), dw.data(), dy.data(), x.data(), wt.data(), T, in, out, beta, scratch);
    const Errors e = compare(dx.data(), dw.data(), dy, x, w, dx0, dw0, T, in, out, beta, 1.0);
    char shape[96];
    std::snprintf(shape, sizeof(shape), "T %ld in %ld out %ld dx_beta %g", long(T), long(in), long(out),
                  beta);
    EXPECT_LE(e.dx, kRelBound) << shape << " dx";
    EXPECT_LE(e.dw, kRelBound) << shape << " dw";
    std::printf("[ measured ] %s: dx rel err %.2e, dw rel err %.2e\n", shape, e.dx, e.dw);
  }
}

// Either output may be null: the other is computed alone (dw needs no packed w^T); dw
// accumulates, two calls onto zeros giving twice the product; the scratch is not reallocated by a
// call of the same shape; empty products (out = 0, T = 0) behave as ops::linear_backward's sgemm.
TEST(Bf16Backward, NullOutputsAndAccumulation) {
  const int64_t T = 45, in = 33, out = 70;
  const std::vector<float> dy = sample(21, T * out, false), x = sample(22, T * in, false),
                           w = sample(23, out * in, false), dx0 = sample(24, T * in, false);
  const std::vector<float> zeros(size_t(out * in), 0.f);
  std::vector<uint16_t> wt(size_t(r1::bf16_packed_size(in, out)));
  r1::pack_bf16_kmajor(w.data(), out, in, in, wt.data());
  r1::Bf16Scratch scratch;

  std::vector<float> dx = dx0;  // dw null, dx accumulated (dx_beta 1)
  r1::linear_backward_bf16(dx.data(), nullptr, dy.data(), x.data(), wt.data(), T, in, out, 1.f, scratch);
  EXPECT_LE(compare(dx.data(), nullptr, dy, x, w, dx0, zeros, T, in, out, 1.f, 1.0).dx, kRelBound);

  std::vector<float> dw(size_t(out * in), 0.f);  // dx null, no packed w^T
  r1::linear_backward_bf16(nullptr, dw.data(), dy.data(), x.data(), nullptr, T, in, out, 0.f, scratch);
  EXPECT_LE(compare(nullptr, dw.data(), dy, x, w, dx0, zeros, T, in, out, 0.f, 1.0).dw, kRelBound);
  const std::vector<float> once = dw;
  const uint16_t* const bufs[3] = {scratch.buf[0].data(), scratch.buf[1].data(), scratch.buf[2].data()};
  r1::linear_backward_bf16(nullptr, dw.data(), dy.data(), x.data(), nullptr, T, in, out, 0.f, scratch);
  EXPECT_LE(compare(nullptr, dw.data(), dy, x, w, dx0, zeros, T, in, out, 0.f, 2.0).dw, kRelBound);
  // k = T fits one 128-pair block: the second call adds the same fp32 sums, exactly twice.
  for (size_t i = 0; i < dw.size(); i++) ASSERT_EQ(dw[i], 2 * once[i]) << "element " << i;
  for (int s = 0; s < 3; s++) EXPECT_EQ(scratch.buf[s].data(), bufs[s]) << "scratch " << s << " reallocated";

  std::vector<float> unchanged = dx0;  // both null: nothing happens
  r1::linear_backward_bf16(nullptr, nullptr, dy.data(), x.data(), nullptr, T, in, out, 0.f, scratch);
  EXPECT_EQ(unchanged, dx0);
  // out = 0: dx = dx_beta * dx (an empty product), as sgemm does; dw (0 x in) untouched.
  std::vector<float> scaled = dx0;
  r1::linear_backward_bf16(scaled.data(), dw.data(), nullptr, x.data(), nullptr, T, in, 0, 0.5f, scratch);
  for (size_t i = 0; i < scaled.size(); i++) ASSERT_EQ(scaled[i], 0.5f * dx0[i]);
  r1::linear_backward_bf16(scaled.data(), nullptr, nullptr, x.data(), nullptr, T, in, 0, 0.f, scratch);
  EXPECT_EQ(scaled, std::vector<float>(dx0.size(), 0.f));
  // T = 0: no rows, nothing written (dw keeps its value, dx untouched).
  r1::linear_backward_bf16(unchanged.data(), dw.data(), dy.data(), x.data(), wt.data(), 0, in, out, 0.f,
                           scratch);
  EXPECT_EQ(unchanged, dx0);
}
