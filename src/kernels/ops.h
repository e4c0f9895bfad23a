// CPU kernels: each op a forward and a backward, fp32, threads through OpenMP, matrix products
// through BLAS. Row-major throughout. Backward functions ACCUMULATE (+=) into parameter
// gradients and, where the comment says so, into input gradients.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace r1::ops {

// ---- matrix products (BLAS) ----
// y (T,out) = x (T,in) @ w^T, w (out,in); beta: 0 overwrites y, 1 accumulates.
void linear_forward(float* y, const float* x, const float* w, int64_t T, int64_t in, int64_t out,
                    float beta = 0.f);
// dx (T,in) (=|+=) dy (T,out) @ w;  dw (out,in) += dy^T @ x.  Either output may be null.
void linear_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t T,
                     int64_t in, int64_t out, float dx_beta = 0.f);
// y (T,n) += b (n) on every row;  db (n) += column sums of dy (T,n).
void bias_forward(float* y, const float* b, int64_t T, int64_t n, int64_t ld);
void bias_backward(float* db, const float* dy, int64_t T, int64_t n, int64_t ld);

// ---- embedding ----
// x (T,D) = table[tokens[t]];  dtable[tokens[t]] += dx[t].
void embedding_forward(float* x, const float* table, const int32_t* tokens, int64_t T, int64_t D);
void embedding_backward(float* dtable, const float* dx, const int32_t* tokens, int64_t T, int64_t D);

// ---- RMSNorm over rows of length n ----
// y (R,n) = x * rstd * w, rstd (R) = 1/sqrt(mean(x^2)+eps). x, y rows at stride ld_x / ld_y.
void rmsnorm_forward(float* y, float* rstd, const float* x, const float* w, int64_t R, int64_t n, float eps,
                     int64_t ld_x, int64_t ld_y);
// dx (R,n) (=|+=) per beta; dw (n) += sum over rows. dy rows at stride ld_y, dx at ld_x.
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                      const float* rstd, int64_t R, int64_t n, int64_t ld_x, int64_t ld_y, float dx_beta);

// ---- rotary position embedding, Hugging Face rotate-half layout ----
// x (T, H, hd) rows of stride ld; cos/sin tables (max_pos, hd/2); in place. Backward rotates back.
void rope_forward(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                  int64_t hd, int64_t ld);
void rope_backward(float* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                   int64_t hd, int64_t ld);

// ---- causal attention over a packed batch (cu_seqlens), grouped-query ----
// q (T,Hq,hd) stride ldq; k, v (T,Hkv,hd) strides ldk, ldv; out (T,Hq,hd) stride ldo; lse (T,Hq).
// prefix (nseq, may be null): sequence s also attends to every key of sequence prefix[s] (>= 0,
// an earlier sequence that has no prefix itself) before its own, so G completions of one prompt
// share the prompt's rows (Batch::prefix). -1 or null: none.
void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                       const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                       int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo);
// Overwrites dq (stride ldq), dk (ldk), dv (ldv); a prefix's dk/dv gather all its sequences' terms.
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                        const float* lse, const float* q, const float* k, const float* v,
                        const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                        int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo);

// ---- SwiGLU: act (T,F) = silu(gate) * up, gu (T,2F) holds [gate | up] per row ----
void swiglu_forward(float* act, const float* gu, int64_t T, int64_t F);
void swiglu_backward(float* dgu, const float* dact, const float* gu, int64_t T, int64_t F);

// ---- log-softmax statistics over rows of logits (R,V) ----
// For each row r with target[r] >= 0: logp[r] = log softmax(z)[target], entropy[r] = -sum p log p,
// lse[r] = logsumexp(z). Rows with target < 0 get logp = entropy = 0 (lse still filled).
void logprob_forward(float* logp, float* entropy, float* lse, const float* logits, const int32_t* target,
                     int64_t R, int64_t V);
// In place: logits (R,V) become dz = dlogp*(onehot(target) - p) + dent*(-p*(log p + H)).
// Rows with target < 0 become 0.
void logprob_backward(float* logits, const float* lse, const float* entropy, const int32_t* target,
                      const float* dlogp, const float* dentropy, int64_t R, int64_t V);

// ---- elementwise ----
void add_inplace(float* y, const float* x, int64_t n);  // y += x

// exp(x) for x <= 0: Cephes' expf (range reduction to [-ln2/2, ln2/2] and a degree-6 polynomial,
// within 2 ulp), branch-free so that loops over it vectorise; 0 below -87.3 where expf
// underflows. n = round(x / ln 2) by adding and subtracting 1.5 * 2^23: GCC does not vectorise
// std::floor. Shared by the sampler's softmax and attention's.
inline float exp_neg(float x) {
  const float c = std::max(x, -87.3f);
  const float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = c - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  const float pow2n = std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);  // n in [-126, 0]
  return x < -87.3f ? 0.0f : y * pow2n;
}

// The logistic function 1 / (1 + exp(-x)) through exp_neg of -|x| (so it vectorises; within a few
// ulp of the libm form; SwiGLU's forward and backward both use it).
inline float sigmoid(float x) {
  const float e = exp_neg(-std::abs(x));
  return (x >= 0.f ? 1.f : e) / (1.f + e);
}

// x[j] = exp(x[j] - shift) for j < n, where shift >= every x[j] (a softmax's max); returns the sum.
float exp_shifted(float* x, int64_t n, float shift);
double sum_squares(const float* x, int64_t n);  // deterministic for a fixed thread count

}  // namespace r1::ops
