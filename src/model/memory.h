// Memory a model, a generation pool or a training run needs, computed from the configuration
// before anything is allocated, and the check that refuses (one r1::Error line naming the field
// and the size) what this machine cannot hold. The arithmetic saturates at UINT64_MAX, so an
// absurd configuration (a vocabulary of 2^31 times a hidden size of 2^31, 100000 layers) reads
// as "too large", never as a small number that wrapped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "io/dtype.h"
#include "model/config.h"

namespace r1 {

// Parameters the configuration implies: the sum of every tensor's elements (what a checkpoint
// of this model holds). Saturates at UINT64_MAX; negative sizes count as 0.
uint64_t model_param_count(const ModelConfig& c);
// Floats in the Model's parameter arena: model_param_count plus the padding that aligns each
// tensor group to 64 bytes (exactly Model::num_params(), which also sizes gradients and AdamW's
// moments). Saturates at UINT64_MAX.
uint64_t model_arena_floats(const ModelConfig& c);

// "a model of 18.5G parameters (model.num_layers 100000)": the size and the field that makes the
// model large (the one whose value multiplies the count most), named as the user wrote it.
std::string describe_model_size(const ModelConfig& c);

// A parameter count with a k/M/G/T suffix ("1.03G"); a saturated count reads "more than 1.8e19".
std::string format_param_count(uint64_t n);

// Bytes, with the largest binary unit that keeps the number >= 1: "512 B", "23.4 GiB".
std::string format_bytes(uint64_t bytes);

// Physical memory (sysconf), lowered to the cgroup memory limit when one is set (v2
// memory.max, v1 memory.limit_in_bytes). Never an address-space limit: sanitizers reserve
// terabytes of virtual memory they never use.
uint64_t machine_memory_bytes();

// What a run keeps in memory, in bytes; each part saturates, and so does total().
struct MemoryEstimate {
  uint64_t params = 0;       // the fp32 parameter arena
  uint64_t reference = 0;    // a frozen copy of the parameters (GRPO's KL reference)
  uint64_t grads = 0;        // gradients (one float per parameter)
  uint64_t optimizer = 0;    // AdamW's first and second moments
  uint64_t activations = 0;  // what forward_backward keeps per token, times the tokens of one call
  uint64_t logits = 0;       // the loss head's chunk of logits and gathered rows
  uint64_t kv_pool = 0;      // the generation engine's KV-cache pool and its block tables
  uint64_t weight_copy = 0;  // bf16 compute: packed bf16 copies of the matrices (engine, training)
  uint64_t total() const;
  // "parameters 74.0 GiB, gradients 74.0 GiB, ...": the non-zero parts.
  std::string breakdown() const;
};

// The model alone (inference): its parameter arena.
MemoryEstimate estimate_model_memory(const ModelConfig& c);

// The KV pool KvCache(c, budget_bytes, block_size, dtype) maps: whole blocks within the budget
// (at most 2^31 - 1 of them) plus their bookkeeping.
uint64_t kv_pool_bytes(const ModelConfig& c, uint64_t budget_bytes, int block_size = 16,
                       DType dtype = DType::F32);

// Bytes of CachedForward's bf16 copy of the matrices (CachedForward::weight_copy_bytes()).
uint64_t bf16_weight_copy_bytes(const ModelConfig& c);

// A generation engine over a loaded model: the parameters plus the KV pool, and with BF16 (the
// engine's compute dtype, which its KV cache shares) the bf16 weight copy, which the engine keeps
// for its lifetime (a trainer's rollout engine: the whole run).
MemoryEstimate estimate_generation_memory(const ModelConfig& c, uint64_t kv_budget_bytes, int block_size = 16,
                                          DType kv_dtype = DType::F32);

struct TrainingMemoryPlan {
  int64_t batch_tokens = 0;      // most tokens in one forward_backward call (one micro-batch)
  uint64_t kv_budget_bytes = 0;  // GRPO: the rollout engine's KV budget (0: no engine)
  int kv_block_size = 16;
  DType kv_dtype = DType::F32;
  bool reference_model = false;  // GRPO with beta > 0 keeps a second copy of the parameters
  uint64_t teacher_bytes =
      0;  // frozen models besides the reference: a distillation teacher (and its bf16 copy), reward models
  // Model::set_compute: bf16 training keeps packed bf16 copies of the matrices (W for the
  // forward, W^T for the backward; the reference model its forward copy); recomputation keeps
  // one layer's activations instead of every layer's.
  DType compute = DType::F32;
  bool recompute = false;
};

// A training run: parameters, gradients, AdamW's m and v, the activations forward_backward keeps
// for batch_tokens tokens (every layer's, plus the backward pass's scratch), the loss head's
// logits chunk, and the KV pool (and reference model) when the plan has them.
MemoryEstimate estimate_training_memory(const ModelConfig& c, const TrainingMemoryPlan& plan);

// Refuses an estimate larger than machine_memory_bytes(), with one line
// "<what> needs <total> (<breakdown>), more than this machine's <memory> of memory". `what` is the
// subject, naming the source and the field or option: e.g.
//   "config.json: a model of 1.03G parameters (num_hidden_layers 100000)".
void check_fits_in_memory(const MemoryEstimate& e, std::string_view what);

// The check every path that makes a Model runs (ModelConfig::validate and the Model constructor):
// the parameter arena must fit in this machine's memory. Messages start with `source`.
void check_model_memory(const ModelConfig& c, std::string_view source);

// A training run's estimate against this machine's memory, e.g. from a trainer before the model
// and the optimizer are allocated:
//   check_training_memory(config, {.batch_tokens = 4096}, recipe.name(), "train.batch_tokens");
// fails with "<source>: training a model of 18.5G parameters (model.num_layers 100000) with
// train.batch_tokens 4096 needs 277 GiB (parameters ..., gradients ..., AdamW moments ...,
// activations ..., logits ...), more than this machine's 23.4 GiB of memory".
void check_training_memory(const ModelConfig& c, const TrainingMemoryPlan& plan, std::string_view source,
                           std::string_view batch_tokens_key);

// The most tokens one forward_backward call (plan.batch_tokens) may hold for the whole run's
// estimate to stay within budget_bytes; 0 when not even one token fits (the rest of the run alone
// exceeds the budget).
int64_t fit_batch_tokens(const ModelConfig& c, TrainingMemoryPlan plan, uint64_t budget_bytes);

}  // namespace r1
