// The decoder layer, once: norms, the stacked q/k/v product (with bias), Qwen3's q/k norms,
// RoPE, attention (dispatched through AttentionOp), the output projection, SwiGLU and the down
// projection, with the residual stream around both blocks; its backward; and the final norm and
// the weight matrices of the LM head. Training (Model::forward_backward), the log-prob passes
// (Model::forward) and generation's cached forward (CachedForward::run) all run these functions,
// with every kernel behind the Kernels interface (kernels/kernels.h). What differs between them
// is only where attention's keys and values live: the packed batch itself (PackedAttention) or
// the paged KV cache (CachedForward's AttentionOp), and the compute dtype of the products
// (PackedWeights).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "io/dtype.h"
#include "kernels/kernels.h"
#include "model/model.h"

namespace r1 {

// Wall time of each phase of a forward, summed over calls while profiling is on (benchmarks:
// where a decode step goes). prepare: the q/k norms and RoPE; attention: writing K/V to the
// cache (generation) and attending.
struct ForwardProfile {
  double norms = 0, qkv = 0, prepare = 0, attention = 0, o_proj = 0, gate_up = 0, swiglu = 0, down = 0,
         head = 0, total = 0;
  int64_t calls = 0;
};

// The weight matrices of one layer as the kernels take them.
struct LayerMatrices {
  Matrix qkv, o, gu, down;
};

// bf16 copies of a model's weight matrices (stacked q/k/v, o, stacked gate/up, down, LM head),
// packed for the bf16 products (kernels/blas.h), made once per version of the parameters
// (Model::version()): refresh() repacks when the version moved. W itself (for y = x W^T) always;
// W^T too (for the backward's dx = dy W) once a refresh asks for it, after which both follow the
// versions. 2 bytes per parameter in them for each.
class PackedWeights {
 public:
  explicit PackedWeights(const Model& model, bool transposed = false);
  // Packs again what is stale (and W^T if asked and missing); whether it packed anything.
  bool refresh(const Model& model, bool transposed = false);
  void sync(const Model& model);  // packs W (and W^T if kept) now
  size_t bytes() const { return (size_ + (t_ ? size_t_ : 0)) * sizeof(uint16_t); }
  int64_t packs() const { return packs_; }
  // The matrices of layer l / of the head, fp32 parameters from W and bf16 copies from here
  // (bf16_t null until W^T is kept).
  LayerMatrices layer(const Weights& W, int l) const;
  Matrix head(const Weights& W) const;

 private:
  struct FreeDeleter {
    void operator()(uint16_t* p) const { std::free(p); }
  };
  using Buffer = std::unique_ptr<uint16_t[], FreeDeleter>;
  struct Offsets {
    size_t qkv, o, gu, down;
  };
  // Packs every matrix (transposed: W^T with pack_bf16_kmajor) into buf, sized `size` elements.
  void pack(const Model& model, bool transposed, Buffer& buf, size_t& size, std::vector<Offsets>& layers,
            size_t& head);
  ModelConfig config_;
  Buffer data_, data_t_;          // W and W^T copies: layers, then the LM head
  size_t size_ = 0, size_t_ = 0;  // elements
  bool t_ = false;                // W^T kept
  uint64_t version_ = 0;          // Model::version() that the copies hold
  int64_t packs_ = 0;
  std::vector<Offsets> layers_, layers_t_;
  size_t head_ = 0, head_t_ = 0;
};

// The fp32 matrices of layer l / of the head (no bf16 copies).
LayerMatrices layer_matrices(const ModelConfig& c, const Weights& W, int l);
Matrix head_matrix(const ModelConfig& c, const Weights& W);

// What one layer's forward keeps for its backward (T rows). In inference the same set is reused
// by every layer.
struct LayerActs {
  std::vector<float> rstd1, xn1, qkv, qn_rstd, kn_rstd, q, k, o, lse, x_mid, rstd2, xn2, gu, act;
  void resize(const ModelConfig& c, int64_t T);
  size_t bytes() const;
};
// The backward's scratch (T rows), shared by all layers.
struct LayerGradScratch {
  std::vector<float> dxn, dact, dgu, do_, dq, dk, dqkv;
  void resize(const ModelConfig& c, int64_t T);
  size_t bytes() const;
};

// Attention of a layer's rows: q (T, qd) and k (T, kvd) after the q/k norms and RoPE, v (T, kvd)
// at row stride ldv; writes out (T, qd) and, where the backward needs it, lse (T, Hq).
class AttentionOp {
 public:
  virtual ~AttentionOp() = default;
  virtual void forward(Kernels& K, int layer, const float* q, const float* k, const float* v, int64_t ldv,
                       float* out, float* lse) = 0;
};

// Attention within the packed batch (causal per sequence, shared prefixes; Batch).
class PackedAttention final : public AttentionOp {
 public:
  PackedAttention(const ModelConfig& c, const Batch& b);
  void forward(Kernels& K, int layer, const float* q, const float* k, const float* v, int64_t ldv, float* out,
               float* lse) override;
  // dq (T, qd), dk (T, kvd); dv at v's row stride ldv.
  void backward(Kernels& K, float* dq, float* dk, float* dv, const float* dout, const float* out,
                const float* lse, const float* q, const float* k, const float* v, int64_t ldv) const;

 private:
  const ModelConfig& c_;
  const int32_t* cu_;
  const int32_t* prefix_;
  int64_t nseq_;
};

// The rows a layer runs: T tokens at positions pos, RoPE tables (Model::ensure_rope covers them).
struct LayerRows {
  int64_t T = 0;
  const int32_t* pos = nullptr;
  const float* rope_cos = nullptr;
  const float* rope_sin = nullptr;
};

// x_out (T, D) = the layer applied to x_in (T, D); a holds its activations. x_out may not alias
// x_in. profile: phase timings, or null.
void layer_forward(Kernels& K, const ModelConfig& c, const LayerWeights& w, const LayerMatrices& m, int layer,
                   const LayerRows& rows, const float* x_in, float* x_out, LayerActs& a, AttentionOp& attn,
                   ForwardProfile* profile = nullptr);
// dx (T, D): on entry the gradient at the layer's output, on return at its input. Parameter
// gradients accumulate into g. a: what layer_forward kept for these rows and x_in.
void layer_backward(Kernels& K, const ModelConfig& c, const LayerWeights& w, const LayerMatrices& m,
                    const LayerWeights& g, const LayerRows& rows, const PackedAttention& attn,
                    const float* x_in, const LayerActs& a, LayerGradScratch& s, float* dx);

}  // namespace r1
