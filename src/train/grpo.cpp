#include "train/grpo.h"

#include <algorithm>
#include <cmath>
#include <utility>

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

void GrpoConfig::validate() const {
  if (!(eps_low >= 0 && eps_low <= 1)) fail("grpo: eps_low must be in [0, 1], got {}", eps_low);
  if (!(eps_high >= 0) || !std::isfinite(eps_high))
    fail("grpo: eps_high must be a finite number >= 0, got {}", eps_high);
  if (!(beta >= 0) || !std::isfinite(beta)) fail("grpo: beta must be a finite number >= 0, got {}", beta);
  if (!(std_eps >= 0) || !std::isfinite(std_eps))
    fail("grpo: std_eps must be a finite number >= 0, got {}", std_eps);
  if (!std::isfinite(entropy_coef)) fail("grpo: entropy_coef must be finite, got {}", entropy_coef);
  if (clip_ratio_c != 0 && !(clip_ratio_c > 1 && std::isfinite(clip_ratio_c)))
    fail("grpo: clip_ratio_c must be 0 (off) or a finite number > 1, got {}", clip_ratio_c);
  if (clip_ratio_c != 0 && loss_type == GrpoLossType::kCispo)
    fail("grpo: clip_ratio_c (dual clip) does not apply to CISPO, whose weight is capped at 1 + eps_high");
}

namespace {

// The clipped surrogate's negation for ratio r and advantage A: its value, d/dr, and which
// branch was taken (0 unclipped, 1 clipped low, 2 clipped high, 3 dual clip).
struct Surrogate {
  double loss, dr;
  int branch;
};

Surrogate clipped_surrogate(double r, double A, double lo, double hi, double c) {
  const double unclipped = r * A, clipped = std::clamp(r, lo, hi) * A;
  if (unclipped > clipped) return {-clipped, 0.0, A < 0 ? 1 : 2};
  if (c > 0 && A < 0 && -unclipped > -c * A) return {-c * A, 0.0, 3};
  return {-unclipped, -A, 0};
}

// clamp(x, -kLogRatioClamp, kLogRatioClamp) and whether it passed x through (derivative 1, as
// torch.clamp's, also at the bounds; a NaN passes, so that it reaches the gradient).
std::pair<double, bool> clamp_log_ratio(double x) {
  return {std::clamp(x, -kLogRatioClamp, kLogRatioClamp), !(std::abs(x) > kLogRatioClamp)};
}

}  // namespace

void GrpoStats::add(const GrpoStats& o) {
  tokens += o.tokens, clipped_low += o.clipped_low, clipped_high += o.clipped_high,
      clipped_dual += o.clipped_dual;
  ratio_sum += o.ratio_sum, kl_sum += o.kl_sum, entropy_sum += o.entropy_sum, loss += o.loss;
  max_abs_log_ratio = std::max(max_abs_log_ratio, o.max_abs_log_ratio);
}

TokenLossFn grpo_loss(const GrpoConfig& cfg, const Batch& batch, const GrpoInputs& in, GrpoStats* stats) {
  cfg.validate();
  R1_CHECK(in.old_logp && in.advantage && in.weight);
  R1_CHECK(cfg.beta == 0.f || in.ref_logp);
  if (in.token_advantage && cfg.loss_type == GrpoLossType::kGspo)
    fail("grpo: per-token advantages (on-policy distillation) need grpo.loss_type grpo or cispo, not gspo");
  return [cfg, &batch, in, stats](const float* logp, const float* entropy, float* dlogp, float* dentropy) {
    const double lo = 1.0 - double(cfg.eps_low), hi = 1.0 + double(cfg.eps_high);
    const double beta = cfg.beta, ent_coef = cfg.entropy_coef, dual = cfg.clip_ratio_c;
    GrpoStats s;
    double loss = 0;
    std::fill(dlogp, dlogp + batch.size(), 0.f);
    if (dentropy) std::fill(dentropy, dentropy + batch.size(), 0.f);
    for (int64_t q = 0; q < batch.num_seqs(); q++) {
      const double w = in.weight[q], A_out = in.advantage[q];
      if (w == 0) continue;
      const int64_t t0 = batch.cu_seqlens[q], t1 = batch.cu_seqlens[q + 1];
      // GSPO: the output's one ratio s = exp(clamp20(mean log rho)) and its surrogate.
      Surrogate seq{0, 0, 0};
      double seq_ratio = 0;
      if (cfg.loss_type == GrpoLossType::kGspo) {
        double sum = 0;
        int64_t n = 0;
        for (int64_t t = t0; t < t1; t++)
          if (batch.targets[t] >= 0) sum += double(logp[t]) - double(in.old_logp[t]), n++;
        if (n == 0) continue;
        const auto [log_s, pass] = clamp_log_ratio(sum / double(n));
        seq_ratio = std::exp(log_s);
        seq = clipped_surrogate(seq_ratio, A_out, lo, hi, dual);
        seq.dr = pass ? seq.dr * seq_ratio : 0.0;  // now d(pg)/dlogp_t, for every token
      }
      for (int64_t t = t0; t < t1; t++) {
        if (batch.targets[t] < 0) continue;
        const double A = in.token_advantage ? A_out + double(in.token_advantage[t]) : A_out;
        const double lp = logp[t], log_ratio = lp - double(in.old_logp[t]);
        double rho, pg, g;  // the ratio, the policy-gradient term and its d/dlogp
        int branch;
        if (cfg.loss_type == GrpoLossType::kGspo) {
          rho = seq_ratio, pg = seq.loss, g = seq.dr, branch = seq.branch;
        } else {
          const auto [lr, pass] = clamp_log_ratio(log_ratio);
          rho = std::exp(lr);
          if (cfg.loss_type == GrpoLossType::kGrpo) {
            const Surrogate sr = clipped_surrogate(rho, A, lo, hi, dual);
            pg = sr.loss, g = pass ? sr.dr * rho : 0.0, branch = sr.branch;
          } else {  // CISPO: the capped weight is a constant, the gradient flows through logp
            const double cw = std::clamp(rho, lo, hi);
            pg = -cw * A * lp, g = -cw * A, branch = rho < lo ? 1 : rho > hi ? 2 : 0;
          }
        }
        if (branch == 1) s.clipped_low++;
        if (branch == 2) s.clipped_high++;
        if (branch == 3) s.clipped_dual++;
        if (in.is_weight) {
          const double c = in.is_weight[t];
          pg *= c, g *= c;
        }
        double l = pg;
        double kl = 0;
        if (beta != 0) {
          const auto [d, pass] = clamp_log_ratio(double(in.ref_logp[t]) - lp);
          const double ed = std::exp(d);
          kl = ed - d - 1;
          l += beta * kl;
          if (pass) g += beta * (1 - ed);
        }
        const double h = entropy ? double(entropy[t]) : 0.0;
        l -= ent_coef * h;
        loss += w * l;
        dlogp[t] = static_cast<float>(w * g);
        if (dentropy) dentropy[t] = static_cast<float>(-w * ent_coef);
        s.tokens++, s.ratio_sum += rho, s.kl_sum += kl, s.entropy_sum += h;
        s.max_abs_log_ratio = std::max(s.max_abs_log_ratio, std::abs(log_ratio));
      }
    }
    if (stats) {
      s.loss = loss;
      stats->add(s);
    }
    return loss;
  };
}

}  // namespace r1
