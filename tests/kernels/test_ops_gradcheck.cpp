// Finite-difference checks of every kernel's backward. Each op's output y is contracted with a
// fixed random tensor R, so f = <y, R> and df/dx is exactly what backward(dy = R) returns.
#include <gtest/gtest.h>

#include <array>
#include <functional>

#include "gradcheck.h"
#include "kernels/ops.h"

using namespace r1;
using r1::testing::dot;
using r1::testing::expect_grad_close;
using r1::testing::random_vector;

TEST(OpsGrad, Linear) {
  const int64_t T = 5, in = 7, out = 3;
  auto x = random_vector(T * in, 1), w = random_vector(out * in, 2), R = random_vector(T * out, 3);
  std::vector<float> y(T * out);
  auto f = [&] {
    ops::linear_forward(y.data(), x.data(), w.data(), T, in, out);
    return dot(y, R);
  };
  std::vector<float> dx(T * in), dw(out * in, 0.f);
  ops::linear_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), T, in, out);
  expect_grad_close(f, x, dx, "dx");
  expect_grad_close(f, w, dw, "dw");
}

TEST(OpsGrad, BiasAndEmbedding) {
  const int64_t T = 6, n = 5, V = 4;
  auto b = random_vector(n, 1), y0 = random_vector(T * n, 2), R = random_vector(T * n, 3);
  std::vector<float> y(T * n);
  auto fb = [&] {
    y = y0;
    ops::bias_forward(y.data(), b.data(), T, n, n);
    return dot(y, R);
  };
  std::vector<float> db(n, 0.f);
  ops::bias_backward(db.data(), R.data(), T, n, n);
  expect_grad_close(fb, b, db, "db");

  auto table = random_vector(V * n, 4);
  std::vector<int32_t> tok = {2, 0, 2, 3, 2, 1};  // repeats accumulate
  auto fe = [&] {
    ops::embedding_forward(y.data(), table.data(), tok.data(), T, n);
    return dot(y, R);
  };
  std::vector<float> dt(V * n, 0.f);
  ops::embedding_backward(dt.data(), R.data(), tok.data(), T, n);
  expect_grad_close(fe, table, dt, "dtable");
}

TEST(OpsGrad, RmsNormStrided) {
  const int64_t Rows = 4, n = 16, ldx = 20, ldy = 18;
  auto x = random_vector(Rows * ldx, 1), w = random_vector(n, 2), R = random_vector(Rows * ldy, 3);
  for (int64_t r = 0; r < Rows; r++)
    for (int64_t j = n; j < ldy; j++) R[r * ldy + j] = 0.f;  // gaps between strided rows carry no loss
  std::vector<float> y(Rows * ldy, 0.f), rstd(Rows);
  auto f = [&] {
    ops::rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), Rows, n, 1e-5f, ldx, ldy);
    return dot(y, R);
  };
  f();
  std::vector<float> dx(Rows * ldx, 0.f), dw(n, 0.f);
  ops::rmsnorm_backward(dx.data(), dw.data(), R.data(), x.data(), w.data(), rstd.data(), Rows, n, ldx, ldy,
                        0.f);
  expect_grad_close(f, x, dx, "dx");
  expect_grad_close(f, w, dw, "dw");
}

TEST(OpsGrad, Rope) {
  const int64_t T = 5, H = 3, hd = 8, half = hd / 2, ld = H * hd + 2, P = 10;
  std::vector<float> cos(P * half), sin(P * half);
  for (int64_t p = 0; p < P; p++)
    for (int64_t j = 0; j < half; j++) {
      double a = p * std::pow(10000.0, -2.0 * j / hd);
      cos[p * half + j] = static_cast<float>(std::cos(a));
      sin[p * half + j] = static_cast<float>(std::sin(a));
    }
  std::vector<int32_t> pos = {0, 1, 2, 7, 9};
  auto x = random_vector(T * ld, 1), R = random_vector(T * ld, 2);
  std::vector<float> y;
  auto f = [&] {
    y = x;
    ops::rope_forward(y.data(), pos.data(), cos.data(), sin.data(), T, H, hd, ld);
    return dot(y, R);
  };
  std::vector<float> dx = R;
  ops::rope_backward(dx.data(), pos.data(), cos.data(), sin.data(), T, H, hd, ld);
  expect_grad_close(f, x, dx, "dx");
  // Rotation preserves the norm of each head vector.
  f();
  EXPECT_NEAR(dot(y, y), dot(x, x), 1e-3 * dot(x, x));
}

// Attention's backward against finite differences of dot(out, R) for packed sequences `cu` (and
// shared prefixes, if any), GQA 4 over 2, with padded row strides so a wrong stride shows up.
// `check_forward(q, k, v, out, strides)` may add checks of the forward output.
using AttnStrides = std::array<int64_t, 4>;  // ldq, ldk, ldv, ldo
void check_attention(
    const std::vector<int32_t>& cu, const std::vector<int32_t>& prefix, uint64_t seed,
    const std::function<void(const std::vector<float>&, const std::vector<float>&, const std::vector<float>&,
                             const std::vector<float>&, const AttnStrides&)>& check_forward = nullptr) {
  const int64_t T = cu.back(), nseq = static_cast<int64_t>(cu.size()) - 1, Hq = 4, Hkv = 2, hd = 8;
  const int64_t ldq = Hq * hd + 3, ldk = Hkv * hd + 1, ldv = Hkv * hd + 5, ldo = Hq * hd + 2;
  const int32_t* pre = prefix.empty() ? nullptr : prefix.data();
  auto q = random_vector(T * ldq, seed), k = random_vector(T * ldk, seed + 1),
       v = random_vector(T * ldv, seed + 2);
  auto R = random_vector(T * ldo, seed + 3);
  for (int64_t t = 0; t < T; t++)
    for (int64_t j = Hq * hd; j < ldo; j++) R[t * ldo + j] = 0.f;
  std::vector<float> out(T * ldo, 0.f), lse(T * Hq);
  auto f = [&] {
    ops::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), cu.data(), pre, nseq, Hq,
                           Hkv, hd, ldq, ldk, ldv, ldo);
    return dot(out, R);
  };
  f();
  if (check_forward) check_forward(q, k, v, out, {ldq, ldk, ldv, ldo});
  std::vector<float> dq(T * ldq, 0.f), dk(T * ldk, 0.f), dv(T * ldv, 0.f);
  ops::attention_backward(dq.data(), dk.data(), dv.data(), R.data(), out.data(), lse.data(), q.data(),
                          k.data(), v.data(), cu.data(), pre, nseq, Hq, Hkv, hd, ldq, ldk, ldv, ldo);
  // Padding columns of the strided buffers are not part of the op: zero their analytic value and
  // the finite difference is zero there too.
  auto zero_pad = [](std::vector<float>& g, int64_t ld, int64_t width) {
    for (size_t t = 0; t < g.size() / ld; t++)
      for (int64_t j = width; j < ld; j++) g[t * ld + j] = 0.f;
  };
  zero_pad(dq, ldq, Hq * hd), zero_pad(dk, ldk, Hkv * hd), zero_pad(dv, ldv, Hkv * hd);
  expect_grad_close(f, q, dq, "dq", 1e-2f, 1e-2, 2e-3, 400);
  expect_grad_close(f, k, dk, "dk", 1e-2f, 1e-2, 2e-3, 400);
  expect_grad_close(f, v, dv, "dv", 1e-2f, 1e-2, 2e-3, 400);
}

TEST(OpsGrad, AttentionPackedGqa) {
  // Sequences of 70 (crosses the 64-row block), 0, 3 and 9 tokens.
  check_attention({0, 70, 70, 73, 82}, {}, 1);
}

TEST(OpsGrad, AttentionWithSharedPrefixes) {
  // Two prefixes (66 rows: crosses the 64-row block; 5 rows), each continued by sequences of
  // 3, 70 and 1 tokens (and 4, 2), plus a plain sequence between them.
  const std::vector<int32_t> cu = {0, 66, 69, 139, 140, 147, 152, 156, 158};
  check_attention(cu, {-1, 0, 0, 0, -1, -1, 5, 5}, 11,
                  [&](const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                      const std::vector<float>& out, const AttnStrides& ld) {
                    // A continuation's rows equal those of its prefix and itself as one sequence
                    // (sequence 2, 70 rows, continues sequence 0, 66 rows).
                    const int64_t np = 66, nc = 70, c0 = 69, Hq = 4, Hkv = 2, hd = 8;
                    auto rows = [&](const std::vector<float>& from, int64_t l) {
                      std::vector<float> to((np + nc) * l);
                      std::copy(from.begin(), from.begin() + np * l, to.begin());
                      std::copy(from.begin() + c0 * l, from.begin() + (c0 + nc) * l, to.begin() + np * l);
                      return to;
                    };
                    const auto q2 = rows(q, ld[0]), k2 = rows(k, ld[1]), v2 = rows(v, ld[2]);
                    std::vector<float> o2((np + nc) * ld[3]), l2((np + nc) * Hq);
                    const std::vector<int32_t> cu2 = {0, static_cast<int32_t>(np + nc)};
                    ops::attention_forward(o2.data(), l2.data(), q2.data(), k2.data(), v2.data(), cu2.data(),
                                           nullptr, 1, Hq, Hkv, hd, ld[0], ld[1], ld[2], ld[3]);
                    for (int64_t i = 0; i < nc; i++)
                      for (int64_t j = 0; j < Hq * hd; j++)
                        ASSERT_NEAR(out[(c0 + i) * ld[3] + j], o2[(np + i) * ld[3] + j], 1e-5) << "row " << i;
                  });
}

TEST(OpsGrad, AttentionIsCausalWithinSequences) {
  // Changing a later token, or a token of another sequence, leaves earlier outputs unchanged.
  const std::vector<int32_t> cu = {0, 5, 12};
  const int64_t T = 12, H = 2, hd = 4, ld = H * hd;
  auto q = random_vector(T * ld, 1), k = random_vector(T * ld, 2), v = random_vector(T * ld, 3);
  std::vector<float> out(T * ld), out2(T * ld), lse(T * H);
  ops::attention_forward(out.data(), lse.data(), q.data(), k.data(), v.data(), cu.data(), nullptr, 2, H, H,
                         hd, ld, ld, ld, ld);
  for (int64_t j = 0; j < ld; j++) k[3 * ld + j] += 1.f, v[3 * ld + j] -= 1.f, v[8 * ld + j] += 2.f;
  ops::attention_forward(out2.data(), lse.data(), q.data(), k.data(), v.data(), cu.data(), nullptr, 2, H, H,
                         hd, ld, ld, ld, ld);
  for (int64_t t : {0, 1, 2, 5, 6, 7})
    for (int64_t j = 0; j < ld; j++) EXPECT_EQ(out[t * ld + j], out2[t * ld + j]) << "t=" << t;
  for (int64_t j = 0; j < ld; j++) EXPECT_NE(out[3 * ld + j], out2[3 * ld + j]);
}

TEST(OpsGrad, SwiGlu) {
  const int64_t T = 4, F = 6;
  auto gu = random_vector(T * 2 * F, 1, 2.f), R = random_vector(T * F, 2);
  std::vector<float> act(T * F);
  auto f = [&] {
    ops::swiglu_forward(act.data(), gu.data(), T, F);
    return dot(act, R);
  };
  std::vector<float> dgu(T * 2 * F);
  ops::swiglu_backward(dgu.data(), R.data(), gu.data(), T, F);
  expect_grad_close(f, gu, dgu, "dgu");
}

TEST(OpsGrad, LogProbAndEntropy) {
  const int64_t Rows = 4, V = 11;
  auto z = random_vector(Rows * V, 1, 2.f);
  std::vector<int32_t> tgt = {3, -1, 10, 0};
  std::vector<float> a = {0.7f, 0.3f, -1.2f, 0.4f}, b = {0.25f, -0.5f, 0.6f, -0.1f};
  std::vector<float> logp(Rows), ent(Rows), lse(Rows);
  auto f = [&] {
    ops::logprob_forward(logp.data(), ent.data(), lse.data(), z.data(), tgt.data(), Rows, V);
    double s = 0;
    for (int64_t r = 0; r < Rows; r++) s += a[r] * logp[r] + b[r] * ent[r];
    return s;
  };
  f();
  // Values against a direct computation in double.
  for (int64_t r = 0; r < Rows; r++) {
    double m = -1e30, s = 0, e = 0;
    for (int64_t j = 0; j < V; j++) m = std::max(m, double(z[r * V + j]));
    for (int64_t j = 0; j < V; j++) s += std::exp(z[r * V + j] - m);
    for (int64_t j = 0; j < V; j++) {
      double lp = z[r * V + j] - m - std::log(s);
      e -= std::exp(lp) * lp;
    }
    EXPECT_NEAR(lse[r], m + std::log(s), 1e-5);
    if (tgt[r] >= 0) {
      EXPECT_NEAR(logp[r], z[r * V + tgt[r]] - m - std::log(s), 1e-5);
      EXPECT_NEAR(ent[r], e, 1e-5);
    } else {
      EXPECT_EQ(logp[r], 0.f);
    }
  }
  std::vector<float> dz = z;
  ops::logprob_backward(dz.data(), lse.data(), ent.data(), tgt.data(), a.data(), b.data(), Rows, V);
  expect_grad_close(f, z, dz, "dlogits");
}

TEST(Ops, SumSquaresDeterministic) {
  auto x = random_vector(100003, 5);
  double a = ops::sum_squares(x.data(), static_cast<int64_t>(x.size()));
  double b = ops::sum_squares(x.data(), static_cast<int64_t>(x.size()));
  EXPECT_EQ(a, b);
  EXPECT_NEAR(a, dot(x, x), 1e-9 * a);
}
