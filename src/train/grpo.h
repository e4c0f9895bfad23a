// The GRPO objective (../shared/docs/R1-NOTES.md section 1, equations (1)-(3)) as a per-token
// loss for Model::forward_backward: group-relative advantages, the clipped surrogate against the
// rollout policy's log-probs (or GSPO's sequence ratio, or CISPO's clipped importance weight),
// optional dual clip and truncated importance sampling, the k3 KL estimator against a reference
// model, an optional entropy bonus, and the three loss aggregations in use (GRPO, DAPO,
// Dr. GRPO). docs/ARCHITECTURE.md ("GRPO") has the equations as implemented.
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

// The policy-gradient term of the per-token loss (R1-NOTES section 8).
enum class GrpoLossType {
  kGrpo,   // token ratio rho_t, PPO clip (DeepSeekMath / DeepSeek-R1)
  kGspo,   // GSPO (Zheng et al. 2025): one ratio per output, exp(mean_t log rho_t), clipped per output
  kCispo,  // CISPO (MiniMax-M1): -sg(clip(rho_t)) A logp_t; clipping caps the weight, drops nothing
};

// log rho (and the KL's exponent) are clamped to [-kLogRatioClamp, kLogRatioClamp] before exp, as
// verl does, so that exp cannot overflow; the gradient is 0 outside (torch.clamp's).
inline constexpr double kLogRatioClamp = 20;

struct GrpoConfig {
  float eps_low = 0.2f;   // ratio clipped below at 1 - eps_low
  float eps_high = 0.2f;  // ... and above at 1 + eps_high (DAPO's clip-higher: 0.28)
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
  GrpoLossType loss_type = GrpoLossType::kGrpo;
  // Dual clip (Ye et al. 2020; verl's clip_ratio_c, typically 3): 0 = off; when > 1, for A < 0 the
  // policy loss of a token is also bounded by -clip_ratio_c * A (no gradient past it), so a huge
  // ratio on a bad output cannot blow the loss up. For kGrpo and kGspo; kCispo refuses it (its
  // weight is already capped at 1 + eps_high).
  float clip_ratio_c = 0.f;

  // r1::Error naming the field: eps_low outside [0, 1], eps_high, beta or std_eps negative or not
  // finite, entropy_coef not finite, clip_ratio_c neither 0 nor a finite number > 1, or dual clip
  // with kCispo. grpo_loss calls it.
  void validate() const;
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
// loss function ADDS to it (max_abs_log_ratio: takes the max), so one GrpoStats can gather all
// micro-batches of a step. "ratio" is the one the surrogate uses: rho_t (kGrpo, kCispo) or the
// output's s_i (kGspo, counted once per token of the output, as are its clip events).
struct GrpoStats {
  int64_t tokens = 0;
  // kGrpo / kGspo: the clipped branch of the min was taken (no gradient): A < 0 and
  // ratio < 1 - eps_low (low), A > 0 and ratio > 1 + eps_high (high). kCispo: the weight was
  // capped (the gradient stays): ratio < 1 - eps_low (low), ratio > 1 + eps_high (high).
  int64_t clipped_low = 0;
  int64_t clipped_high = 0;
  int64_t clipped_dual = 0;  // dual clip: A < 0 and the loss bounded by -clip_ratio_c A (no gradient)
  double ratio_sum = 0;
  double kl_sum = 0;  // k3 estimator per token (0 when beta = 0)
  double entropy_sum = 0;
  double max_abs_log_ratio = 0;  // max over tokens of |logp - old_logp| (before the clamp)
  double loss = 0;               // the weighted loss (sum over calls)

  double clip_fraction() const { return tokens ? double(clipped_low + clipped_high) / double(tokens) : 0; }
  double dual_clip_fraction() const { return tokens ? double(clipped_dual) / double(tokens) : 0; }
  // Gathers another call's statistics (sums; max_abs_log_ratio: the max).
  void add(const GrpoStats& o);
  double mean_ratio() const { return tokens ? ratio_sum / double(tokens) : 0; }
  double mean_kl() const { return tokens ? kl_sum / double(tokens) : 0; }
  double mean_entropy() const { return tokens ? entropy_sum / double(tokens) : 0; }
};

// The inputs of one (micro-)batch: a packed Batch of prompt+completion sequences whose prompt
// positions have target -1, and per position t with a target (aligned with batch.targets[t], i.e.
// the log-prob of token targets[t]):
//   old_logp[t]: log pi_old (the rollout engine's log-probs),
//   ref_logp[t]: log pi_ref (null when cfg.beta == 0);
//   is_weight[t]: optional truncated-importance-sampling weight (verl's TIS,
//     min(pi_old / pi_sampler, C)), a constant that multiplies the policy-gradient part of the
//     token's loss and gradient (not the KL or entropy parts); null = 1;
// per sequence s: advantage[s] (group_advantages) and weight[s] (grpo_output_weights).
// Pointers must outlive the returned function.
//   token_advantage[t]: optional, added to the output's advantage for token t (on-policy
//     distillation's per-token signal, coef * (log pi_teacher - log pi_old)); null = 0. Not with
//     kGspo, whose one ratio per output has one advantage.
struct GrpoInputs {
  const float* old_logp = nullptr;
  const float* ref_logp = nullptr;
  const float* advantage = nullptr;
  const float* weight = nullptr;
  const float* is_weight = nullptr;
  const float* token_advantage = nullptr;
};

// The GRPO TokenLossFn. Per token t of sequence s (A = advantage[s] + token_advantage[t], w = weight[s],
// c_t = is_weight[t] or 1, lo = 1 - eps_low, hi = 1 + eps_high, clamp20 = clamp to [-20, 20]):
//   loss_t = c_t * pg_t + beta (e^d - d - 1) - entropy_coef * H_t,   d = clamp20(ref_logp - logp)
// with the policy-gradient term pg_t by loss_type:
//   kGrpo:  rho = exp(clamp20(logp - old_logp));  pg_t = -min(rho A, clip(rho, lo, hi) A)
//   kGspo:  rho = s = exp(clamp20(mean over s's loss tokens of (logp - old_logp))), the same for
//           every token of the output; pg_t = -min(s A, clip(s, lo, hi) A)
//   kCispo: rho = exp(clamp20(logp - old_logp));  pg_t = -sg(clip(rho, lo, hi)) A logp_t
// and, with dual clip (clip_ratio_c = c > 1; kGrpo, kGspo) and A < 0, pg_t = min(pg_t, -c A).
// The loss is sum_t w * loss_t. Gradients (exact; a clamp20 that bites gives 0 for its term):
//   dL/dlogp_t = w * (c_t * g_t + beta (1 - e^d)),   dL/dH_t = -w * entropy_coef,
//   g_t = -A rho [unclipped branch and not dual-clipped]   (kGrpo; kGspo with rho = s: the
//         output's |o| tokens each carry pg(s) and ds/dlogp_t = s / |o|),
//   g_t = -A clip(rho, lo, hi)                              (kCispo).
// The unclipped branch is taken when rho A <= clip(rho) A (ties, i.e. rho inside the clip range
// or A = 0, included); the dual clip when pg_t > -c A strictly. kGspo with is_weight: token t's
// term is c_t pg(s_t), s_t = sg(s) pi_t / sg(pi_t) (GSPO-token's ratio: value s, gradient
// through logp_t only), so g_t above holds with c_t; without is_weight it is exactly GSPO.
// Throws r1::Error if cfg is invalid (GrpoConfig::validate). `batch`, `in` and `stats` (may be
// null) must outlive the function.
TokenLossFn grpo_loss(const GrpoConfig& cfg, const Batch& batch, const GrpoInputs& in,
                      GrpoStats* stats = nullptr);

}  // namespace r1
