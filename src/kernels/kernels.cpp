#include "kernels/kernels.h"

#include "core/error.h"
#include "kernels/blas.h"
#include "kernels/ops.h"

namespace r1 {

void CpuKernels::linear(float* y, const float* x, const Matrix& w, int64_t T, float beta) {
  if (w.bf16 == nullptr) return ops::linear_forward(y, x, w.f32, T, w.in, w.out, beta);
  xbf_.resize(size_t(T * bf16_ld(w.in)));
  f32_to_bf16_rows(x, T, w.in, xbf_.data());
  linear_forward_bf16(y, xbf_.data(), w.bf16, T, w.in, w.out, beta);
}

void CpuKernels::linear_backward(float* dx, float* dw, const float* dy, const float* x, const Matrix& w,
                                 int64_t T, float dx_beta) {
  if (w.bf16_t == nullptr) return ops::linear_backward(dx, dw, dy, x, w.f32, T, w.in, w.out, dx_beta);
  linear_backward_bf16(dx, dw, dy, x, w.bf16_t, T, w.in, w.out, dx_beta, bf16_scratch_);
}

void CpuKernels::bias(float* y, const float* b, int64_t T, int64_t n, int64_t ld) {
  ops::bias_forward(y, b, T, n, ld);
}
void CpuKernels::bias_backward(float* db, const float* dy, int64_t T, int64_t n, int64_t ld) {
  ops::bias_backward(db, dy, T, n, ld);
}
void CpuKernels::embedding(float* x, const float* table, const int32_t* tokens, int64_t T, int64_t D) {
  ops::embedding_forward(x, table, tokens, T, D);
}
void CpuKernels::embedding_backward(float* dtable, const float* dx, const int32_t* tokens, int64_t T,
                                    int64_t D) {
  ops::embedding_backward(dtable, dx, tokens, T, D);
}
void CpuKernels::rmsnorm(float* y, float* rstd, const float* x, const float* w, int64_t R, int64_t n,
                         float eps, int64_t ld_x, int64_t ld_y) {
  ops::rmsnorm_forward(y, rstd, x, w, R, n, eps, ld_x, ld_y);
}
void CpuKernels::rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                  const float* rstd, int64_t R, int64_t n, int64_t ld_x, int64_t ld_y,
                                  float dx_beta) {
  ops::rmsnorm_backward(dx, dw, dy, x, w, rstd, R, n, ld_x, ld_y, dx_beta);
}
void CpuKernels::rope(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                      int64_t hd, int64_t ld) {
  ops::rope_forward(x, pos, cos, sin, T, H, hd, ld);
}
void CpuKernels::rope_backward(float* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T,
                               int64_t H, int64_t hd, int64_t ld) {
  ops::rope_backward(dx, pos, cos, sin, T, H, hd, ld);
}
void CpuKernels::attention(float* out, float* lse, const float* q, const float* k, const float* v,
                           const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                           int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo) {
  ops::attention_forward(out, lse, q, k, v, cu_seqlens, prefix, nseq, Hq, Hkv, hd, ldq, ldk, ldv, ldo);
}
void CpuKernels::attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                                    const float* lse, const float* q, const float* k, const float* v,
                                    const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq,
                                    int64_t Hq, int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk,
                                    int64_t ldv, int64_t ldo) {
  ops::attention_backward(dq, dk, dv, dout, out, lse, q, k, v, cu_seqlens, prefix, nseq, Hq, Hkv, hd, ldq,
                          ldk, ldv, ldo);
}
void CpuKernels::swiglu(float* act, const float* gu, int64_t T, int64_t F) {
  ops::swiglu_forward(act, gu, T, F);
}
void CpuKernels::swiglu_backward(float* dgu, const float* dact, const float* gu, int64_t T, int64_t F) {
  ops::swiglu_backward(dgu, dact, gu, T, F);
}
void CpuKernels::logprob(float* logp, float* entropy, float* lse, const float* logits, const int32_t* target,
                         int64_t R, int64_t V) {
  ops::logprob_forward(logp, entropy, lse, logits, target, R, V);
}
void CpuKernels::logprob_backward(float* logits, const float* lse, const float* entropy,
                                  const int32_t* target, const float* dlogp, const float* dentropy, int64_t R,
                                  int64_t V) {
  ops::logprob_backward(logits, lse, entropy, target, dlogp, dentropy, R, V);
}
void CpuKernels::scale(float* x, float s, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

}  // namespace r1
