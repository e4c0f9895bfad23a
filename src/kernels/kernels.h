// The kernel interface of the decoder stack (model/layer.h): everything a layer, the embedding
// and the loss head compute goes through one of these calls, so a second backend (CUDA) means a
// second implementation of this class, not a second copy of the layer. CpuKernels implements it
// with kernels/ops.h (fp32 loops over OpenMP, sgemm from OpenBLAS) and kernels/blas.h (the bf16
// products). Pointers are the backend's memory (host memory for the CPU). The paged-KV-cache
// attention of generation is not here: it belongs to the cache (model/infer.cpp), and reaches the
// layer through AttentionOp (model/layer.h).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/blas.h"

namespace r1 {

// A weight matrix (out, in), row-major fp32, as the backend holds it. bf16 / bf16_t: packed
// bf16 copies of W (for y = x W^T) and of W^T (for dx = dy W), or null. When bf16 is set the
// forward product runs in bf16 (activations rounded to bf16 just before it, exact products, fp32
// sums); when bf16_t is set so does the backward's (dx and dW both).
struct Matrix {
  const float* f32 = nullptr;
  int64_t out = 0, in = 0;
  const uint16_t* bf16 = nullptr;
  const uint16_t* bf16_t = nullptr;
};

class Kernels {
 public:
  virtual ~Kernels() = default;
  // y (T,out) = x (T,in) W^T + beta y.   dx (T,in) = dy W + dx_beta dx;  dW (out,in) += dy^T x.
  // Either backward output may be null.
  virtual void linear(float* y, const float* x, const Matrix& w, int64_t T, float beta = 0.f) = 0;
  virtual void linear_backward(float* dx, float* dw, const float* dy, const float* x, const Matrix& w,
                               int64_t T, float dx_beta = 0.f) = 0;
  // y (T,n) += b on every row (stride ld);  db += column sums of dy.
  virtual void bias(float* y, const float* b, int64_t T, int64_t n, int64_t ld) = 0;
  virtual void bias_backward(float* db, const float* dy, int64_t T, int64_t n, int64_t ld) = 0;
  // x (T,D) = table[tokens];  dtable[tokens] += dx.
  virtual void embedding(float* x, const float* table, const int32_t* tokens, int64_t T, int64_t D) = 0;
  virtual void embedding_backward(float* dtable, const float* dx, const int32_t* tokens, int64_t T,
                                  int64_t D) = 0;
  // RMSNorm of R rows of n (strides ld_x, ld_y); rstd (R) kept for the backward.
  virtual void rmsnorm(float* y, float* rstd, const float* x, const float* w, int64_t R, int64_t n, float eps,
                       int64_t ld_x, int64_t ld_y) = 0;
  virtual void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                                const float* rstd, int64_t R, int64_t n, int64_t ld_x, int64_t ld_y,
                                float dx_beta) = 0;
  // Rotary embedding in place, rotate-half layout; tables (positions, hd/2).
  virtual void rope(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                    int64_t hd, int64_t ld) = 0;
  virtual void rope_backward(float* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T,
                             int64_t H, int64_t hd, int64_t ld) = 0;
  // Causal grouped-query attention over a packed batch with optional shared prefixes
  // (ops::attention_forward's contract).
  virtual void attention(float* out, float* lse, const float* q, const float* k, const float* v,
                         const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                         int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo) = 0;
  virtual void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                                  const float* lse, const float* q, const float* k, const float* v,
                                  const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                                  int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv,
                                  int64_t ldo) = 0;
  // act (T,F) = silu(gate) * up over gu (T, 2F) = [gate | up].
  virtual void swiglu(float* act, const float* gu, int64_t T, int64_t F) = 0;
  virtual void swiglu_backward(float* dgu, const float* dact, const float* gu, int64_t T, int64_t F) = 0;
  // Log-prob of each row's target, entropy and log-sum-exp over logits (R,V); the backward turns
  // the logits into dlogits in place (ops::logprob_forward/backward's contract).
  virtual void logprob(float* logp, float* entropy, float* lse, const float* logits, const int32_t* target,
                       int64_t R, int64_t V) = 0;
  virtual void logprob_backward(float* logits, const float* lse, const float* entropy, const int32_t* target,
                                const float* dlogp, const float* dentropy, int64_t R, int64_t V) = 0;
  // x *= s over n elements.
  virtual void scale(float* x, float s, int64_t n) = 0;
};

// The CPU backend. Holds scratch for the bf16 products, so one instance per user (a Model, a
// CachedForward), not shared between threads.
class CpuKernels final : public Kernels {
 public:
  void linear(float* y, const float* x, const Matrix& w, int64_t T, float beta = 0.f) override;
  void linear_backward(float* dx, float* dw, const float* dy, const float* x, const Matrix& w, int64_t T,
                       float dx_beta = 0.f) override;
  void bias(float* y, const float* b, int64_t T, int64_t n, int64_t ld) override;
  void bias_backward(float* db, const float* dy, int64_t T, int64_t n, int64_t ld) override;
  void embedding(float* x, const float* table, const int32_t* tokens, int64_t T, int64_t D) override;
  void embedding_backward(float* dtable, const float* dx, const int32_t* tokens, int64_t T,
                          int64_t D) override;
  void rmsnorm(float* y, float* rstd, const float* x, const float* w, int64_t R, int64_t n, float eps,
               int64_t ld_x, int64_t ld_y) override;
  void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w,
                        const float* rstd, int64_t R, int64_t n, int64_t ld_x, int64_t ld_y,
                        float dx_beta) override;
  void rope(float* x, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
            int64_t hd, int64_t ld) override;
  void rope_backward(float* dx, const int32_t* pos, const float* cos, const float* sin, int64_t T, int64_t H,
                     int64_t hd, int64_t ld) override;
  void attention(float* out, float* lse, const float* q, const float* k, const float* v,
                 const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq, int64_t Hkv,
                 int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo) override;
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* out,
                          const float* lse, const float* q, const float* k, const float* v,
                          const int32_t* cu_seqlens, const int32_t* prefix, int64_t nseq, int64_t Hq,
                          int64_t Hkv, int64_t hd, int64_t ldq, int64_t ldk, int64_t ldv,
                          int64_t ldo) override;
  void swiglu(float* act, const float* gu, int64_t T, int64_t F) override;
  void swiglu_backward(float* dgu, const float* dact, const float* gu, int64_t T, int64_t F) override;
  void logprob(float* logp, float* entropy, float* lse, const float* logits, const int32_t* target, int64_t R,
               int64_t V) override;
  void logprob_backward(float* logits, const float* lse, const float* entropy, const int32_t* target,
                        const float* dlogp, const float* dentropy, int64_t R, int64_t V) override;
  void scale(float* x, float s, int64_t n) override;

 private:
  std::vector<uint16_t> xbf_;  // activations rounded to bf16 for the current product
  Bf16Scratch bf16_scratch_;   // the bf16 backward's conversions
};

}  // namespace r1
