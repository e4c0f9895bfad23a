// The engine against the PyTorch oracle (tests/reference/r1ref.py, float64): logits, log-probs,
// entropies, the weighted cross-entropy loss and every parameter gradient on packed batches, for
// tiny random Llama, Qwen2 and Qwen3 models; then ten AdamW steps with clipping and a schedule.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/rng.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"
#include "torch_ref.h"
#include "train/optim.h"

using nlohmann::json;

namespace {

using r1::testing::have_torch;
using r1::testing::read_f64;
using r1::testing::rel_err;

std::string run_ref(const std::string& args) {
  const std::string cmd =
      "/usr/bin/python3 " + std::string(R1_SOURCE_DIR) + "/tests/reference/r1ref.py " + args + " 2>&1";
  int rc = std::system(cmd.c_str());
  return rc == 0 ? "" : "reference failed: " + cmd;
}

using r1::testing::tiny_model;

// Three sequences (13, 1 and 70 tokens: the last crosses the 64-row attention block) with random
// targets; some targets masked (-1), weights in [0, 1) with some zeros.
struct RefBatch {
  r1::Batch batch;
  std::vector<float> weights;
};

RefBatch make_batch(int vocab, uint64_t seed) {
  RefBatch rb;
  uint64_t c = 0;
  for (int len : {13, 1, 70}) {
    std::vector<int32_t> tok(len), tgt(len);
    for (int i = 0; i < len; i++) {
      tok[i] = static_cast<int32_t>(r1::hash_u64(seed, c++) % vocab);
      tgt[i] = r1::hash_u64(seed, c++) % 7 == 0 ? -1 : static_cast<int32_t>(r1::hash_u64(seed, c++) % vocab);
    }
    rb.batch.append(tok, tgt);
  }
  for (int32_t t : rb.batch.targets) {
    double u = r1::uniform01(r1::hash_u64(seed, c++));
    rb.weights.push_back(t < 0 || u < 0.1 ? 0.f : static_cast<float>(u));
  }
  return rb;
}

void write_batch(const RefBatch& rb, const std::string& path) {
  json j;
  j["tokens"] = rb.batch.tokens;
  j["cu_seqlens"] = rb.batch.cu_seqlens;
  j["targets"] = rb.batch.targets;
  j["weights"] = rb.weights;
  r1::testing::write_file(path, j.dump());
}

r1::TokenLossFn weighted_ce(const std::vector<float>& w) {
  return [&w](const float* logp, const float*, float* dlogp, float*) {
    double loss = 0;
    for (size_t t = 0; t < w.size(); t++) {
      loss -= static_cast<double>(w[t]) * logp[t];
      dlogp[t] = -w[t];
    }
    return loss;
  };
}

const char* arch_label(r1::Arch a) {
  return a == r1::Arch::Llama ? "llama" : a == r1::Arch::Qwen2 ? "qwen2" : "qwen3";
}

class TorchReference : public ::testing::TestWithParam<r1::Arch> {};

TEST_P(TorchReference, LogitsLossAndEveryGradient) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  const r1::Arch arch = GetParam();
  const std::string dir = r1::testing::scratch_dir();
  r1::Model model = tiny_model(arch, 11);
  r1::save_model(model, dir + "/model");
  RefBatch rb = make_batch(model.config().vocab_size, 5);
  write_batch(rb, dir + "/batch.json");
  ASSERT_EQ(run_ref("grads --model " + dir + "/model --batch " + dir + "/batch.json --out " + dir +
                    "/ref.safetensors"),
            "");
  r1::SafetensorsFile ref(dir + "/ref.safetensors");

  const int64_t T = rb.batch.size(), V = model.config().vocab_size;
  std::vector<float> logits(T * V), logp(T), ent(T);
  model.forward(rb.batch, logp.data(), ent.data(), logits.data());
  // Tolerances: fp32 against float64. Measured: logits ~1e-6, worst gradient ~2e-6 (max-abs
  // error over max-abs value per tensor); bounds are 10x that.
  EXPECT_LT(rel_err(logits.data(), read_f64(ref, "logits")), 1e-5);
  EXPECT_LT(rel_err(logp.data(), read_f64(ref, "logp")), 1e-5);
  EXPECT_LT(rel_err(ent.data(), read_f64(ref, "entropy")), 1e-5);

  model.zero_grads();
  std::vector<float> logp2(T);
  double loss = model.forward_backward(rb.batch, weighted_ce(rb.weights), logp2.data());
  const double ref_loss = read_f64(ref, "loss")[0];
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::abs(ref_loss));
  EXPECT_LT(rel_err(logp2.data(), read_f64(ref, "logp")), 1e-5);
  double worst = 0;
  std::string worst_name;
  for (const auto& s : model.param_specs()) {
    std::vector<double> g = read_f64(ref, "grad." + s.name);
    ASSERT_EQ(g.size(), s.numel) << s.name;
    double e = rel_err(model.grads() + s.offset, g);
    EXPECT_LT(e, 2e-5) << "gradient of " << s.name;
    if (e > worst) worst = e, worst_name = s.name;
  }
  std::printf("[%s] worst gradient relative error %.3g (%s)\n", arch_label(arch), worst, worst_name.c_str());
}

TEST_P(TorchReference, TenAdamWStepsGiveTheSameLosses) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  const r1::Arch arch = GetParam();
  const std::string dir = r1::testing::scratch_dir();
  r1::Model model = tiny_model(arch, 12);
  r1::save_model(model, dir + "/model");
  RefBatch rb = make_batch(model.config().vocab_size, 6);
  write_batch(rb, dir + "/batch.json");

  const int steps = 10;
  r1::ScheduleConfig sched{"cosine", 1e-2, 3, steps, 0.1};
  r1::AdamWConfig acfg{0.9, 0.95, 1e-8, 0.1};
  const double clip = 1.0;
  std::string lrs;
  for (int s = 0; s < steps; s++) lrs += fmt::format("{}{:.17g}", s ? "," : "", r1::lr_at(sched, s));
  ASSERT_EQ(
      run_ref(fmt::format("adamw --model {0}/model --batch {0}/batch.json --out {0}/ref.json --steps {1} "
                          "--lrs {2} --beta1 0.9 --beta2 0.95 --eps 1e-8 --weight-decay 0.1 --clip {3}",
                          dir, steps, lrs, clip)),
      "");
  json ref = json::parse(r1::read_file(dir + "/ref.json"));

  r1::AdamW opt(acfg, model.num_params());
  for (int s = 0; s < steps; s++) {
    model.zero_grads();
    double loss = model.forward_backward(rb.batch, weighted_ce(rb.weights));
    double norm = r1::clip_grad_norm(model.grads(), model.num_params(), clip);
    const double ref_loss = ref["losses"][s].get<double>(), ref_norm = ref["grad_norms"][s].get<double>();
    EXPECT_NEAR(loss, ref_loss, 1e-4 * std::abs(ref_loss)) << "step " << s;
    EXPECT_NEAR(norm, ref_norm, 1e-4 * ref_norm) << "step " << s;
    opt.step(model, r1::lr_at(sched, s));
  }
  // Final parameters too.
  r1::SafetensorsFile fin(dir + "/ref.safetensors");
  for (const auto& s : model.param_specs())
    EXPECT_LT(rel_err(model.params() + s.offset, read_f64(fin, s.name)), 1e-4) << s.name;
}

INSTANTIATE_TEST_SUITE_P(Archs, TorchReference,
                         ::testing::Values(r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3),
                         [](const auto& p) { return std::string(arch_label(p.param)); });

}  // namespace
