// The GRPO objective (src/train/grpo.h) against tests/reference/grpo_ref.py, an independent
// PyTorch float64 implementation of equations (1)-(3) on padded tensors with autograd: loss,
// advantages, clip counts and every parameter gradient of a tiny model, for each aggregation
// mode, with and without the entropy bonus, with and without the KL term; micro-batches
// accumulating to the full-batch gradient; and hand-computed advantages, weights and branches.
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
// policy's log-probs by chosen offsets, so that ratios fall inside and outside the clip range on
// both sides.
struct GrpoCase {
  r1::Batch batch;
  std::vector<int64_t> lengths;  // completion tokens per sequence
  std::vector<uint8_t> truncated;
  std::vector<float> rewards;
  std::vector<float> logp, entropy, old_logp, ref_logp;
};

GrpoCase make_case(r1::Model& model, uint64_t seed) {
  GrpoCase c;
  const int V = model.config().vocab_size;
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
  model.forward(c.batch, c.logp.data(), c.entropy.data());
  // rho = exp(-offset): 1.65, 1.35, 1.105, 1, 0.905, 0.741, 0.607 (away from 0.8, 1.2 and 1.28).
  const float offsets[7] = {-0.5f, -0.3f, -0.1f, 0.f, 0.1f, 0.3f, 0.5f};
  for (int64_t t = 0; t < T; t++) {
    if (c.batch.targets[t] < 0) continue;
    c.old_logp[t] = c.logp[t] + offsets[r1::hash_u64(seed, 1000 + t) % 7];
    c.ref_logp[t] = c.logp[t] + 0.8f * static_cast<float>(r1::uniform01(r1::hash_u64(seed, 5000 + t)) - 0.5);
  }
  return c;
}

struct NamedConfig {
  std::string name;
  r1::GrpoConfig cfg;
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

const char* agg_name(r1::GrpoAgg a) {
  return a == r1::GrpoAgg::kSeqMean ? "seq_mean" : a == r1::GrpoAgg::kTokenMean ? "token_mean" : "constant";
}

// Runs forward_backward with the GRPO loss on `model` (gradients zeroed first).
double grpo_grads(r1::Model& model, const r1::GrpoConfig& cfg, const GrpoCase& c, r1::GrpoStats* stats) {
  const std::vector<float> adv = r1::group_advantages(c.rewards, kGroup, cfg.scale_rewards, cfg.std_eps);
  const std::vector<float> w = r1::grpo_output_weights(c.lengths, c.truncated, cfg);
  r1::GrpoInputs in;
  in.old_logp = c.old_logp.data(), in.ref_logp = cfg.beta != 0 ? c.ref_logp.data() : nullptr;
  in.advantage = adv.data(), in.weight = w.data();
  model.zero_grads();
  return model.forward_backward(c.batch, r1::grpo_loss(cfg, c.batch, in, stats));
}

TEST(GrpoLoss, LossAndEveryGradientEqualPyTorch) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  const std::string dir = r1::testing::scratch_dir();
  r1::Model model = r1::testing::tiny_model(r1::Arch::Llama, 21);
  r1::save_model(model, dir + "/model");
  GrpoCase c = make_case(model, 3);
  const std::vector<NamedConfig> cfgs = configs();

  json j;
  j["tokens"] = c.batch.tokens, j["cu_seqlens"] = c.batch.cu_seqlens, j["targets"] = c.batch.targets;
  j["old_logp"] = c.old_logp, j["ref_logp"] = c.ref_logp, j["rewards"] = c.rewards;
  j["group_size"] = kGroup, j["truncated"] = c.truncated;
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
                            {"max_new_tokens", nc.cfg.max_new_tokens}});
  r1::testing::write_file(dir + "/grpo.json", j.dump());
  const std::string cmd = "/usr/bin/python3 " + std::string(R1_SOURCE_DIR) +
                          "/tests/reference/grpo_ref.py --model " + dir + "/model --batch " + dir +
                          "/grpo.json --out " + dir + "/ref.safetensors 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  r1::SafetensorsFile ref(dir + "/ref.safetensors");
  ASSERT_LT(rel_err(c.logp.data(), read_f64(ref, "logp")), 1e-5);

  for (const NamedConfig& nc : cfgs) {
    SCOPED_TRACE(nc.name);
    const std::vector<float> adv =
        r1::group_advantages(c.rewards, kGroup, nc.cfg.scale_rewards, nc.cfg.std_eps);
    EXPECT_LT(rel_err(adv.data(), read_f64(ref, nc.name + ".advantages")), 1e-6);

    r1::GrpoStats st;
    const double loss = grpo_grads(model, nc.cfg, c, &st);
    // The case must exercise both clipped branches and unclipped tokens, including ratios outside
    // the range whose unclipped branch the min picks (A > 0 with rho < 1 - eps_low and the mirror).
    EXPECT_GT(st.clipped_low, 0);
    EXPECT_GT(st.clipped_high, 0);
    EXPECT_GT(st.tokens - st.clipped_low - st.clipped_high, 10);
    EXPECT_EQ(double(st.clipped_low), read_f64(ref, nc.name + ".clipped_low")[0]);
    EXPECT_EQ(double(st.clipped_high), read_f64(ref, nc.name + ".clipped_high")[0]);
    EXPECT_NEAR(st.loss, loss, 1e-12 * std::abs(loss));
    if (nc.cfg.beta == 0) {
      EXPECT_EQ(st.kl_sum, 0.0);
    }

    // Tolerances: fp32 model against float64. Loss: 1e-5 relative to max(|loss|, 0.1) (the loss
    // is a sum of +-terms of size ~0.1-1 that nearly cancel; measured <= 1e-7 absolute);
    // gradients: per tensor max-abs error over max-abs value 1e-4 (measured <= 4e-6; a missing
    // KL term is ~4e-2, a sign or transpose error O(1)).
    const double ref_loss = read_f64(ref, nc.name + ".loss")[0];
    EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(std::abs(ref_loss), 0.1));
    double worst = 0;
    std::string worst_name;
    for (const auto& s : model.param_specs()) {
      std::vector<double> g = read_f64(ref, nc.name + ".grad." + s.name);
      ASSERT_EQ(g.size(), s.numel) << s.name;
      const double e = rel_err(model.grads() + s.offset, g);
      EXPECT_LT(e, 1e-4) << "gradient of " << s.name;
      if (e > worst) worst = e, worst_name = s.name;
    }
    std::printf(
        "[%s] loss %.9g (ref %.9g, rel err %.2g), clipped low/high %lld/%lld of %lld tokens, "
        "worst gradient rel err %.3g (%s)\n",
        nc.name.c_str(), loss, ref_loss, std::abs(loss - ref_loss) / std::abs(ref_loss),
        static_cast<long long>(st.clipped_low), static_cast<long long>(st.clipped_high),
        static_cast<long long>(st.tokens), worst, worst_name.c_str());
  }
}

// Two micro-batches (sequences split across a group boundary and inside a group) carrying the
// full batch's advantages and weights accumulate to the full-batch loss and gradient.
TEST(GrpoLoss, MicroBatchesAccumulateToTheFullBatch) {
  r1::Model model = r1::testing::tiny_model(r1::Arch::Qwen2, 22);
  GrpoCase c = make_case(model, 4);
  const int64_t N = c.batch.num_seqs(), split = 6;
  for (const NamedConfig& nc : configs()) {
    SCOPED_TRACE(nc.name);
    const double full_loss = grpo_grads(model, nc.cfg, c, nullptr);
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
      std::vector<float> old_lp, ref_lp;
      for (int64_t s = lo; s < hi; s++) {
        const int32_t b = c.batch.cu_seqlens[s], e = c.batch.cu_seqlens[s + 1];
        mb.append({c.batch.tokens.begin() + b, c.batch.tokens.begin() + e},
                  {c.batch.targets.begin() + b, c.batch.targets.begin() + e});
        old_lp.insert(old_lp.end(), c.old_logp.begin() + b, c.old_logp.begin() + e);
        ref_lp.insert(ref_lp.end(), c.ref_logp.begin() + b, c.ref_logp.begin() + e);
      }
      r1::GrpoInputs in;
      in.old_logp = old_lp.data(), in.ref_logp = ref_lp.data();
      in.advantage = adv.data() + lo, in.weight = w.data() + lo;
      loss += model.forward_backward(mb, r1::grpo_loss(nc.cfg, mb, in, &st));
    }
    // The micro-batches' fp32 log-probs differ from the full batch's in the last bits (other
    // matrix shapes); the loss is a sum of +-terms of size ~0.1-1 that nearly cancel, so the bound
    // is relative to that scale. Measured: ~2e-8 absolute, gradients ~1e-6.
    EXPECT_NEAR(loss, full_loss, 1e-6 * std::max(std::abs(full_loss), 0.1));
    EXPECT_NEAR(st.loss, loss, 1e-12);
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
TEST(GrpoLoss, BranchesByHandAndFiniteDifferences) {
  r1::Batch b;  // two sequences: 1 prompt token then 5 and 3 completion tokens
  b.append({0, 1, 2, 3, 4, 5}, {-1, 1, 2, 3, 4, 5});
  b.append({0, 1, 2, 3}, {-1, 1, 2, 3});
  const float A[2] = {0.7f, -1.3f}, w[2] = {0.25f, 0.5f};
  // rho per token: seq 0 (A > 0): inside, high (clipped), low (unclipped), at 1, inside;
  //                seq 1 (A < 0): low (clipped), high (unclipped), inside.
  const double rho[10] = {0, 1.1, 1.5, 0.5, 1.0, 0.9, 0, 0.6, 1.7, 1.05};
  std::vector<float> logp(10, 0.f), old(10, 0.f), ref(10, 0.f), ent(10, 0.f);
  for (int t = 0; t < 10; t++) {
    if (b.targets[t] < 0) continue;
    logp[t] = -1.f - 0.1f * float(t);
    old[t] = static_cast<float>(logp[t] - std::log(rho[t]));
    ref[t] = logp[t] + 0.05f * float(t % 3) - 0.04f;
    ent[t] = 0.3f + 0.1f * float(t);
  }
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

}  // namespace
