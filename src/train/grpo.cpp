#include "train/grpo.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace r1 {

std::vector<float> group_advantages(const std::vector<float>& rewards, int group_size, bool scale,
                                    float std_eps) {
  if (group_size < 1) fail("group_advantages: group size {} must be at least 1", group_size);
  const size_t G = static_cast<size_t>(group_size);
  if (rewards.size() % G != 0)
    fail("group_advantages: {} rewards are not a whole number of groups of {}", rewards.size(), G);
  std::vector<float> adv(rewards.size(), 0.f);
  for (size_t g0 = 0; g0 < rewards.size(); g0 += G) {
    const float* r = rewards.data() + g0;
    if (std::all_of(r, r + G, [r](float x) { return x == r[0]; })) continue;  // exactly 0
    double mean = 0;
    for (size_t i = 0; i < G; i++) mean += r[i];
    mean /= double(G);
    double var = 0;
    for (size_t i = 0; i < G; i++) var += (r[i] - mean) * (r[i] - mean);
    const double sd = G > 1 ? std::sqrt(var / double(G - 1)) : 0.0;
    const double denom = scale ? sd + double(std_eps) : 1.0;
    for (size_t i = 0; i < G; i++) adv[g0 + i] = static_cast<float>((r[i] - mean) / denom);
  }
  return adv;
}

std::vector<float> grpo_output_weights(const std::vector<int64_t>& completion_tokens,
                                       const std::vector<uint8_t>& truncated, const GrpoConfig& cfg) {
  const size_t N = completion_tokens.size();
  if (truncated.size() != N)
    fail("grpo_output_weights: {} truncation flags for {} outputs", truncated.size(), N);
  if (cfg.agg == GrpoAgg::kConstant && cfg.max_new_tokens <= 0)
    fail("grpo_output_weights: the constant aggregation needs max_new_tokens > 0");
  auto kept = [&](size_t i) { return completion_tokens[i] > 0 && !(cfg.mask_truncated && truncated[i]); };
  int64_t outputs = 0, tokens = 0;
  for (size_t i = 0; i < N; i++)
    if (kept(i)) outputs++, tokens += completion_tokens[i];
  std::vector<float> w(N, 0.f);
  for (size_t i = 0; i < N; i++) {
    if (!kept(i)) continue;
    double d = 0;
    switch (cfg.agg) {
      case GrpoAgg::kSeqMean:
        d = double(completion_tokens[i]) * double(outputs);
        break;
      case GrpoAgg::kTokenMean:
        d = double(tokens);
        break;
      case GrpoAgg::kConstant:
        d = double(cfg.max_new_tokens) * double(outputs);
        break;
    }
    w[i] = static_cast<float>(1.0 / d);
  }
  return w;
}

TokenLossFn grpo_loss(const GrpoConfig& cfg, const Batch& batch, const GrpoInputs& in, GrpoStats* stats) {
  R1_CHECK(in.old_logp && in.advantage && in.weight);
  R1_CHECK(cfg.beta == 0.f || in.ref_logp);
  if (cfg.loss_type != GrpoLossType::kGrpo) fail("grpo_loss: GSPO and CISPO are not implemented yet");
  return [cfg, &batch, in, stats](const float* logp, const float* entropy, float* dlogp, float* dentropy) {
    const double lo = 1.0 - double(cfg.eps_low), hi = 1.0 + double(cfg.eps_high);
    const double beta = cfg.beta, ent_coef = cfg.entropy_coef;
    GrpoStats s;
    double loss = 0;
    std::fill(dlogp, dlogp + batch.size(), 0.f);
    if (dentropy) std::fill(dentropy, dentropy + batch.size(), 0.f);
    for (int64_t q = 0; q < batch.num_seqs(); q++) {
      const double w = in.weight[q], A = in.advantage[q];
      if (w == 0) continue;
      for (int64_t t = batch.cu_seqlens[q]; t < batch.cu_seqlens[q + 1]; t++) {
        if (batch.targets[t] < 0) continue;
        const double lp = logp[t];
        const double lr = lp - double(in.old_logp[t]);
        s.max_abs_log_ratio = std::max(s.max_abs_log_ratio, std::abs(lr));
        const double rho = std::exp(std::clamp(lr, -20.0, 20.0));
        const double unclipped = rho * A, clipped = std::clamp(rho, lo, hi) * A;
        const bool take_unclipped = unclipped <= clipped && std::abs(lr) <= 20.0;
        double pg = -std::min(unclipped, clipped);
        double g = take_unclipped ? -unclipped : 0.0;  // d(-surrogate)/dlogp = -A rho, or 0
        if (!take_unclipped) (A < 0 ? s.clipped_low : s.clipped_high)++;
        if (cfg.clip_ratio_c > 0 && A < 0 && pg > -double(cfg.clip_ratio_c) * A) {
          pg = -double(cfg.clip_ratio_c) * A, g = 0;
          s.clipped_dual++;
        }
        const double isw = in.is_weight ? double(in.is_weight[t]) : 1.0;
        double l = isw * pg;
        g *= isw;
        double kl = 0;
        if (beta != 0) {
          const double d = double(in.ref_logp[t]) - lp, ed = std::exp(d);
          kl = ed - d - 1;
          l += beta * kl;
          g += beta * (1 - ed);
        }
        const double h = entropy ? double(entropy[t]) : 0.0;
        l -= ent_coef * h;
        loss += w * l;
        dlogp[t] = static_cast<float>(w * g);
        if (dentropy) dentropy[t] = static_cast<float>(-w * ent_coef);
        s.tokens++, s.ratio_sum += rho, s.kl_sum += kl, s.entropy_sum += h;
      }
    }
    if (stats) {
      stats->tokens += s.tokens, stats->clipped_low += s.clipped_low, stats->clipped_high += s.clipped_high;
      stats->clipped_dual += s.clipped_dual;
      stats->max_abs_log_ratio = std::max(stats->max_abs_log_ratio, s.max_abs_log_ratio);
      stats->ratio_sum += s.ratio_sum, stats->kl_sum += s.kl_sum, stats->entropy_sum += s.entropy_sum;
      stats->loss += loss;
    }
    return loss;
  };
}

}  // namespace r1
