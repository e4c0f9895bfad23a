// The cached forward pass used by generation: new tokens of many sequences (prefill chunks and
// single decode tokens, mixed) run through the model as one packed batch, with attention over
// each sequence's K/V in a paged KvCache.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "io/dtype.h"
#include "kernels/kernels.h"
#include "model/kv_cache.h"
#include "model/layer.h"
#include "model/model.h"

namespace r1 {

// New tokens of one sequence; they take positions length(seq), length(seq)+1, ... in the cache.
struct SeqTokens {
  KvCache::SeqId seq;
  std::span<const int32_t> tokens;
};

// compute selects the matrix products' input type. F32: OpenBLAS sgemm throughout. BF16: the
// weight matrices (stacked q/k/v, o, stacked gate/up, down, LM head) are copied to bf16 and
// packed (PackedWeights, model/layer.h), at 2 bytes per parameter in them (about 220 MiB for a
// 120M model; weight_copy_bytes), once per version of the model's parameters
// (Model::version()): here, and again by run() when the version changed since (the whole copy
// is repacked; a 0.5B model takes a fraction of a second, bench/bench_pack). Each product's
// activations are rounded to bf16 (nearest, ties to even) just before it, and the product runs
// with exact products, fp32 sums and output. Everything else (norms, biases, RoPE, attention,
// softmax, residuals) stays fp32. Other dtypes are refused.
// The KV cache's element type is the cache's own (KvCache::dtype(), F32 or BF16, whatever the
// compute dtype); attention converts bf16 elements to fp32 as it reads them.
// The layers are the decoder stack's (layer_forward, model/layer.h), the same code as training's
// forward; this class supplies their attention (AttentionOp): the new rows' K/V are written into
// the cache and every row attends over its sequence's cached keys. Phase timings of run():
// ForwardProfile (model/layer.h).
class CachedForward final : private AttentionOp {
 public:
  explicit CachedForward(Model& model, DType compute = DType::F32);

  DType compute_dtype() const { return compute_; }
  // Bytes held by the bf16 weight copies (0 for F32).
  size_t weight_copy_bytes() const;
  // Re-copies the weights to bf16 now (a no-op for F32, which reads the model's parameters
  // directly). run() does this by itself when Model::version() moved; call it after writing
  // through a params() pointer taken earlier without mark_params_changed().
  void sync_weights();
  // sync_weights() if the model's version differs from the one packed; whether it packed.
  bool refresh_weights();
  // How many times the weights were packed (bf16; 0 for F32): the constructor's pack is the first.
  int64_t weight_packs() const;

  // Appends each item's tokens to its sequence, writes their K (after q/k norm and RoPE) and V
  // into the cache, and attends causally over everything cached for that sequence. logits:
  // (items, V) at each item's last new token, or (total new tokens, V) in batch order when
  // all_positions. Returns false, changing nothing, when the pool lacks blocks for the batch
  // (it asks for the sum of blocks_needed, so a scheduler can check the same sum first).
  bool run(KvCache& cache, std::span<const SeqTokens> batch, float* logits, bool all_positions = false);

  // Phase timings: off by default (two clock reads per phase per layer when on).
  void set_profiling(bool on) { profiling_ = on; }
  const ForwardProfile& profile() const { return profile_; }
  void reset_profile() { profile_ = {}; }

 private:
  struct Task {  // attention work: rows [r0, r1) (one sequence's new tokens) x kv heads [h0, h1)
    int64_t item, r0, r1;
    int h0, h1;
  };
  void forward(Kernels& K, int layer, const float* q, const float* k, const float* v, int64_t ldv, float* out,
               float* lse) override;
  template <class Elem>  // float (F32 cache) or uint16_t (BF16 cache)
  void attention_tiles(const KvCache& cache, int layer);
  template <class Elem>
  static void store_kv(KvCache& cache, int layer, int32_t block, int64_t slot, const float* k,
                       const float* v);

  Model& model_;
  DType compute_;
  bool profiling_ = false;
  ForwardProfile profile_;
  CpuKernels kernels_;
  std::unique_ptr<PackedWeights> packed_;  // BF16 only
  // Per-run layout of the packed batch.
  std::vector<int32_t> tokens_, pos_, row_item_;
  std::vector<const int32_t*> tables_;  // block table of each item
  std::vector<Task> tasks_;
  // During run(): the cache, and the layer's queries and attention output.
  KvCache* cache_ = nullptr;
  const float* q_in_ = nullptr;
  float* o_out_ = nullptr;
  // Activations of one layer (T rows), reused across layers and calls.
  LayerActs acts_;
  std::vector<float> x_, x_next_, last_, last_rstd_;
};

}  // namespace r1
