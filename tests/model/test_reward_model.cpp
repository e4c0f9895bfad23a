// Reward models (ModelConfig::score_head): scores, the Bradley-Terry loss and every gradient
// against the PyTorch oracle (tests/reference/r1ref.py rm, float64) for tiny Llama, Qwen2 and
// Qwen3 models; finite differences of the score head; the Hugging Face layout
// (*ForSequenceClassification, num_labels 1, score.weight) and a bit-exact save/load round trip;
// a reward model made from a causal LM; and the refusals.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "gradcheck.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "model/infer.h"
#include "test_util.h"
#include "tiny_model.h"
#include "torch_ref.h"
#include "train/rm_trainer.h"

using nlohmann::json;

namespace {

using r1::testing::expect_error;
using r1::testing::have_torch;
using r1::testing::read_f64;
using r1::testing::rel_err;

const char* arch_label(r1::Arch a) {
  return a == r1::Arch::Llama ? "llama" : a == r1::Arch::Qwen2 ? "qwen2" : "qwen3";
}

// A tiny reward model: tiny_model's transformer with a score head of std 0.5 (large enough that
// the head's gradient reaches the layers at the scale of the others).
r1::Model tiny_rm(r1::Arch arch, uint64_t seed = 11) {
  return r1::with_score_head(r1::testing::tiny_model(arch, seed), seed + 1, 0.5f);
}

// Three pairs: lengths (13, 9), (1, 70: crosses the 64-row attention block), (5, 5).
struct Pairs {
  r1::Batch batch;
  std::vector<float> margins = {0.3f, -0.2f, 0.f};
};
Pairs make_pairs(int vocab, uint64_t seed) {
  Pairs p;
  uint64_t c = 0;
  for (int len : {13, 9, 1, 70, 5, 5}) {
    std::vector<int32_t> tok(static_cast<size_t>(len));
    for (auto& t : tok) t = static_cast<int32_t>(r1::hash_u64(seed, c++) % static_cast<uint64_t>(vocab));
    p.batch.append(tok, std::vector<int32_t>(tok.size(), -1));
  }
  return p;
}

std::string run_ref(const std::string& args) {
  const std::string cmd =
      "/usr/bin/python3 " + std::string(R1_SOURCE_DIR) + "/tests/reference/r1ref.py " + args + " 2>&1";
  return std::system(cmd.c_str()) == 0 ? "" : "reference failed: " + cmd;
}

class RewardModelReference : public ::testing::TestWithParam<r1::Arch> {};

// Scores of forward_scores and forward_backward_scores, the loss and every gradient against the
// oracle. fp32 against float64; measured (see the printout) scores <= 5.9e-7, gradients <= 2.6e-6
// (max-abs error over max-abs value per tensor); the bounds are 1e-5 and 2e-5, as for the LM head.
TEST_P(RewardModelReference, ScoresLossAndEveryGradient) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  const std::string dir = r1::testing::scratch_dir();
  r1::Model model = tiny_rm(GetParam());
  r1::save_model(model, dir + "/model");
  const Pairs p = make_pairs(model.config().vocab_size, 5);
  const double center = 0.05;
  json j;
  j["tokens"] = p.batch.tokens;
  j["cu_seqlens"] = p.batch.cu_seqlens;
  j["margins"] = p.margins;
  j["center"] = center;
  r1::testing::write_file(dir + "/pairs.json", j.dump());
  ASSERT_EQ(run_ref("rm --model " + dir + "/model --batch " + dir + "/pairs.json --out " + dir +
                    "/ref.safetensors"),
            "");
  r1::SafetensorsFile ref(dir + "/ref.safetensors");
  const std::vector<double> ref_scores = read_f64(ref, "scores");
  const double ref_loss = read_f64(ref, "loss")[0];
  const double w = 1.0 / static_cast<double>(p.margins.size());

  for (bool recompute : {false, true}) {
    model.set_compute({r1::DType::F32, recompute});
    std::vector<float> scores(6), scores2(6);
    model.forward_scores(p.batch, scores.data());
    const double score_err = rel_err(scores.data(), ref_scores);
    EXPECT_LT(score_err, 1e-5);
    model.zero_grads();
    const double loss = model.forward_backward_scores(
        p.batch, r1::bradley_terry_loss(p.margins, w, center, nullptr), scores2.data());
    EXPECT_LT(rel_err(scores2.data(), ref_scores), 1e-5);
    EXPECT_NEAR(loss, ref_loss, 1e-5 * std::abs(ref_loss));
    double worst = 0;
    std::string worst_name;
    for (const auto& s : model.param_specs()) {
      const std::vector<double> g = read_f64(ref, "grad." + s.name);
      ASSERT_EQ(g.size(), s.numel) << s.name;
      const double e = rel_err(model.grads() + s.offset, g);
      EXPECT_LT(e, 2e-5) << "gradient of " << s.name;
      if (e > worst) worst = e, worst_name = s.name;
    }
    std::printf("[%s%s] scores error %.3g, loss %.8g vs %.8g, worst gradient relative error %.3g (%s)\n",
                arch_label(GetParam()), recompute ? ", recompute" : "", score_err, loss, ref_loss, worst,
                worst_name.c_str());
  }
}

// bf16 compute (train.compute = "bf16"): the layers' products round their inputs to bf16, the
// score product stays fp32. The LM head's bounds (test_torch_reference.cpp): 0.06 for scores and
// loss, 0.08 for gradients.
TEST_P(RewardModelReference, Bf16ComputeStaysNearTheOracle) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  const std::string dir = r1::testing::scratch_dir();
  r1::Model model = tiny_rm(GetParam());
  r1::save_model(model, dir + "/model");
  const Pairs p = make_pairs(model.config().vocab_size, 5);
  json j;
  j["tokens"] = p.batch.tokens;
  j["cu_seqlens"] = p.batch.cu_seqlens;
  j["margins"] = p.margins;
  j["center"] = 0.05;
  r1::testing::write_file(dir + "/pairs.json", j.dump());
  ASSERT_EQ(run_ref("rm --model " + dir + "/model --batch " + dir + "/pairs.json --out " + dir +
                    "/ref.safetensors"),
            "");
  r1::SafetensorsFile ref(dir + "/ref.safetensors");
  model.set_compute({r1::DType::BF16, false});
  std::vector<float> scores(6);
  model.zero_grads();
  const double loss = model.forward_backward_scores(
      p.batch, r1::bradley_terry_loss(p.margins, 1.0 / 3, 0.05, nullptr), scores.data());
  const double score_err = rel_err(scores.data(), read_f64(ref, "scores"));
  EXPECT_LT(score_err, 0.06);
  const double ref_loss = read_f64(ref, "loss")[0];
  EXPECT_NEAR(loss, ref_loss, 0.06 * std::abs(ref_loss));
  double worst = 0;
  for (const auto& s : model.param_specs()) {
    const double e = rel_err(model.grads() + s.offset, read_f64(ref, "grad." + s.name));
    EXPECT_LT(e, 0.08) << s.name;
    worst = std::max(worst, e);
  }
  std::printf("[%s, bf16] scores error %.3g, loss %.6g vs %.6g, worst gradient error %.3g\n",
              arch_label(GetParam()), score_err, loss, ref_loss, worst);
}

INSTANTIATE_TEST_SUITE_P(Archs, RewardModelReference,
                         ::testing::Values(r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3),
                         [](const auto& p) { return std::string(arch_label(p.param)); });

// Finite differences of the loss in the score head and the final norm (no oracle needed).
TEST(RewardModel, ScoreHeadGradientMatchesFiniteDifferences) {
  r1::Model model = tiny_rm(r1::Arch::Qwen3);
  const Pairs p = make_pairs(model.config().vocab_size, 9);
  const auto loss_fn = r1::bradley_terry_loss(p.margins, 1.0 / 3, 0.1, nullptr);
  model.zero_grads();
  model.forward_backward_scores(p.batch, loss_fn);
  for (const char* name : {"score.weight", "model.norm.weight"}) {
    const r1::ParamSpec* s = model.find_param(name);
    ASSERT_NE(s, nullptr);
    std::vector<float> x(model.params() + s->offset, model.params() + s->offset + s->numel);
    const std::vector<float> analytic(model.grads() + s->offset, model.grads() + s->offset + s->numel);
    auto f = [&] {
      std::copy(x.begin(), x.end(), model.params() + s->offset);
      std::vector<float> sc(6), ds(6);
      model.forward_scores(p.batch, sc.data());
      return loss_fn(sc.data(), ds.data());
    };
    r1::testing::expect_grad_close(f, x, analytic, name, 1e-2f, 1e-2, 1e-4);
    std::copy(x.begin(), x.end(), model.params() + s->offset);
  }
}

// The loss by hand: one pair, r_c = 1, r_r = 3, margin 0.5, centring 0.1.
TEST(RewardModel, BradleyTerryLossByHand) {
  const std::vector<float> margins = {0.5f};
  r1::BradleyTerryStats st;
  const auto f = r1::bradley_terry_loss(margins, 0.5, 0.1, &st);
  const float s[2] = {1.f, 3.f};
  float ds[2];
  const double d = 1 - 3 - 0.5, sig = 1 / (1 + std::exp(d));  // sigmoid(-d)
  EXPECT_NEAR(f(s, ds), 0.5 * (std::log1p(std::exp(-d)) + 0.1 * 16), 1e-12);
  EXPECT_NEAR(ds[0], 0.5 * (-sig + 0.2 * 4), 1e-7);
  EXPECT_NEAR(ds[1], 0.5 * (sig + 0.2 * 4), 1e-7);
  EXPECT_EQ(st.pairs, 1);
  EXPECT_EQ(st.correct, 0);
  // Far in the tails it stays finite: d = +-200.
  const float big[2] = {100.f, -100.f}, small[2] = {-100.f, 100.f};
  const std::vector<float> zero = {0.f};
  const auto h = r1::bradley_terry_loss(zero, 1, 0, nullptr);
  EXPECT_NEAR(h(big, ds), 0, 1e-12);
  EXPECT_NEAR(h(small, ds), 200, 1e-9);
  EXPECT_FLOAT_EQ(ds[0], -1.f);
}

// The saved directory is Hugging Face's reward-model layout, and loading it back is bit-exact.
TEST(RewardModel, SavedInHuggingFaceLayoutAndLoadedBitExact) {
  for (r1::Arch arch : {r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3}) {
    const std::string dir = r1::testing::scratch_dir() + "/rm";
    r1::Model m = tiny_rm(arch);
    r1::save_model(m, dir);
    const json cfg = json::parse(r1::testing::read_file(dir + "/config.json"));
    const std::string family = arch == r1::Arch::Llama   ? "Llama"
                               : arch == r1::Arch::Qwen2 ? "Qwen2"
                                                         : "Qwen3";
    EXPECT_EQ(cfg["architectures"], json::array({family + "ForSequenceClassification"}));
    EXPECT_EQ(cfg["num_labels"], 1);
    EXPECT_EQ(cfg["id2label"], json({{"0", "LABEL_0"}}));
    EXPECT_EQ(cfg["label2id"], json({{"LABEL_0", 0}}));
    r1::SafetensorsFile st(dir + "/model.safetensors");
    EXPECT_EQ(st.find("lm_head.weight"), nullptr);
    const r1::TensorInfo* score = st.find("score.weight");
    ASSERT_NE(score, nullptr);
    EXPECT_EQ(score->shape, (std::vector<int64_t>{1, m.config().hidden_size}));
    // Every other tensor is the causal LM's, by HF name and shape.
    r1::ModelConfig lm_cfg = m.config();
    lm_cfg.score_head = false;
    for (const auto& s : r1::param_layout(lm_cfg)) {
      if (s.name == "lm_head.weight") continue;
      const r1::TensorInfo* t = st.find(s.name);
      ASSERT_NE(t, nullptr) << s.name;
      EXPECT_EQ(t->shape, s.shape) << s.name;
    }
    EXPECT_EQ(st.tensors().size(), r1::param_layout(m.config()).size());

    r1::Model back = r1::load_model(dir);
    EXPECT_TRUE(back.config().score_head);
    EXPECT_EQ(back.config().arch_name(), family + "ForSequenceClassification");
    ASSERT_EQ(back.num_params(), m.num_params());
    EXPECT_EQ(std::memcmp(back.params(), m.params(), m.num_params() * sizeof(float)), 0) << family;
    // bf16 export: loads, and the score head is the rounded one.
    r1::save_model(m, dir + "16", "", r1::DType::BF16);
    EXPECT_TRUE(r1::load_model(dir + "16").config().score_head);
  }
}

// A causal LM becomes a reward model: the transformer copied, lm_head dropped, a seeded head.
TEST(RewardModel, MadeFromACausalLm) {
  r1::Model lm = r1::testing::tiny_model(r1::Arch::Llama, 3);
  r1::Model lm_copy = r1::testing::tiny_model(r1::Arch::Llama, 3);
  r1::Model rm = r1::with_score_head(std::move(lm), 42, 0.02f);
  EXPECT_TRUE(rm.config().score_head);
  EXPECT_EQ(rm.find_param("lm_head.weight"), nullptr);
  for (const auto& s : rm.param_specs()) {
    if (s.name == "score.weight") continue;
    const r1::ParamSpec* o = lm_copy.find_param(s.name);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(std::memcmp(rm.params() + s.offset, lm_copy.params() + o->offset, s.numel * sizeof(float)), 0)
        << s.name;
  }
  const r1::ParamSpec* sc = rm.find_param("score.weight");
  double ss = 0;
  for (size_t i = 0; i < sc->numel; i++)
    ss += double(rm.params()[sc->offset + i]) * rm.params()[sc->offset + i];
  const double std = std::sqrt(ss / static_cast<double>(sc->numel));
  EXPECT_GT(std, 0.01);
  EXPECT_LT(std, 0.04);
  // The same seed gives the same head; a reward model passes through unchanged.
  r1::Model rm2 = r1::with_score_head(r1::testing::tiny_model(r1::Arch::Llama, 3), 42, 0.02f);
  EXPECT_EQ(std::memcmp(rm.params(), rm2.params(), rm.num_params() * sizeof(float)), 0);
  r1::Model rm3 = r1::with_score_head(std::move(rm2), 7, 1.f);
  EXPECT_EQ(std::memcmp(rm.params(), rm3.params(), rm.num_params() * sizeof(float)), 0);
}

// Each head's calls refuse the other kind of model; generation refuses a reward model.
TEST(RewardModel, HeadsRefuseTheOtherKind) {
  r1::Model rm = tiny_rm(r1::Arch::Llama);
  r1::Model lm = r1::testing::tiny_model(r1::Arch::Llama);
  r1::Batch b;
  b.append_lm({1, 2, 3});
  std::vector<float> out(3 * 67);
  expect_error([&] { rm.forward(b, out.data(), nullptr); }, {"needs an LM head", "reward model"});
  expect_error([&] { rm.forward_last_logits(b, out.data()); }, {"needs an LM head"});
  expect_error([&] { lm.forward_scores(b, out.data()); }, {"needs a reward model", "LlamaForCausalLM"});
  expect_error([&] { r1::CachedForward cf(rm); }, {"reward model", "cannot generate"});
}

// config.json of a SequenceClassification model must say num_labels 1.
TEST(RewardModel, ConfigNeedsOneLabel) {
  const std::string dir = r1::testing::scratch_dir();
  r1::Model m = tiny_rm(r1::Arch::Qwen2);
  r1::save_model(m, dir);
  json cfg = json::parse(r1::testing::read_file(dir + "/config.json"));
  cfg.erase("num_labels");
  EXPECT_EQ(r1::ModelConfig::from_hf_json(cfg, "c.json").score_head, true);  // id2label's size: 1
  cfg.erase("id2label");
  expect_error([&] { r1::ModelConfig::from_hf_json(cfg, "c.json"); },
               {"c.json", "num_labels 1", "got 2", "transformers' default"});
  cfg["num_labels"] = 3;
  expect_error([&] { r1::ModelConfig::from_hf_json(cfg, "c.json"); }, {"c.json", "num_labels 1", "got 3"});
}

// A reward-model checkpoint without score.weight, and one with an lm_head, are refused by name.
TEST(RewardModel, CheckpointWithoutScoreWeightIsRefused) {
  const std::string dir = r1::testing::scratch_dir();
  r1::Model rm = tiny_rm(r1::Arch::Llama);
  r1::save_model(rm, dir);
  std::vector<r1::TensorToWrite> ts;
  for (const auto& s : rm.param_specs())
    if (s.name != "score.weight") ts.push_back({s.name, s.shape, r1::DType::F32, rm.params() + s.offset});
  r1::save_safetensors(dir + "/model.safetensors", ts);
  expect_error([&] { r1::load_model(dir); }, {"missing tensor 'score.weight'"});
  // A causal LM where a reward model is needed names --init-head.
  const std::string lm_dir = r1::testing::scratch_dir();
  r1::save_model(r1::testing::tiny_model(r1::Arch::Llama), lm_dir);
  expect_error([&] { r1::load_reward_model(lm_dir); },
               {lm_dir, "LlamaForCausalLM", "score.weight", "--init-head"});
  EXPECT_TRUE(r1::load_reward_model(lm_dir, true, 3).config().score_head);
}

}  // namespace
