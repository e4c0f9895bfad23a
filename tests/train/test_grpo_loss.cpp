// The GRPO objective (src/train/grpo.h) against tests/reference/grpo_ref.py, an independent
// PyTorch float64 implementation of equations (1)-(3) on padded tensors with autograd: loss,
// advantages, clip counts and every parameter gradient of a tiny model, for each aggregation
// mode, with and without the entropy bonus, with and without the KL term; the same for GSPO,
// CISPO, dual clip, TIS weights, log-ratios past the clamp and a tempered head with a vocabulary
// limit (Model::set_head); micro-batches accumulating to the full-batch gradient and stats; and
// hand-computed advantages, weights, branches and finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/rng.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"
#include "torch_ref.h"
#include "train/grpo.h"

using nlohmann::json;

namespace {

using r1::testing::have_torch;
using r1::testing::read_f64;
using r1::testing::rel_err;

constexpr int kGroup = 4;

// Three prompts x 4 completions of varied lengths, packed as prompt + completion with targets
// only on the completion; per position, old and reference log-probs derived from the current
// policy's log-probs (under the model's head) by chosen offsets, so that ratios fall inside and
// outside the clip range on both sides; a truncated-importance-sampling weight per position.
struct GrpoCase {
  r1::Batch batch;
  std::vector<int64_t> lengths;  // completion tokens per sequence
  std::vector<uint8_t> truncated;
  std::vector<float> rewards;
  std::vector<float> logp, entropy, old_logp, ref_logp, is_weight;
  std::vector<float> teacher_logp;  // on-policy distillation cases: log pi_teacher per position
};

// Per-sequence shifts of log(pi / pi_old) for `seq_shift` cases, so that GSPO's sequence ratios
// s = exp(shift) fall where intended. A per group 0: +, -, +, -; group 1: -, +, +, +; group 2: 0.
//   s0 1.65 (A > 0: clipped high), s1 0.61 (A < 0: clipped low), s2 0.67 (A > 0, below: not
//   clipped), s3 1.57 (A < 0, above: unclipped branch; past a dual clip at 1.5), s4 1.11 inside,
//   s5 1.35 (A > 0: clipped high also with eps_high 0.28), s6 0.95 and s7 1.16 inside.
constexpr float kSeqShift[12] = {0.5f,   -0.5f, -0.4f, 0.45f, 0.1f, 0.3f,
                                 -0.05f, 0.15f, 0.3f,  -0.3f, 0.f,  0.5f};

// seq_shift: old_logp = logp - (kSeqShift[s] + zero-mean token noise in [-0.25, 0.25]), so the
// token ratios spread around each output's s; otherwise the offsets of the original case.
// vocab: tokens are drawn below it (for a head with a vocabulary limit; 0 = the model's).
GrpoCase make_case(r1::Model& model, uint64_t seed, bool seq_shift = false, int vocab = 0) {
  GrpoCase c;
  const int V = vocab > 0 ? vocab : model.config().vocab_size;
  const int prompt_len[3] = {5, 9, 3};
  const int comp_len[3][kGroup] = {{7, 1, 12, 4}, {3, 15, 6, 9}, {5, 2, 8, 11}};
  // Group 0 and 1: varied rewards; group 2: all equal (advantages 0).
  c.rewards = {1.f, 0.f, 0.5f, 0.f, 0.f, 1.f, 1.f, 1.f, 0.3f, 0.3f, 0.3f, 0.3f};
  uint64_t k = 0;
  for (int p = 0; p < 3; p++) {
    std::vector<int32_t> prompt(static_cast<size_t>(prompt_len[p]));
    for (auto& t : prompt) t = static_cast<int32_t>(r1::hash_u64(seed, k++) % uint64_t(V));
    for (int g = 0; g < kGroup; g++) {
      const int C = comp_len[p][g];
      std::vector<int32_t> tok = prompt;
      for (int i = 0; i < C; i++) tok.push_back(static_cast<int32_t>(r1::hash_u64(seed, k++) % uint64_t(V)));
      std::vector<int32_t> tgt(tok.size(), -1);
      for (size_t t = prompt.size() - 1; t + 1 < tok.size(); t++) tgt[t] = tok[t + 1];
      c.batch.append(tok, tgt);
      c.lengths.push_back(C);
      c.truncated.push_back(C == 12 || C == 15 ? 1 : 0);  // as if max_new_tokens were hit
    }
  }
  const int64_t T = c.batch.size();
  c.logp.resize(T), c.entropy.resize(T), c.old_logp.assign(T, 0.f), c.ref_logp.assign(T, 0.f);
  c.is_weight.assign(T, 0.f);
  model.forward(c.batch, c.logp.data(), c.entropy.data());
  // rho = exp(-offset): 1.65, 1.35, 1.105, 1, 0.905, 0.741, 0.607 (away from 0.8, 1.2 and 1.28).
  const float offsets[7] = {-0.5f, -0.3f, -0.1f, 0.f, 0.1f, 0.3f, 0.5f};
  for (int64_t s = 0; s < c.batch.num_seqs(); s++) {
    const int32_t b = c.batch.cu_seqlens[s], e = c.batch.cu_seqlens[s + 1];
    std::vector<double> noise(static_cast<size_t>(e - b), 0.0);
    double mean = 0;
    for (int32_t t = b; t < e; t++) {
      if (c.batch.targets[t] < 0) continue;
      noise[t - b] = 0.5 * (r1::uniform01(r1::hash_u64(seed, 9000 + t)) - 0.5);
      mean += noise[t - b] / double(c.lengths[s]);
    }
    for (int32_t t = b; t < e; t++) {
      if (c.batch.targets[t] < 0) continue;
      const float off = seq_shift ? -static_cast<float>(kSeqShift[s] + noise[t - b] - mean)
                                  : offsets[r1::hash_u64(seed, 1000 + t) % 7];
      c.old_logp[t] = c.logp[t] + off;
      c.ref_logp[t] =
          c.logp[t] + 0.8f * static_cast<float>(r1::uniform01(r1::hash_u64(seed, 5000 + t)) - 0.5);
      // TIS: min(pi_old / pi_sampler, C) with C = 1.5, pi_old / pi_sampler in [0.67, 1.82].
      c.is_weight[t] =
          std::min(1.5f, std::exp(static_cast<float>(r1::uniform01(r1::hash_u64(seed, 7000 + t)) - 0.4)));
    }
  }
  return c;
}

// The first completion position of sequence s (its first target).
int64_t first_target(const GrpoCase& c, int64_t s) {
  for (int64_t t = c.batch.cu_seqlens[s]; t < c.batch.cu_seqlens[s + 1]; t++)
    if (c.batch.targets[t] >= 0) return t;
  return -1;
}

struct NamedConfig {
  std::string name;
  r1::GrpoConfig cfg;
  bool tis = false;        // pass the case's is_weight
  float distill_coef = 0;  // on-policy distillation: token advantages coef * (teacher_logp - old_logp)
};

std::vector<NamedConfig> configs() {
  std::vector<NamedConfig> v;
  r1::GrpoConfig grpo;  // the default (GRPO) with a KL coefficient large enough to matter
  grpo.beta = 0.1f;
  r1::GrpoConfig dapo = grpo;
  dapo.agg = r1::GrpoAgg::kTokenMean, dapo.eps_high = 0.28f, dapo.mask_truncated = true;
  r1::GrpoConfig dr = grpo;
  dr.agg = r1::GrpoAgg::kConstant, dr.scale_rewards = false, dr.max_new_tokens = 16;
  for (const NamedConfig& nc :
       {NamedConfig{"grpo", grpo}, NamedConfig{"dapo", dapo}, NamedConfig{"drgrpo", dr}}) {
    v.push_back(nc);
    NamedConfig e = nc;
    e.name += "_entropy", e.cfg.entropy_coef = 0.05f;
    v.push_back(e);
  }
  r1::GrpoConfig nokl = grpo;  // beta = 0: no reference log-probs at all
  nokl.beta = 0.f, nokl.mask_truncated = true, nokl.entropy_coef = 0.02f;
  v.push_back({"grpo_nokl", nokl});
  return v;
}

// The loss types, dual clip and TIS, each with and without the KL term, in the three
// aggregations.
std::vector<NamedConfig> mode_configs() {
  std::vector<NamedConfig> v;
  r1::GrpoConfig g;
  g.beta = 0.1f;
  r1::GrpoConfig dual = g;
  dual.clip_ratio_c = 1.5f;  // low, so that the case's ratios reach it (verl's default is 3)
  v.push_back({"grpo_dual", dual});
  dual.beta = 0, dual.agg = r1::GrpoAgg::kTokenMean;
  v.push_back({"grpo_dual_nokl_tokmean", dual});
  r1::GrpoConfig gspo = g;
  gspo.loss_type = r1::GrpoLossType::kGspo;
  v.push_back({"gspo", gspo});
  r1::GrpoConfig gspo2 = gspo;
  gspo2.beta = 0, gspo2.eps_high = 0.28f, gspo2.entropy_coef = 0.05f, gspo2.mask_truncated = true;
  v.push_back({"gspo_nokl_entropy_masked", gspo2});
  r1::GrpoConfig gspo3 = gspo;
  gspo3.agg = r1::GrpoAgg::kConstant, gspo3.max_new_tokens = 16, gspo3.clip_ratio_c = 1.5f;
  v.push_back({"gspo_dual_constant", gspo3});
  r1::GrpoConfig cispo = g;  // MiniMax-M1: only an upper bound (eps_low = 1: 1 - eps_low = 0)
  cispo.loss_type = r1::GrpoLossType::kCispo, cispo.eps_low = 1.f, cispo.eps_high = 0.28f;
  v.push_back({"cispo", cispo});
  r1::GrpoConfig cispo2 = cispo;  // both bounds active, no KL, token mean
  cispo2.eps_low = 0.2f, cispo2.eps_high = 0.2f, cispo2.beta = 0, cispo2.agg = r1::GrpoAgg::kTokenMean;
  v.push_back({"cispo_both_nokl_tokmean", cispo2});
  v.push_back({"grpo_tis", g, true});
  dual = g, dual.clip_ratio_c = 1.5f, dual.entropy_coef = 0.05f;
  v.push_back({"grpo_dual_tis_entropy", dual, true});
  v.push_back({"gspo_tis", gspo, true});
  gspo2.beta = 0.f;
  v.push_back({"gspo_tis_nokl", gspo2, true});
  v.push_back({"cispo_tis", cispo, true});
  return v;
}

const char* agg_name(r1::GrpoAgg a) {
  return a == r1::GrpoAgg::kSeqMean ? "seq_mean" : a == r1::GrpoAgg::kTokenMean ? "token_mean" : "constant";
}
const char* type_name(r1::GrpoLossType t) {
  return t == r1::GrpoLossType::kGrpo ? "grpo" : t == r1::GrpoLossType::kGspo ? "gspo" : "cispo";
}

// Runs forward_backward with the GRPO loss on `model` (gradients zeroed first).
double grpo_grads(r1::Model& model, const NamedConfig& nc, const GrpoCase& c, r1::GrpoStats* stats) {
  const r1::GrpoConfig& cfg = nc.cfg;
  const std::vector<float> adv = r1::group_advantages(c.rewards, kGroup, cfg.scale_rewards, cfg.std_eps);
  const std::vector<float> w = r1::grpo_output_weights(c.lengths, c.truncated, cfg);
  r1::GrpoInputs in;
  in.old_logp = c.old_logp.data(), in.ref_logp = cfg.beta != 0 ? c.ref_logp.data() : nullptr;
  in.advantage = adv.data(), in.weight = w.data();
  in.is_weight = nc.tis ? c.is_weight.data() : nullptr;
  std::vector<float> tadv;
  if (nc.distill_coef != 0) {
    for (size_t t = 0; t < c.teacher_logp.size(); t++)
      tadv.push_back(nc.distill_coef * (c.teacher_logp[t] - c.old_logp[t]));
    in.token_advantage = tadv.data();
  }
  model.zero_grads();
  return model.forward_backward(c.batch, r1::grpo_loss(cfg, c.batch, in, stats));
}

// Saves the model, writes the case and configs (the head of each: `model`'s), runs
// tests/reference/grpo_ref.py and returns the path of its output.
std::string run_reference(const r1::Model& model, const GrpoCase& c, const std::vector<NamedConfig>& cfgs,
                          const r1::Model* teacher = nullptr) {
  const std::string dir = r1::testing::scratch_dir();
  r1::save_model(model, dir + "/model");
  if (teacher) r1::save_model(*teacher, dir + "/teacher");
  json j;
  j["tokens"] = c.batch.tokens, j["cu_seqlens"] = c.batch.cu_seqlens, j["targets"] = c.batch.targets;
  j["old_logp"] = c.old_logp, j["ref_logp"] = c.ref_logp, j["is_weight"] = c.is_weight;
  j["rewards"] = c.rewards, j["group_size"] = kGroup, j["truncated"] = c.truncated;
  for (const NamedConfig& nc : cfgs)
    j["configs"].push_back({{"name", nc.name},
                            {"eps_low", nc.cfg.eps_low},
                            {"eps_high", nc.cfg.eps_high},
                            {"beta", nc.cfg.beta},
                            {"agg", agg_name(nc.cfg.agg)},
                            {"scale_rewards", nc.cfg.scale_rewards},
                            {"std_eps", nc.cfg.std_eps},
                            {"mask_truncated", nc.cfg.mask_truncated},
                            {"entropy_coef", nc.cfg.entropy_coef},
                            {"max_new_tokens", nc.cfg.max_new_tokens},
                            {"loss_type", type_name(nc.cfg.loss_type)},
                            {"clip_ratio_c", nc.cfg.clip_ratio_c},
                            {"tis", nc.tis},
                            {"distill_coef", nc.distill_coef},
                            {"temperature", model.head().temperature},
                            {"vocab", model.head().vocab}});
  r1::testing::write_file(dir + "/grpo.json", j.dump());
  const std::string out = dir + "/ref.safetensors";
  const std::string cmd = "/usr/bin/python3 " + std::string(R1_SOURCE_DIR) +
                          "/tests/reference/grpo_ref.py --model " + dir + "/model --batch " + dir +
                          "/grpo.json --out " + out +
                          (teacher ? " --teacher " + dir + "/teacher" : std::string()) + " 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return out;
}

// Runs config nc on the model and checks it against the oracle's output: advantages, loss, clip
// counts, max |log ratio| and every parameter gradient. Returns the stats.
//
// Tolerances: fp32 model against float64. Loss: 1e-5 relative to max(|loss|, 0.1) (the loss is
// a sum of +-terms of size ~0.1-1 that nearly cancel; measured <= 2.4e-7 absolute, and 1.7e-8
// relative for the ~4e7 losses of the clamp test); gradients: per tensor max-abs error over
// max-abs value 1e-4 (measured <= 5.2e-6; a missing KL term is ~4e-2, a sign or transpose error
// O(1)). Clip counts exactly; max |log ratio| to 1e-5 of max(1, value)
// (fp32 log-probs against float64's; measured <= 1e-6).
r1::GrpoStats check_against_reference(r1::Model& model, const NamedConfig& nc, const GrpoCase& c,
                                      const r1::SafetensorsFile& ref) {
  SCOPED_TRACE(nc.name);
  const std::vector<float> adv =
      r1::group_advantages(c.rewards, kGroup, nc.cfg.scale_rewards, nc.cfg.std_eps);
  EXPECT_LT(rel_err(adv.data(), read_f64(ref, nc.name + ".advantages")), 1e-6);

  r1::GrpoStats st;
  const double loss = grpo_grads(model, nc, c, &st);
  EXPECT_NEAR(st.loss, loss, 1e-12 * std::abs(loss));
  if (nc.cfg.beta == 0) {
    EXPECT_EQ(st.kl_sum, 0.0);
  }
  EXPECT_EQ(double(st.clipped_low), read_f64(ref, nc.name + ".clipped_low")[0]);
  EXPECT_EQ(double(st.clipped_high), read_f64(ref, nc.name + ".clipped_high")[0]);
  EXPECT_EQ(double(st.clipped_dual), read_f64(ref, nc.name + ".clipped_dual")[0]);
  const double ref_mlr = read_f64(ref, nc.name + ".max_abs_log_ratio")[0];
  EXPECT_NEAR(st.max_abs_log_ratio, ref_mlr, 1e-5 * std::max(1.0, ref_mlr));

  const double ref_loss = read_f64(ref, nc.name + ".loss")[0];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(std::abs(ref_loss), 0.1));
  double worst = 0;
  std::string worst_name;
  for (const auto& s : model.param_specs()) {
    std::vector<double> g = read_f64(ref, nc.name + ".grad." + s.name);
    EXPECT_EQ(g.size(), s.numel) << s.name;
    if (g.size() != s.numel) continue;
    const double e = rel_err(model.grads() + s.offset, g);
    EXPECT_LT(e, 1e-4) << "gradient of " << s.name;
    if (e > worst) worst = e, worst_name = s.name;
  }
  std::printf(
      "[%s] loss %.9g (ref %.9g, abs err %.2g), clipped low/high/dual %lld/%lld/%lld of %lld tokens, "
      "max |log ratio| err %.2g, worst gradient rel err %.3g (%s)\n",
      nc.name.c_str(), loss, ref_loss, std::abs(loss - ref_loss), static_cast<long long>(st.clipped_low),
      static_cast<long long>(st.clipped_high), static_cast<long long>(st.clipped_dual),
      static_cast<long long>(st.tokens), std::abs(st.max_abs_log_ratio - ref_mlr), worst, worst_name.c_str());
  return st;
}

TEST(GrpoLoss, LossAndEveryGradientEqualPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 21);
  GrpoCase c = make_case(model, 3);
  const std::vector<NamedConfig> cfgs = configs();
  r1::SafetensorsFile ref(run_reference(model, c, cfgs));
  ASSERT_LT(rel_err(c.logp.data(), read_f64(ref, "logp")), 1e-5);
  for (const NamedConfig& nc : cfgs) {
    SCOPED_TRACE(nc.name);
    const r1::GrpoStats st = check_against_reference(model, nc, c, ref);
    // The case must exercise both clipped branches and unclipped tokens, including ratios outside
    // the range whose unclipped branch the min picks (A > 0 with rho < 1 - eps_low and the mirror).
    EXPECT_GT(st.clipped_low, 0);
    EXPECT_GT(st.clipped_high, 0);
    EXPECT_GT(st.tokens - st.clipped_low - st.clipped_high, 10);
  }
}

// GSPO, CISPO, dual clip and TIS weights against the oracle, on a case whose outputs' sequence
// ratios lie inside and outside the clip range on both sides (kSeqShift).
// Deliberate mistakes tried, each failing here (worst gradient rel err against the 1e-4 bound):
// GSPO with the token ratio instead of the sequence one (0.5-1.1); CISPO's weight not detached
// (3.7-5.6); the TIS weight applied to the KL term too (1-2e-2); dual clip on A > 0 instead of
// A < 0 (0.75-1.5); GSPO's mean over all positions of the sequence instead of its loss tokens
// (1.1-2.5).
TEST(GrpoLoss, LossTypesDualClipAndTisEqualPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 23);
  GrpoCase c = make_case(model, 5, true);
  const std::vector<NamedConfig> cfgs = mode_configs();
  r1::SafetensorsFile ref(run_reference(model, c, cfgs));
  ASSERT_LT(rel_err(c.logp.data(), read_f64(ref, "logp")), 1e-5);
  for (const NamedConfig& nc : cfgs) {
    SCOPED_TRACE(nc.name);
    const r1::GrpoStats st = check_against_reference(model, nc, c, ref);
    // Every mode sees clipping on both sides and unclipped tokens; dual clip bites.
    EXPECT_GT(st.clipped_high, 0);
    if (nc.cfg.loss_type != r1::GrpoLossType::kCispo || nc.cfg.eps_low < 1) {
      EXPECT_GT(st.clipped_low, 0);
    } else {
      EXPECT_EQ(st.clipped_low, 0);  // eps_low = 1: no lower bound
    }
    EXPECT_GT(st.tokens - st.clipped_low - st.clipped_high - st.clipped_dual, 10);
    EXPECT_EQ(st.clipped_dual > 0, nc.cfg.clip_ratio_c > 0);
  }
}

// On-policy distillation: each token's advantage gains coef * (log pi_teacher - log pi_old), the
// teacher's log-prob of the student's own token (the reverse-KL estimate, detached). The oracle
// computes the teacher's log-probs itself from the teacher's weights. GRPO with a KL term and
// verifier advantages, CISPO, and pure distillation (equal rewards: no verifier signal).
// Bounds as above (measured: gradients <= 2.8e-6, loss <= 1.9e-7 absolute). Deliberate mistakes
// tried, each failing here: the teacher term's sign flipped (worst gradient rel err 2.1-3.3), the
// token advantages dropped (0.8-1).
TEST(GrpoLoss, OnPolicyDistillationEqualsPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 25);
  r1::Model teacher = r1::testing::tiny_model(r1::Arch::Llama, 26);
  GrpoCase c = make_case(model, 9);
  c.teacher_logp.resize(c.logp.size());
  std::vector<float> ent(c.logp.size());
  teacher.forward(c.batch, c.teacher_logp.data(), ent.data());
  std::vector<NamedConfig> cfgs;
  r1::GrpoConfig grpo;
  grpo.beta = 0.1f;
  cfgs.push_back({"distill_grpo", grpo, false, 0.5f});
  r1::GrpoConfig cispo;
  cispo.beta = 0, cispo.loss_type = r1::GrpoLossType::kCispo;
  cfgs.push_back({"distill_cispo", cispo, false, 1.0f});
  r1::SafetensorsFile ref(run_reference(model, c, cfgs, &teacher));
  EXPECT_LT(rel_err(c.teacher_logp.data(), read_f64(ref, "distill_grpo.teacher_logp")), 1e-5);
  for (const NamedConfig& nc : cfgs) check_against_reference(model, nc, c, ref);
  // Pure distillation: every reward equal, so the verifier gives nothing and the teacher is all.
  GrpoCase pure = c;
  std::fill(pure.rewards.begin(), pure.rewards.end(), 1.f);
  r1::GrpoConfig plain;
  plain.beta = 0;
  const std::vector<NamedConfig> p = {{"distill_only", plain, false, 1.0f}};
  r1::SafetensorsFile ref2(run_reference(model, pure, p, &teacher));
  const r1::GrpoStats st = check_against_reference(model, p[0], pure, ref2);
  EXPECT_GT(st.clipped_low + st.clipped_high, 0) << "per-token advantages of both signs meet the clip";
  // GSPO has one advantage per output: per-token ones are refused.
  r1::GrpoConfig gspo;
  gspo.loss_type = r1::GrpoLossType::kGspo;
  EXPECT_NE(r1::testing::error_of([&] {
              grpo_grads(model, {"gspo", gspo, false, 1.0f}, c, nullptr);
            }).find("need grpo.loss_type grpo or cispo"),
            std::string::npos);
}

// Ratios and KL exponents past the clamp at +-20: log ratio +25 on a one-token output with
// A < 0 (GSPO's sequence ratio is clamped too), +22 and -25 on other tokens, ref - logp = +-25.
// Without the clamp the unclipped A < 0 branch's gradient would be ~e^25 (and the KL's, with
// beta 0.1): removing the ratio clamp (gradient rel err 1e11) or the KL's (5e9) fails here; dual
// clip at verl's c = 3 bounds the loss.
TEST(GrpoLoss, ClampedLogRatiosEqualPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 24);
  GrpoCase c = make_case(model, 6, true);
  ASSERT_EQ(c.lengths[1], 1);
  const int64_t t1 = first_target(c, 1), t3 = first_target(c, 3), t0 = first_target(c, 0);
  c.old_logp[t1] = c.logp[t1] - 25.f;  // A < 0, the output's only token
  c.old_logp[t3] = c.logp[t3] - 22.f;  // A < 0
  c.old_logp[t0] = c.logp[t0] + 25.f;  // A > 0, ratio e^-20
  c.ref_logp[first_target(c, 4)] = c.logp[first_target(c, 4)] + 25.f;
  c.ref_logp[first_target(c, 6)] = c.logp[first_target(c, 6)] - 25.f;
  std::vector<NamedConfig> cfgs;
  r1::GrpoConfig g;
  g.beta = 0.1f;
  cfgs.push_back({"grpo", g});
  g.clip_ratio_c = 3;
  cfgs.push_back({"grpo_dual3", g});
  g.loss_type = r1::GrpoLossType::kGspo;
  cfgs.push_back({"gspo_dual3", g});
  g.clip_ratio_c = 0;
  cfgs.push_back({"gspo", g});
  g.loss_type = r1::GrpoLossType::kCispo, g.eps_low = 1, g.eps_high = 0.28f;
  cfgs.push_back({"cispo", g});
  r1::SafetensorsFile ref(run_reference(model, c, cfgs));
  for (const NamedConfig& nc : cfgs) {
    SCOPED_TRACE(nc.name);
    const r1::GrpoStats st = check_against_reference(model, nc, c, ref);
    EXPECT_NEAR(st.max_abs_log_ratio, 25, 1e-5);
    EXPECT_TRUE(std::isfinite(st.loss));
    if (nc.cfg.clip_ratio_c > 0) {
      EXPECT_GT(st.clipped_dual, 0);
    }
  }
}

// The tempered head with a vocabulary limit: the model's head is set to T = 0.7 over the first
// V - 7 entries, the oracle computes log_softmax(logits[:, :V - 7] / 0.7). Log-probs,
// entropies, the loss and every gradient match; lm_head rows past the limit get exactly no
// gradient. Dropping the 1/T in the backward fails the gradients (rel err 0.3); a head that
// ignores the limit fails the loss and gradients (0.3-0.65) and ModelHead's hand log-probs.
TEST(GrpoLoss, TemperedHeadEqualsPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 25);
  const int V = model.config().vocab_size, vocab = V - 7;
  model.set_head({0.7f, vocab});
  GrpoCase c = make_case(model, 7, true, vocab);
  std::vector<NamedConfig> cfgs;
  for (NamedConfig nc : mode_configs())
    if (nc.name == "grpo_dual" || nc.name == "gspo" || nc.name == "cispo") cfgs.push_back(nc);
  cfgs[2].cfg.entropy_coef = 0.05f;  // the entropy of the tempered, limited head
  r1::SafetensorsFile ref(run_reference(model, c, cfgs));
  const r1::ParamSpec* head = model.find_param("lm_head.weight");
  ASSERT_NE(head, nullptr);
  for (const NamedConfig& nc : cfgs) {
    SCOPED_TRACE(nc.name);
    const double elp = rel_err(c.logp.data(), read_f64(ref, nc.name + ".logp"));
    const double eent = rel_err(c.entropy.data(), read_f64(ref, nc.name + ".entropy"));
    EXPECT_LT(elp, 1e-5);
    EXPECT_LT(eent, 1e-5);
    std::printf("[%s] tempered head: logp rel err %.3g, entropy rel err %.3g\n", nc.name.c_str(), elp, eent);
    check_against_reference(model, nc, c, ref);
    const int64_t D = model.config().hidden_size;
    const float* g = model.grads() + head->offset;
    int64_t nonzero = 0;
    for (int64_t i = int64_t{vocab} * D; i < int64_t{V} * D; i++) nonzero += g[i] != 0.f;
    EXPECT_EQ(nonzero, 0);
  }
}

// Two micro-batches (sequences split across a group boundary and inside a group) carrying the
// full batch's advantages and weights accumulate to the full-batch loss, gradient and stats, in
// every mode (GSPO's sequence ratio needs only its own output, which a micro-batch holds whole).
TEST(GrpoLoss, MicroBatchesAccumulateToTheFullBatch) {
  r1::Model model = r1::testing::tiny_model(r1::Arch::Qwen2, 22);
  GrpoCase c = make_case(model, 4);
  const int64_t N = c.batch.num_seqs(), split = 6;
  std::vector<NamedConfig> all = configs();
  for (const NamedConfig& nc : mode_configs()) all.push_back(nc);
  for (const NamedConfig& nc : all) {
    SCOPED_TRACE(nc.name);
    r1::GrpoStats full_st;
    const double full_loss = grpo_grads(model, nc, c, &full_st);
    const std::vector<float> full(model.grads(), model.grads() + model.num_params());

    const std::vector<float> adv =
        r1::group_advantages(c.rewards, kGroup, nc.cfg.scale_rewards, nc.cfg.std_eps);
    const std::vector<float> w = r1::grpo_output_weights(c.lengths, c.truncated, nc.cfg);
    model.zero_grads();
    double loss = 0;
    r1::GrpoStats st;
    for (int64_t lo : {int64_t{0}, split}) {
      const int64_t hi = lo == 0 ? split : N;
      r1::Batch mb;
      std::vector<float> old_lp, ref_lp, isw;
      for (int64_t s = lo; s < hi; s++) {
        const int32_t b = c.batch.cu_seqlens[s], e = c.batch.cu_seqlens[s + 1];
        mb.append({c.batch.tokens.begin() + b, c.batch.tokens.begin() + e},
                  {c.batch.targets.begin() + b, c.batch.targets.begin() + e});
        old_lp.insert(old_lp.end(), c.old_logp.begin() + b, c.old_logp.begin() + e);
        ref_lp.insert(ref_lp.end(), c.ref_logp.begin() + b, c.ref_logp.begin() + e);
        isw.insert(isw.end(), c.is_weight.begin() + b, c.is_weight.begin() + e);
      }
      r1::GrpoInputs in;
      in.old_logp = old_lp.data(), in.ref_logp = ref_lp.data();
      in.advantage = adv.data() + lo, in.weight = w.data() + lo;
      in.is_weight = nc.tis ? isw.data() : nullptr;
      loss += model.forward_backward(mb, r1::grpo_loss(nc.cfg, mb, in, &st));
    }
    // The micro-batches' fp32 log-probs differ from the full batch's in the last bits (other
    // matrix shapes); the loss is a sum of +-terms of size ~0.1-1 that nearly cancel, so the bound
    // is relative to that scale. Measured: ~2e-8 absolute, gradients ~1e-6.
    EXPECT_NEAR(loss, full_loss, 1e-6 * std::max(std::abs(full_loss), 0.1));
    EXPECT_NEAR(st.loss, loss, 1e-12);
    EXPECT_EQ(st.tokens, full_st.tokens);
    EXPECT_EQ(st.clipped_low, full_st.clipped_low);
    EXPECT_EQ(st.clipped_high, full_st.clipped_high);
    EXPECT_EQ(st.clipped_dual, full_st.clipped_dual);
    EXPECT_NEAR(st.max_abs_log_ratio, full_st.max_abs_log_ratio, 1e-6);  // a max, not a sum
    std::vector<double> ref(full.begin(), full.end());
    const double e = rel_err(model.grads(), ref);
    EXPECT_LT(e, 1e-5);
    std::printf("[%s] micro-batches vs full batch: gradient rel err %.3g\n", nc.name.c_str(), e);
  }
}

TEST(GrpoAdvantages, HandValues) {
  // Sample std (n - 1): {1, 0, 0, 1} has std sqrt(1/3); population std would give +-1.
  auto a = r1::group_advantages({1, 0, 0, 1}, 4, true, 0.f);
  const float h = 0.5f * std::sqrt(3.f);
  EXPECT_FLOAT_EQ(a[0], h);
  EXPECT_FLOAT_EQ(a[1], -h);
  EXPECT_FLOAT_EQ(a[2], -h);
  EXPECT_FLOAT_EQ(a[3], h);
  a = r1::group_advantages({0, 2}, 2, true, 1e-4f);
  EXPECT_FLOAT_EQ(a[0], float(-1 / (std::sqrt(2.0) + 1e-4)));
  EXPECT_FLOAT_EQ(a[1], float(1 / (std::sqrt(2.0) + 1e-4)));
  // Unscaled (Dr. GRPO): r - mean; groups are independent.
  a = r1::group_advantages({1, 0, 0, 0, 3, 5}, 2, false);
  const std::vector<float> want = {0.5f, -0.5f, 0.f, 0.f, -1.f, 1.f};
  EXPECT_EQ(a, want);
  a = r1::group_advantages({1, 0, 0, 0}, 4, false);
  EXPECT_EQ(a, (std::vector<float>{0.75f, -0.25f, -0.25f, -0.25f}));
  // Equal rewards: exactly 0, scaled or not, even where the float mean would not be exact.
  for (bool scale : {true, false}) {
    a = r1::group_advantages({0.1f, 0.1f, 0.1f, 0.7f, 0.7f, 0.7f}, 3, scale);
    EXPECT_EQ(a, std::vector<float>(6, 0.f));
  }
  EXPECT_EQ(r1::group_advantages({0.4f, 1.f}, 1, true), std::vector<float>(2, 0.f));
  r1::testing::expect_error([] { r1::group_advantages({1, 2, 3}, 2, true); }, {"3 rewards", "groups of 2"});
  r1::testing::expect_error([] { r1::group_advantages({1, 2}, 0, true); }, {"group size 0"});
}

TEST(GrpoWeights, HandValues) {
  const std::vector<int64_t> len = {2, 4, 0, 5};
  const std::vector<uint8_t> trunc = {0, 0, 0, 1};
  r1::GrpoConfig cfg;
  auto w = r1::grpo_output_weights(len, trunc, cfg);  // seq-mean over the 3 non-empty outputs
  EXPECT_EQ(w, (std::vector<float>{1.f / 6, 1.f / 12, 0.f, 1.f / 15}));
  cfg.mask_truncated = true;  // output 3 dropped from the weights and the count
  w = r1::grpo_output_weights(len, trunc, cfg);
  EXPECT_EQ(w, (std::vector<float>{1.f / 4, 1.f / 8, 0.f, 0.f}));
  cfg.agg = r1::GrpoAgg::kTokenMean;
  w = r1::grpo_output_weights(len, trunc, cfg);
  EXPECT_EQ(w, (std::vector<float>{1.f / 6, 1.f / 6, 0.f, 0.f}));
  cfg.mask_truncated = false;
  w = r1::grpo_output_weights(len, trunc, cfg);
  EXPECT_EQ(w, (std::vector<float>{1.f / 11, 1.f / 11, 0.f, 1.f / 11}));
  cfg.agg = r1::GrpoAgg::kConstant, cfg.max_new_tokens = 8;
  w = r1::grpo_output_weights(len, trunc, cfg);
  EXPECT_EQ(w, (std::vector<float>{1.f / 24, 1.f / 24, 0.f, 1.f / 24}));
  cfg.max_new_tokens = 0;
  r1::testing::expect_error([&] { r1::grpo_output_weights(len, trunc, cfg); }, {"max_new_tokens"});
  r1::testing::expect_error([&] { r1::grpo_output_weights(len, {0}, cfg); }, {"1 truncation flags for 4"});
}

// The loss function alone on hand-made tokens: each branch of the min, the KL and entropy terms,
// and dL/dlogp against central finite differences of the loss itself.
// Two sequences of hand-made tokens (1 prompt token then 5 and 3 completion tokens) with
// A = {0.7, -1.3}, w = {0.25, 0.5} and these ratios per token: seq 0 (A > 0): inside, high,
// low, at 1, inside; seq 1 (A < 0): low, high (1.7: past a dual clip at 1.6), inside.
struct HandTokens {
  r1::Batch b;
  float A[2] = {0.7f, -1.3f}, w[2] = {0.25f, 0.5f};
  std::vector<float> logp = std::vector<float>(10, 0.f), old = logp, ref = logp, ent = logp;
  HandTokens() {
    b.append({0, 1, 2, 3, 4, 5}, {-1, 1, 2, 3, 4, 5});
    b.append({0, 1, 2, 3}, {-1, 1, 2, 3});
    const double rho[10] = {0, 1.1, 1.5, 0.5, 1.0, 0.9, 0, 0.6, 1.7, 1.05};
    for (int t = 0; t < 10; t++) {
      if (b.targets[t] < 0) continue;
      logp[t] = -1.f - 0.1f * float(t);
      old[t] = static_cast<float>(logp[t] - std::log(rho[t]));
      ref[t] = logp[t] + 0.05f * float(t % 3) - 0.04f;
      ent[t] = 0.3f + 0.1f * float(t);
    }
  }
  // Central differences of fn's loss in logp[t], compared with dlogp[t].
  void check_fd(const r1::TokenLossFn& fn, const std::vector<float>& dlogp) const {
    std::vector<float> scratch(10), scratch2(10);
    for (int t = 0; t < 10; t++) {
      if (b.targets[t] < 0) continue;
      const float h = 1e-3f;
      std::vector<float> lp = logp;
      lp[t] = logp[t] + h;
      const double up = fn(lp.data(), ent.data(), scratch.data(), scratch2.data());
      lp[t] = logp[t] - h;
      const double down = fn(lp.data(), ent.data(), scratch.data(), scratch2.data());
      const double fd = (up - down) / (double(logp[t] + h) - double(logp[t] - h));
      EXPECT_NEAR(dlogp[t], fd, 1e-4 * std::max(1.0, std::abs(fd))) << t;
    }
  }
};

TEST(GrpoLoss, BranchesByHandAndFiniteDifferences) {
  HandTokens hand;
  const r1::Batch& b = hand.b;
  const float* A = hand.A;
  const float* w = hand.w;
  std::vector<float>&logp = hand.logp, &old = hand.old, &ref = hand.ref, &ent = hand.ent;
  r1::GrpoConfig cfg;
  cfg.beta = 0.2f, cfg.entropy_coef = 0.1f, cfg.eps_high = 0.28f;
  const double beta = cfg.beta, ec = cfg.entropy_coef;  // as the loss sees them (float -> double)
  const double lo = 1 - double(cfg.eps_low), hi = 1 + double(cfg.eps_high);
  r1::GrpoInputs in{old.data(), ref.data(), A, w};
  r1::GrpoStats st;
  r1::TokenLossFn fn = r1::grpo_loss(cfg, b, in, &st);
  std::vector<float> dlogp(10, 9.f), dent(10, 9.f);
  const double loss = fn(logp.data(), ent.data(), dlogp.data(), dent.data());
  EXPECT_EQ(st.tokens, 8);
  EXPECT_EQ(st.clipped_high, 1);  // rho 1.5, A > 0
  EXPECT_EQ(st.clipped_low, 1);   // rho 0.6, A < 0
  EXPECT_EQ(dlogp[0], 0.f);       // prompt position: no loss, no gradient
  EXPECT_EQ(dent[0], 0.f);
  double want_loss = 0;
  for (int t = 0; t < 10; t++) {
    if (b.targets[t] < 0) continue;
    const int s = t < 6 ? 0 : 1;
    const double r = std::exp(double(logp[t]) - double(old[t]));
    const bool clipped = (s == 0 && r > hi) || (s == 1 && r < lo);
    const double surr = clipped ? std::clamp(r, lo, hi) * A[s] : r * A[s];
    const double d = double(ref[t]) - double(logp[t]);
    want_loss += w[s] * (-surr + beta * (std::exp(d) - d - 1) - ec * ent[t]);
    const double g = w[s] * ((clipped ? 0.0 : -r * A[s]) + beta * (1 - std::exp(d)));
    EXPECT_NEAR(dlogp[t], g, 1e-6) << t;
    EXPECT_FLOAT_EQ(dent[t], float(-w[s] * ec)) << t;
  }
  EXPECT_NEAR(loss, want_loss, 1e-12);
  // Finite differences, away from the kinks (no rho near 0.8 or 1.28).
  hand.check_fd(fn, dlogp);
}

// The new modes on hand-made tokens: dual clip with TIS weights, GSPO's sequence ratio, CISPO's
// capped weight and the log-ratio clamp, against hand-computed values, and (where the loss is a
// plain function of logp: not CISPO, whose weight is detached) central finite differences.
TEST(GrpoLoss, ModesByHandAndFiniteDifferences) {
  HandTokens hand;
  const r1::Batch& b = hand.b;
  const float* A = hand.A;
  const float* w = hand.w;
  std::vector<float>&logp = hand.logp, &old = hand.old, &ref = hand.ref, &ent = hand.ent;
  const float isw[10] = {0, 0.9f, 1.2f, 0.7f, 1.f, 1.3f, 0, 0.8f, 1.1f, 0.6f};
  const auto seq_of = [](int t) { return t < 6 ? 0 : 1; };
  const auto kl_terms = [&](int t, double beta, double* loss, double* grad) {
    const double d = double(ref[t]) - double(logp[t]);
    *loss = beta * (std::exp(d) - d - 1), *grad = beta * (1 - std::exp(d));
  };
  const auto check_fd = [&](const r1::TokenLossFn& fn, const std::vector<float>& dlogp) {
    hand.check_fd(fn, dlogp);
  };

  {  // GRPO with dual clip 1.6 and TIS: the dual-clipped token has loss -c A (weighted), no gradient
    SCOPED_TRACE("dual + tis");
    r1::GrpoConfig cfg;
    cfg.beta = 0.2f, cfg.eps_high = 0.28f, cfg.clip_ratio_c = 1.6f;
    const double lo = 1 - double(cfg.eps_low), hi = 1 + double(cfg.eps_high), c = cfg.clip_ratio_c;
    r1::GrpoInputs in{old.data(), ref.data(), A, w, isw};
    r1::GrpoStats st;
    r1::TokenLossFn fn = r1::grpo_loss(cfg, b, in, &st);
    std::vector<float> dlogp(10), dent(10);
    const double loss = fn(logp.data(), ent.data(), dlogp.data(), dent.data());
    EXPECT_EQ(st.clipped_dual, 1);  // rho 1.7 > 1.6, A < 0
    EXPECT_EQ(st.clipped_high, 1);  // rho 1.5 > 1.28, A > 0
    EXPECT_EQ(st.clipped_low, 1);   // rho 0.6 < 0.8, A < 0
    double want = 0;
    for (int t = 0; t < 10; t++) {
      if (b.targets[t] < 0) continue;
      const int s = seq_of(t);
      const double r = std::exp(double(logp[t]) - double(old[t]));
      double pg = -std::min(r * A[s], std::clamp(r, lo, hi) * A[s]);
      double g = (s == 0 && r > hi) || (s == 1 && r < lo) ? 0.0 : -A[s] * r;
      if (A[s] < 0 && pg > -c * A[s]) pg = -c * A[s], g = 0;
      double kl, gkl;
      kl_terms(t, cfg.beta, &kl, &gkl);
      want += w[s] * (isw[t] * pg + kl);
      EXPECT_NEAR(dlogp[t], w[s] * (isw[t] * g + gkl), 1e-6) << t;
    }
    EXPECT_NEAR(loss, want, 1e-12);
    EXPECT_EQ(dlogp[8],
              static_cast<float>(w[1] * (std::exp(double(ref[8]) - double(logp[8])) - 1) * -cfg.beta));
    check_fd(fn, dlogp);
  }
  {  // GSPO: s_i = exp(mean log rho) per output; every token carries -min(s A, clip(s) A)
    SCOPED_TRACE("gspo");
    r1::GrpoConfig cfg;
    cfg.beta = 0.2f, cfg.loss_type = r1::GrpoLossType::kGspo, cfg.eps_low = 0.01f, cfg.eps_high = 0.01f;
    r1::GrpoInputs in{old.data(), ref.data(), A, w};
    r1::GrpoStats st;
    r1::TokenLossFn fn = r1::grpo_loss(cfg, b, in, &st);
    std::vector<float> dlogp(10), dent(10);
    const double loss = fn(logp.data(), ent.data(), dlogp.data(), dent.data());
    double sr[2] = {0, 0};
    for (int t = 0; t < 10; t++)
      if (b.targets[t] >= 0) sr[seq_of(t)] += double(logp[t]) - double(old[t]);
    sr[0] = std::exp(sr[0] / 5), sr[1] = std::exp(sr[1] / 3);
    // The geometric means of the token ratios: 0.942 and 1.023, both outside [0.99, 1.01] on the
    // side where the min takes the unclipped branch (A > 0 below, A < 0 above).
    EXPECT_NEAR(sr[0], std::pow(1.1 * 1.5 * 0.5 * 1.0 * 0.9, 0.2), 1e-6);
    EXPECT_NEAR(sr[1], std::pow(0.6 * 1.7 * 1.05, 1.0 / 3), 1e-6);
    EXPECT_EQ(st.clipped_low + st.clipped_high, 0);
    EXPECT_NEAR(st.ratio_sum, 5 * sr[0] + 3 * sr[1], 1e-6);
    double want = 0;
    for (int t = 0; t < 10; t++) {
      if (b.targets[t] < 0) continue;
      const int s = seq_of(t);
      double kl, gkl;
      kl_terms(t, cfg.beta, &kl, &gkl);
      want += w[s] * (-sr[s] * A[s] + kl);
      EXPECT_NEAR(dlogp[t], w[s] * (-A[s] * sr[s] + gkl), 1e-6) << t;
    }
    EXPECT_NEAR(loss, want, 1e-12);
    check_fd(fn, dlogp);
    // Seq 1 with A > 0: s above 1 + eps_high, clipped; all of the output's tokens are counted and
    // none gets a policy gradient.
    const float A2[2] = {0.7f, 1.3f};
    r1::GrpoInputs in2{old.data(), ref.data(), A2, w};
    r1::GrpoStats st2;
    r1::TokenLossFn fn2 = r1::grpo_loss(cfg, b, in2, &st2);
    fn2(logp.data(), ent.data(), dlogp.data(), dent.data());
    EXPECT_EQ(st2.clipped_high, 3);
    for (int t = 7; t < 10; t++) {
      double kl, gkl;
      kl_terms(t, cfg.beta, &kl, &gkl);
      EXPECT_NEAR(dlogp[t], w[1] * gkl, 1e-7) << t;
    }
    check_fd(fn2, dlogp);
  }
  {  // CISPO: -sg(clip(rho)) A logp; gradient -clip(rho) A for every token, capped tokens counted
    SCOPED_TRACE("cispo");
    r1::GrpoConfig cfg;
    cfg.beta = 0, cfg.loss_type = r1::GrpoLossType::kCispo, cfg.eps_low = 0.2f, cfg.eps_high = 0.28f;
    const double lo = 1 - double(cfg.eps_low), hi = 1 + double(cfg.eps_high);
    r1::GrpoInputs in{old.data(), nullptr, A, w, isw};
    r1::GrpoStats st;
    r1::TokenLossFn fn = r1::grpo_loss(cfg, b, in, &st);
    std::vector<float> dlogp(10), dent(10);
    const double loss = fn(logp.data(), ent.data(), dlogp.data(), dent.data());
    EXPECT_EQ(st.clipped_high, 2);  // 1.5 and 1.7
    EXPECT_EQ(st.clipped_low, 2);   // 0.5 and 0.6
    double want = 0;
    for (int t = 0; t < 10; t++) {
      if (b.targets[t] < 0) continue;
      const int s = seq_of(t);
      const double cw = std::clamp(std::exp(double(logp[t]) - double(old[t])), lo, hi);
      want += w[s] * isw[t] * -cw * A[s] * logp[t];
      EXPECT_NEAR(dlogp[t], w[s] * isw[t] * -cw * A[s], 1e-6) << t;
    }
    EXPECT_NEAR(loss, want, 1e-12);
  }
  {  // The clamp: log rho 30 (A < 0, unclipped branch) gives the loss at e^20 and no gradient;
     // ref - logp = -30 likewise for the KL. Stats take the max |log ratio| across calls.
    SCOPED_TRACE("clamp");
    std::vector<float> old2 = old, ref2 = ref;
    old2[7] = logp[7] - 30.f, ref2[8] = logp[8] - 30.f;
    r1::GrpoConfig cfg;
    cfg.beta = 0.2f;
    r1::GrpoInputs in{old2.data(), ref2.data(), A, w};
    r1::GrpoStats st;
    r1::TokenLossFn fn = r1::grpo_loss(cfg, b, in, &st);
    std::vector<float> dlogp(10), dent(10);
    fn(logp.data(), ent.data(), dlogp.data(), dent.data());
    const double d7 = double(ref2[7]) - double(logp[7]);
    EXPECT_NEAR(dlogp[7], w[1] * cfg.beta * (1 - std::exp(d7)), 1e-7);  // only the KL's
    EXPECT_NEAR(dlogp[8], w[1] * -A[1] * 1.7, 1e-6);                    // only the ratio's
    EXPECT_NEAR(st.max_abs_log_ratio, 30, 1e-5);
    EXPECT_NEAR(st.ratio_sum, 1.1 + 1.5 + 0.5 + 1.0 + 0.9 + std::exp(20.0) + 1.7 + 1.05, 1e-3);
    r1::GrpoInputs in_small{old.data(), ref.data(), A, w};
    r1::TokenLossFn fn_small = r1::grpo_loss(cfg, b, in_small, &st);
    fn_small(logp.data(), ent.data(), dlogp.data(), dent.data());
    EXPECT_EQ(st.tokens, 16);
    EXPECT_NEAR(st.max_abs_log_ratio, 30, 1e-5);  // max, not sum, of the two calls
    EXPECT_TRUE(std::isfinite(st.loss));
  }
}

TEST(GrpoConfig, Validates) {
  const auto bad = [](auto set, std::vector<std::string> parts) {
    r1::GrpoConfig cfg;
    set(cfg);
    r1::testing::expect_error([&] { cfg.validate(); }, parts);
    r1::Batch b;
    b.append({0, 1}, {1, -1});
    const float x[2] = {0, 0};
    r1::testing::expect_error([&] { r1::grpo_loss(cfg, b, {x, x, x, x}); }, parts);
  };
  bad([](r1::GrpoConfig& c) { c.clip_ratio_c = 1.f; }, {"clip_ratio_c", "> 1", "got 1"});
  bad([](r1::GrpoConfig& c) { c.clip_ratio_c = -3.f; }, {"clip_ratio_c"});
  bad([](r1::GrpoConfig& c) { c.clip_ratio_c = INFINITY; }, {"clip_ratio_c"});
  bad([](r1::GrpoConfig& c) { c.loss_type = r1::GrpoLossType::kCispo, c.clip_ratio_c = 3; },
      {"clip_ratio_c", "CISPO"});
  bad([](r1::GrpoConfig& c) { c.eps_low = 1.5f; }, {"eps_low", "[0, 1]"});
  bad([](r1::GrpoConfig& c) { c.eps_high = -0.1f; }, {"eps_high"});
  bad([](r1::GrpoConfig& c) { c.beta = NAN; }, {"beta"});
  bad([](r1::GrpoConfig& c) { c.entropy_coef = INFINITY; }, {"entropy_coef"});
  r1::GrpoConfig ok;
  ok.clip_ratio_c = 3, ok.loss_type = r1::GrpoLossType::kGspo, ok.eps_low = 1;
  EXPECT_NO_THROW(ok.validate());
}

// The head's default leaves every result bit-identical (also after a tempered head was set and
// reset); forward() with logits returns the raw logits and the tempered log-probs; set_head
// validates; a target past the head's vocabulary is refused.
TEST(ModelHead, DefaultIsBitIdenticalTemperedForwardAndErrors) {
  r1::Model model = r1::testing::tiny_model(r1::Arch::Qwen2, 26);
  const int V = model.config().vocab_size;
  GrpoCase c = make_case(model, 8, false, V - 5);
  const int64_t T = c.batch.size();
  // A loss that uses both logp and entropy.
  const r1::TokenLossFn fn = [T](const float* lp, const float* ent, float* dlp, float* dent) {
    double l = 0;
    for (int64_t t = 0; t < T; t++) l += 0.3 * lp[t] - 0.1 * ent[t], dlp[t] = 0.3f, dent[t] = -0.1f;
    return l;
  };
  struct Out {
    std::vector<float> logp, ent, logits, grads;
    double loss;
  };
  const auto run = [&] {
    Out o{std::vector<float>(T), std::vector<float>(T), std::vector<float>(T * V), {}, 0};
    model.forward(c.batch, o.logp.data(), o.ent.data(), o.logits.data());
    model.zero_grads();
    o.loss = model.forward_backward(c.batch, fn);
    o.grads.assign(model.grads(), model.grads() + model.num_params());
    return o;
  };
  const Out base = run();
  model.set_head({0.7f, V - 5});
  const Out tempered = run();
  EXPECT_EQ(tempered.logits, base.logits);  // raw logits, whatever the head
  EXPECT_NE(tempered.logp, base.logp);
  std::vector<float> lp(T), ent(T);
  model.forward(c.batch, lp.data(), ent.data());  // the chunked head: the same as with logits
  EXPECT_EQ(lp, tempered.logp);
  EXPECT_EQ(ent, tempered.ent);
  for (int64_t t = 0; t < T; t++) {  // log_softmax(logits[:V - 5] / 0.7) by hand, in double
    if (c.batch.targets[t] < 0) {
      EXPECT_EQ(lp[t], 0.f);
      continue;
    }
    const float* z = base.logits.data() + t * V;
    double m = -1e300, sum = 0, ez = 0;
    for (int j = 0; j < V - 5; j++) m = std::max(m, z[j] / 0.7);
    for (int j = 0; j < V - 5; j++)
      sum += std::exp(z[j] / 0.7 - m), ez += std::exp(z[j] / 0.7 - m) * z[j] / 0.7;
    const double lse = m + std::log(sum);
    EXPECT_NEAR(lp[t], z[c.batch.targets[t]] / 0.7 - lse, 2e-5) << t;
    EXPECT_NEAR(ent[t], lse - ez / sum, 2e-5) << t;
  }
  for (const r1::HeadConfig h : {r1::HeadConfig{}, r1::HeadConfig{1.f, V}}) {
    model.set_head(h);
    const Out again = run();
    EXPECT_EQ(again.logp, base.logp);
    EXPECT_EQ(again.ent, base.ent);
    EXPECT_EQ(again.logits, base.logits);
    EXPECT_EQ(again.grads, base.grads);
    EXPECT_EQ(again.loss, base.loss);
  }
  for (float t : {0.f, -1.f, NAN, INFINITY, 1e-45f})
    r1::testing::expect_error([&] { model.set_head({t, 0}); }, {"temperature"});
  r1::testing::expect_error([&] { model.set_head({1.f, -1}); }, {"vocab -1"});
  r1::testing::expect_error([&] { model.set_head({1.f, V + 1}); }, {"vocab", std::to_string(V + 1)});
  EXPECT_EQ(model.head().vocab, V);  // unchanged by the refused calls
  model.set_head({1.f, V - 6});
  r1::Batch big;
  big.append({1, 2, 3}, {2, V - 6, -1});
  std::vector<float> out(3);
  r1::testing::expect_error([&] { model.forward(big, out.data(), nullptr); },
                            {"target id " + std::to_string(V - 6), "head's vocabulary"});
  r1::testing::expect_error([&] { model.forward_backward(big, fn); }, {"head's vocabulary"});
}

}  // namespace
