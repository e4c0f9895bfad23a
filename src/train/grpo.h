// The GRPO objective (../shared/docs/R1-NOTES.md section 1, equations (1)-(3)) as a per-token
// loss for Model::forward_backward: group-relative advantages, the clipped surrogate against the
// rollout policy's log-probs, the k3 KL estimator against a reference model, an optional entropy
// bonus, and the three loss aggregations in use (GRPO, DAPO, Dr. GRPO). docs/ARCHITECTURE.md
// ("GRPO") has the equations as implemented.
#pragma once

#include <cstdint>
#include <vector>

#include "model/model.h"

namespace r1 {

// How per-token losses are summed into the loss of a (mini-)batch of N outputs o_1..o_N.
enum class GrpoAgg {
  kSeqMean,    // GRPO (DeepSeekMath): mean over each output's tokens, then mean over outputs
  kTokenMean,  // DAPO: mean over all tokens of the batch
  kConstant,   // Dr. GRPO: sum over all tokens / (max_new_tokens * N)
};

enum class GrpoLossType { kGrpo, kGspo, kCispo };

struct GrpoConfig {
  GrpoLossType loss_type = GrpoLossType::kGrpo;
  float clip_ratio_c = 0;  // dual clip (A < 0): 0 = off, else > 1
  float eps_low = 0.2f;    // ratio clipped below at 1 - eps_low
  float eps_high = 0.2f;   // ... and above at 1 + eps_high (DAPO's clip-higher: 0.28)
  // KL coefficient. 0.001 is DeepSeek-R1's value (DeepSeekMath's GRPO used 0.04). 0 means no
  // reference model: ref_logp may be null and the KL term is not computed.
  float beta = 0.001f;
  GrpoAgg agg = GrpoAgg::kSeqMean;
  // Divide advantages by the group's std (equation (3)); Dr. GRPO turns this off.
  bool scale_rewards = true;
  // A_i = (r_i - mean) / (std + std_eps), std the sample (n - 1) std as in TRL's torch.std.
  float std_eps = 1e-4f;
  // Outputs that hit max_new_tokens (truncated) get zero weight and are left out of every
  // normaliser, as if they had not been sampled (DAPO's overlong filtering).
  bool mask_truncated = false;
  // Entropy bonus: loss -= entropy_coef * (entropy aggregated like the per-token loss).
  float entropy_coef = 0.f;
  // kConstant's per-output normaliser (Dr. GRPO divides each output's token sum by the
  // generation budget).
  int64_t max_new_tokens = 0;
};

// Equation (3) for rewards laid out group by group (group_size consecutive outputs per prompt):
// A_i = (r_i - mean(group)) / (std(group) + std_eps) when scale, else r_i - mean(group).
// std is the SAMPLE standard deviation (divisor group_size - 1, torch.std's default, as TRL);
// with group_size 1 it is taken as 0. A group whose rewards are all equal gets exactly 0
// advantages (tested for equality, so rounding in the mean cannot leave a tiny residue).
// Sums in double. Throws r1::Error if rewards.size() is not a multiple of group_size >= 1.
std::vector<float> group_advantages(const std::vector<float>& rewards, int group_size, bool scale,
                                    float std_eps = 1e-4f);

// The aggregation weight of every token of each output, for a whole batch of outputs (the
// optimizer step's mini-batch) BEFORE it is split into micro-batches: the GRPO loss of the batch
// is sum over outputs i and their tokens t of w_i * loss_{i,t}. completion_tokens[i] = |o_i| (the
// tokens of output i that carry a target); truncated[i] marks outputs that hit max_new_tokens
// (ignored unless cfg.mask_truncated). With M the outputs kept (not masked):
//   kSeqMean:   w_i = 1 / (|o_i| * M)
//   kTokenMean: w_i = 1 / (sum over kept outputs of |o_i|)
//   kConstant:  w_i = 1 / (cfg.max_new_tokens * M)
// and w_i = 0 for masked outputs and for empty ones. Since the weights are fixed for the whole
// batch, micro-batches that carry each output's w_i accumulate exactly the full-batch gradient.
// Throws r1::Error on size mismatch, or for kConstant without max_new_tokens > 0.
std::vector<float> grpo_output_weights(const std::vector<int64_t>& completion_tokens,
                                       const std::vector<uint8_t>& truncated, const GrpoConfig& cfg);

// What the loss saw, summed over the tokens that carry loss (target >= 0 and weight > 0). The
// loss function ADDS to it, so one GrpoStats can gather all micro-batches of a step.
struct GrpoStats {
  int64_t tokens = 0;
  int64_t clipped_low = 0;   // A < 0 and ratio < 1 - eps_low: the clipped branch, no gradient
  int64_t clipped_high = 0;  // A > 0 and ratio > 1 + eps_high: the clipped branch, no gradient
  int64_t clipped_dual = 0;
  double max_abs_log_ratio = 0;
  double ratio_sum = 0;
  double kl_sum = 0;  // k3 estimator per token (0 when beta = 0)
  double entropy_sum = 0;
  double loss = 0;  // the weighted loss (sum over calls)

  double clip_fraction() const { return tokens ? double(clipped_low + clipped_high) / double(tokens) : 0; }
  double mean_ratio() const { return tokens ? ratio_sum / double(tokens) : 0; }
  double mean_kl() const { return tokens ? kl_sum / double(tokens) : 0; }
  double mean_entropy() const { return tokens ? entropy_sum / double(tokens) : 0; }
};

// The inputs of one (micro-)batch: a packed Batch of prompt+completion sequences whose prompt
// positions have target -1, and per position t with a target (aligned with batch.targets[t], i.e.
// the log-prob of token targets[t]):
//   old_logp[t]: log pi_old (the rollout engine's log-probs),
//   ref_logp[t]: log pi_ref (null when cfg.beta == 0);
// per sequence s: advantage[s] (group_advantages) and weight[s] (grpo_output_weights).
// Pointers must outlive the returned function.
struct GrpoInputs {
  const float* old_logp = nullptr;
  const float* ref_logp = nullptr;
  const float* advantage = nullptr;
  const float* weight = nullptr;
  const float* is_weight = nullptr;
};

// The GRPO TokenLossFn. Per token of sequence s with ratio rho = exp(logp - old_logp),
// d = ref_logp - logp:
//   loss_t = -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) + beta (e^d - d - 1)
//            - entropy_coef * H_t
// and the loss is sum_t weight[s] * loss_t. Gradients (exact):
//   dL/dlogp_t = weight[s] * (-A rho [unclipped branch taken] + beta (1 - e^d)),
//   dL/dH_t   = -weight[s] * entropy_coef.
// The unclipped branch is taken when rho A <= clip(rho) A (ties, i.e. rho inside the clip range
// or A = 0, included). `batch`, `in` and `stats` (may be null) must outlive the function.
TokenLossFn grpo_loss(const GrpoConfig& cfg, const Batch& batch, const GrpoInputs& in,
                      GrpoStats* stats = nullptr);

}  // namespace r1
