#include "kernels/ops.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace r1::ops {

namespace {

// Below this many elements of work a loop runs on one thread: waking the team costs more.
constexpr int64_t kParallelMin = 1 << 15;

// Deterministic parallel column-sum: each thread sums a fixed (static) range of rows into its own
// buffer; buffers are then added in thread order. Same thread count -> same bits.
template <typename RowFn>
void column_reduce(float* acc, int64_t R, int64_t n, RowFn row_fn) {
  const int nt = R * n > kParallelMin ? omp_get_max_threads() : 1;
  std::vector<float> part(static_cast<size_t>(nt) * n, 0.f);
#pragma omp parallel num_threads(nt)
  {
    // Chunk by the team size actually granted, so every row is covered even with fewer threads.
    int tid = omp_get_thread_num(), team = omp_get_num_threads();
    float* mine = part.data() + static_cast<size_t>(tid) * n;
    int64_t chunk = (R + team - 1) / team, r0 = tid * chunk, r1 = std::min(R, r0 + chunk);
    for (int64_t r = r0; r < r1; r++) row_fn(r, mine);
  }
  for (int t = 0; t < nt; t++) {
    const float* p = part.data() + static_cast<size_t>(t) * n;
    for (int64_t j = 0; j < n; j++) acc[j] += p[j];
  }
}

}  // namespace

void linear_forward(float* y, const float* x, const float* w, int64_t T, int64_t in, int64_t out,
                    float beta) {
  if (T == 0) return;
  // One row (decoding one sequence): a matrix-vector product streams w at memory speed, where
  // sgemm with M = 1 runs at a fraction of that.
  if (T == 1) return cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.f, w, in, x, 1, beta, y, 1);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, out, in, 1.f, x, in, w, in, beta, y, out);
}

void linear_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t T,
                     int64_t in, int64_t out, float dx_beta) {
  if (T == 0) return;
  if (dx)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, in, out, 1.f, dy, out, w, in, dx_beta, dx, in);
  if (dw) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, T, 1.f, dy, out, x, in, 1.f, dw, in);
}

void bias_forward(float* y, const float* b, int64_t T, int64_t n, int64_t ld) {
#pragma omp parallel for schedule(static) if (T * n > kParallelMin)
  for (int64_t t = 0; t < T; t++) {
    float* row = y + t * ld;
    for (int64_t j = 0; j < n; j++) row[j] += b[j];
  }
}

void bias_backward(float* db, const float* dy, int64_t T, int64_t n, int64_t ld) {
  column_reduce(db, T, n, [&](int64_t t, float* acc) {
    const float* row = dy + t * ld;
    for (int64_t j = 0; j < n; j++) acc[j] += row[j];
  });
}

void embedding_forward(float* x, const float* table, const int32_t* tokens, int64_t T, int64_t D) {
#pragma omp parallel for schedule(static) if (T * D > kParallelMin)
  for (int64_t t = 0; t < T; t++)
    std::memcpy(x + t * D, table + static_cast<int64_t>(tokens[t]) * D, D * sizeof(float));
}

void embedding_backward(float* dtable, const float* dx, const int32_t* tokens, int64_t T, int64_t D) {
  // Serial: the same token may repeat, and T*D adds are cheap next to the matrix products.
  for (int64_t t = 0; t < T; t++) {
    float* row = dtable + static_cast<int64_t>(tokens[t]) * D;
    const float* g = dx + t * D;
    for (int64_t j = 0; j < D; j++) row[j] += g[j];
  }
}

void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t R, int64_t n, float eps,
                     int64_t ld_x, int64_t ld_y) {
#pragma omp parallel for schedule(static) if (R * n > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    const float* xr = x + r * ld_x;
    float* yr = y + r * ld_y;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < n; j++) ss += xr[j] * xr[j];
    float s = 1.f / std::sqrt(ss / static_cast<float>(n) + eps);
    rstd[r] = s;
    for (int64_t j = 0; j < n; j++) yr[j] = xr[j] * s * w[j];
  }
}

void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                      const float* rstd, int64_t R, int64_t n, int64_t ld_x, int64_t ld_y, float dx_beta) {
  // xhat = x*rstd;  dw += dy*xhat;  dx = rstd * (dy*w - xhat * mean(dy*w*xhat)).
  column_reduce(dw, R, n, [&](int64_t r, float* acc) {
    const float* xr = x + r * ld_x;
    const float* dyr = dy + r * ld_y;
    float s = rstd[r];
    for (int64_t j = 0; j < n; j++) acc[j] += dyr[j] * xr[j] * s;
  });
#pragma omp parallel for schedule(static) if (R * n > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    const float* xr = x + r * ld_x;
    const float* dyr = dy + r * ld_y;
    float* dxr = dx + r * ld_x;
    float s = rstd[r];
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < n; j++) dot += dyr[j] * w[j] * xr[j];
    float m = dot * s * s / static_cast<float>(n);
    if (dx_beta == 0.f) {
      for (int64_t j = 0; j < n; j++) dxr[j] = s * (dyr[j] * w[j] - xr[j] * m);
    } else {
      for (int64_t j = 0; j < n; j++) dxr[j] += s * (dyr[j] * w[j] - xr[j] * m);
    }
  }
}

namespace {
// Rotates each (x1, x2) pair of every head by the position's angle times `sign`; the rotation is
// orthogonal, so the backward is the same rotation with sign -1.
void rope_rotate(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                 int64_t hd, int64_t ld, float sign) {
  const int64_t half = hd / 2;
#pragma omp parallel for schedule(static) if (T * H * hd > kParallelMin)
  for (int64_t t = 0; t < T; t++) {
    const float* c = cos + static_cast<int64_t>(pos[t]) * half;
    const float* s = sin + static_cast<int64_t>(pos[t]) * half;
    for (int64_t h = 0; h < H; h++) {
      float* x1 = x + t * ld + h * hd;
      float* x2 = x1 + half;
      for (int64_t j = 0; j < half; j++) {
        const float a = x1[j], b = x2[j], sn = sign * s[j];
        x1[j] = a * c[j] - b * sn;
        x2[j] = b * c[j] + a * sn;
      }
    }
  }
}
}  // namespace

void rope_forward(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                  int64_t hd, int64_t ld) {
  rope_rotate(x, pos, cos, sin, T, H, hd, ld, 1.f);
}

void rope_backward(float* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                   int64_t hd, int64_t ld) {
  rope_rotate(dx, pos, cos, sin, T, H, hd, ld, -1.f);
}

namespace {
constexpr int64_t kAttnBlock =
    64;  // query rows per block: keys beyond the block's last row are never touched

// The keys sequence s sees before its own: those of its prefix sequence (prefix[s] >= 0), else none.
int64_t prefix_len(const int32_t* cu, const int32_t* prefix, int64_t s) {
  return prefix && prefix[s] >= 0 ? cu[prefix[s] + 1] - cu[prefix[s]] : 0;
}

// The most keys one query row can see (prefix plus its own sequence).
int64_t max_keys(const int32_t* cu, const int32_t* prefix, int64_t nseq) {
  int64_t m = 0;
  for (int64_t s = 0; s < nseq; s++) m = std::max<int64_t>(m, prefix_len(cu, prefix, s) + cu[s + 1] - cu[s]);
  return m;
}

// Multiply-adds of causal attention for one head dimension unit, to decide on threading.
int64_t attention_work(const int32_t* cu, const int32_t* prefix, int64_t nseq, int64_t H, int64_t hd) {
  int64_t w = 0;
  for (int64_t s = 0; s < nseq; s++) {
    const int64_t n = cu[s + 1] - cu[s];
    w += n * (n + 2 * prefix_len(cu, prefix, s));
  }
  return w * H * hd;
}
}  // namespace

void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                       int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo) {
  const int64_t group = Hq / Hkv;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  const int64_t maxkeys = max_keys(cu_seqlens, prefix, nseq);
#pragma omp parallel if (attention_work(cu_seqlens, prefix, nseq, Hq, hd) > kParallelMin)
  {
    std::vector<float> S(static_cast<size_t>(kAttnBlock * maxkeys));
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int64_t s = 0; s < nseq; s++) {
      for (int64_t h = 0; h < Hq; h++) {
        const int64_t t0 = cu_seqlens[s], n = cu_seqlens[s + 1] - t0, kh = h / group;
        const int64_t np = prefix_len(cu_seqlens, prefix, s), p0 = np ? cu_seqlens[prefix[s]] : 0;
        const float* ks = k + t0 * ldk + kh * hd;
        const float* vs = v + t0 * ldv + kh * hd;
        for (int64_t i0 = 0; i0 < n; i0 += kAttnBlock) {
          // Rows i0..i0+b see the np prefix keys (all of them) and their own keys 0..nk.
          const int64_t b = std::min(kAttnBlock, n - i0), nk = i0 + b, ld = np + nk;
          const float* qb = q + (t0 + i0) * ldq + h * hd;
          if (np)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, np, hd, scale, qb, ldq,
                        k + p0 * ldk + kh * hd, ldk, 0.f, S.data(), ld);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, nk, hd, scale, qb, ldq, ks, ldk, 0.f,
                      S.data() + np, ld);
          for (int64_t i = 0; i < b; i++) {
            float* row = S.data() + i * ld;
            const int64_t last = np + i0 + i;  // causal: prefix keys, then own keys 0..i0+i
            float m = row[0];
            for (int64_t j = 1; j <= last; j++) m = std::max(m, row[j]);
            float sum = 0.f;
            for (int64_t j = 0; j <= last; j++) {
              row[j] = std::exp(row[j] - m);
              sum += row[j];
            }
            const float inv = 1.f / sum;
            for (int64_t j = 0; j <= last; j++) row[j] *= inv;
            for (int64_t j = last + 1; j < ld; j++) row[j] = 0.f;
            lse[(t0 + i0 + i) * Hq + h] = m + std::log(sum);
          }
          float* ob = out + (t0 + i0) * ldo + h * hd;
          if (np)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, hd, np, 1.f, S.data(), ld,
                        v + p0 * ldv + kh * hd, ldv, 0.f, ob, ldo);
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, hd, nk, 1.f, S.data() + np, ld, vs, ldv,
                      np ? 1.f : 0.f, ob, ldo);
        }
      }
    }
  }
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                        int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo) {
  const int64_t group = Hq / Hkv;
  const float scale = 1.f / std::sqrt(static_cast<float>(hd));
  const int64_t maxkeys = max_keys(cu_seqlens, prefix, nseq);
  // One task per (root sequence, kv head): a root is a sequence without a prefix; the task also
  // runs every sequence whose prefix it is, so it owns dk/dv of all their rows for that head and
  // accumulation needs no locks.
  std::vector<int32_t> roots;
  std::vector<std::vector<int32_t>> children(static_cast<size_t>(nseq));
  for (int64_t s = 0; s < nseq; s++) {
    if (prefix && prefix[s] >= 0)
      children[static_cast<size_t>(prefix[s])].push_back(static_cast<int32_t>(s));
    else
      roots.push_back(static_cast<int32_t>(s));
  }
  const int64_t nroots = static_cast<int64_t>(roots.size());
#pragma omp parallel if (attention_work(cu_seqlens, prefix, nseq, Hq, hd) > kParallelMin)
  {
    std::vector<float> P(static_cast<size_t>(kAttnBlock * maxkeys)), dP(P.size()), D(kAttnBlock);
#pragma omp for schedule(dynamic, 1) collapse(2)
    for (int64_t r = 0; r < nroots; r++) {
      for (int64_t kh = 0; kh < Hkv; kh++) {
        const int32_t root = roots[static_cast<size_t>(r)];
        std::vector<int32_t> seqs = {root};
        seqs.insert(seqs.end(), children[static_cast<size_t>(root)].begin(),
                    children[static_cast<size_t>(root)].end());
        for (const int32_t s : seqs)
          for (int64_t t = cu_seqlens[s]; t < cu_seqlens[s + 1]; t++) {
            std::fill_n(dk + t * ldk + kh * hd, hd, 0.f);
            std::fill_n(dv + t * ldv + kh * hd, hd, 0.f);
          }
        for (const int32_t s : seqs) {
          const int64_t t0 = cu_seqlens[s], n = cu_seqlens[s + 1] - t0;
          const int64_t np = prefix_len(cu_seqlens, prefix, s), p0 = np ? cu_seqlens[prefix[s]] : 0;
          const float* ks = k + t0 * ldk + kh * hd;
          const float* vs = v + t0 * ldv + kh * hd;
          const float* kp = k + p0 * ldk + kh * hd;
          const float* vp = v + p0 * ldv + kh * hd;
          float* dks = dk + t0 * ldk + kh * hd;
          float* dvs = dv + t0 * ldv + kh * hd;
          float* dkp = dk + p0 * ldk + kh * hd;
          float* dvp = dv + p0 * ldv + kh * hd;
          for (int64_t h = kh * group; h < (kh + 1) * group; h++) {
            for (int64_t i0 = 0; i0 < n; i0 += kAttnBlock) {
              const int64_t b = std::min(kAttnBlock, n - i0), nk = i0 + b, ld = np + nk;
              const float* qb = q + (t0 + i0) * ldq + h * hd;
              const float* dob = dout + (t0 + i0) * ldo + h * hd;
              const float* ob = out + (t0 + i0) * ldo + h * hd;
              // Recompute P = softmax(scale * q k^T) from the saved log-sum-exp.
              if (np)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, np, hd, scale, qb, ldq, kp, ldk, 0.f,
                            P.data(), ld);
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, nk, hd, scale, qb, ldq, ks, ldk, 0.f,
                          P.data() + np, ld);
              for (int64_t i = 0; i < b; i++) {
                float* row = P.data() + i * ld;
                const int64_t last = np + i0 + i;
                const float l = lse[(t0 + i0 + i) * Hq + h];
                for (int64_t j = 0; j <= last; j++) row[j] = std::exp(row[j] - l);
                for (int64_t j = last + 1; j < ld; j++) row[j] = 0.f;
                float d = 0.f;
                for (int64_t c = 0; c < hd; c++) d += dob[i * ldo + c] * ob[i * ldo + c];
                D[i] = d;
              }
              // dV += P^T dO
              if (np)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, np, hd, b, 1.f, P.data(), ld, dob, ldo,
                            1.f, dvp, ldv);
              cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, b, 1.f, P.data() + np, ld, dob,
                          ldo, 1.f, dvs, ldv);
              // dP = dO V^T;  dS = P * (dP - D) * scale (stored in dP)
              if (np)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, np, hd, 1.f, dob, ldo, vp, ldv, 0.f,
                            dP.data(), ld);
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, nk, hd, 1.f, dob, ldo, vs, ldv, 0.f,
                          dP.data() + np, ld);
              for (int64_t i = 0; i < b; i++) {
                const float* prow = P.data() + i * ld;
                float* row = dP.data() + i * ld;
                for (int64_t j = 0; j < ld; j++) row[j] = prow[j] * (row[j] - D[i]) * scale;
              }
              // dQ = dS K;  dK += dS^T Q
              float* dqb = dq + (t0 + i0) * ldq + h * hd;
              if (np)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, hd, np, 1.f, dP.data(), ld, kp, ldk,
                            0.f, dqb, ldq);
              cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, b, hd, nk, 1.f, dP.data() + np, ld, ks,
                          ldk, np ? 1.f : 0.f, dqb, ldq);
              if (np)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, np, hd, b, 1.f, dP.data(), ld, qb, ldq,
                            1.f, dkp, ldk);
              cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd, b, 1.f, dP.data() + np, ld, qb,
                          ldq, 1.f, dks, ldk);
            }
          }
        }
      }
    }
  }
}

void swiglu_forward(float* act, const float* gu, int64_t T, int64_t F) {
#pragma omp parallel for schedule(static) if (T * F > kParallelMin)
  for (int64_t t = 0; t < T; t++) {
    const float* g = gu + t * 2 * F;
    const float* u = g + F;
    float* a = act + t * F;
#pragma omp simd
    for (int64_t j = 0; j < F; j++) a[j] = g[j] * sigmoid(g[j]) * u[j];
  }
}

void swiglu_backward(float* dgu, const float* dact, const float* gu, int64_t T, int64_t F) {
#pragma omp parallel for schedule(static) if (T * F > kParallelMin)
  for (int64_t t = 0; t < T; t++) {
    const float* g = gu + t * 2 * F;
    const float* u = g + F;
    const float* da = dact + t * F;
    float* dg = dgu + t * 2 * F;
    float* du = dg + F;
#pragma omp simd
    for (int64_t j = 0; j < F; j++) {
      float sig = sigmoid(g[j]);
      float silu = g[j] * sig;
      du[j] = da[j] * silu;
      dg[j] = da[j] * u[j] * sig * (1.f + g[j] * (1.f - sig));
    }
  }
}

void logprob_forward(float* logp, float* entropy, float* lse, const float* logits, const int32_t* target,
                     int64_t R, int64_t V) {
#pragma omp parallel for schedule(static) if (R * V > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    const float* z = logits + r * V;
    float m = z[0];
    for (int64_t j = 1; j < V; j++) m = std::max(m, z[j]);
    float s = 0.f, sz = 0.f;
#pragma omp simd reduction(+ : s, sz)
    for (int64_t j = 0; j < V; j++) {
      float e = std::exp(z[j] - m);
      s += e;
      sz += e * (z[j] - m);
    }
    const float l = m + std::log(s);
    lse[r] = l;
    if (target[r] >= 0) {
      logp[r] = z[target[r]] - l;
      entropy[r] = std::log(s) - sz / s;  // H = lse - E_p[z], both shifted by m
    } else {
      logp[r] = 0.f;
      entropy[r] = 0.f;
    }
  }
}

void logprob_backward(float* logits, const float* lse, const float* entropy, const int32_t* target,
                      const float* dlogp, const float* dentropy, int64_t R, int64_t V) {
#pragma omp parallel for schedule(static) if (R * V > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    float* z = logits + r * V;
    if (target[r] < 0) {
      std::fill_n(z, V, 0.f);
      continue;
    }
    const float l = lse[r], H = entropy[r], a = dlogp[r], b = dentropy ? dentropy[r] : 0.f;
#pragma omp simd
    for (int64_t j = 0; j < V; j++) {
      float lp = z[j] - l;
      float p = std::exp(lp);
      z[j] = -a * p - b * p * (lp + H);
    }
    z[target[r]] += a;
  }
}

void add_inplace(float* y, const float* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

double sum_squares(const float* x, int64_t n) {
  const int nt = n > kParallelMin ? omp_get_max_threads() : 1;
  std::vector<double> part(nt, 0.0);
#pragma omp parallel num_threads(nt)
  {
    int tid = omp_get_thread_num(), team = omp_get_num_threads();
    int64_t chunk = (n + team - 1) / team, i0 = tid * chunk, i1 = std::min(n, i0 + chunk);
    double acc = 0.0;
    for (int64_t i = i0; i < i1; i++) acc += static_cast<double>(x[i]) * x[i];
    part[tid] = acc;
  }
  double total = 0.0;
  for (double p : part) total += p;
  return total;
}

float exp_shifted(float* x, int64_t n, float shift) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) {
    x[j] = exp_neg(x[j] - shift);
    sum += x[j];
  }
  return sum;
}

}  // namespace r1::ops
