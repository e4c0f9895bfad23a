// The engine against the PyTorch oracle (tests/reference/r1ref.py, float64): logits, log-probs,
// entropies, the weighted cross-entropy loss and every parameter gradient on packed batches, for
// tiny random Llama, Qwen2 and Qwen3 models; then ten AdamW steps with clipping and a schedule.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
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

// The tiny model of `arch`, a batch, and the oracle's logits, log-probs, loss and gradients for
// them (float64), written by tests/reference/r1ref.py into dir.
struct Oracle {
  std::string dir;
  r1::Model model;
  RefBatch rb;
  std::unique_ptr<r1::SafetensorsFile> ref;
};

Oracle run_oracle(r1::Arch arch) {
  Oracle o{r1::testing::scratch_dir(), tiny_model(arch, 11), {}, nullptr};
  r1::save_model(o.model, o.dir + "/model");
  o.rb = make_batch(o.model.config().vocab_size, 5);
  write_batch(o.rb, o.dir + "/batch.json");
  EXPECT_EQ(run_ref("grads --model " + o.dir + "/model --batch " + o.dir + "/batch.json --out " + o.dir +
                    "/ref.safetensors"),
            "");
  o.ref = std::make_unique<r1::SafetensorsFile>(o.dir + "/ref.safetensors");
  return o;
}

// Logits, log-probs and entropies of forward(), then the loss and every gradient of
// forward_backward(), against the oracle: each within `tol` (max-abs error over max-abs value per
// tensor; gradients within grad_tol). Returns the worst gradient error.
double check_against_oracle(Oracle& o, double tol, double grad_tol, const char* label) {
  r1::Model& model = o.model;
  const r1::Batch& batch = o.rb.batch;
  const r1::SafetensorsFile& ref = *o.ref;
  const int64_t T = batch.size(), V = model.config().vocab_size;
  std::vector<float> logits(T * V), logp(T), ent(T);
  model.forward(batch, logp.data(), ent.data(), logits.data());
  EXPECT_LT(rel_err(logits.data(), read_f64(ref, "logits")), tol);
  EXPECT_LT(rel_err(logp.data(), read_f64(ref, "logp")), tol);
  EXPECT_LT(rel_err(ent.data(), read_f64(ref, "entropy")), tol);

  model.zero_grads();
  std::vector<float> logp2(T);
  double loss = model.forward_backward(batch, weighted_ce(o.rb.weights), logp2.data());
  const double ref_loss = read_f64(ref, "loss")[0];
  EXPECT_NEAR(loss, ref_loss, tol * std::abs(ref_loss));
  EXPECT_LT(rel_err(logp2.data(), read_f64(ref, "logp")), tol);
  double worst = 0;
  std::string worst_name;
  for (const auto& s : model.param_specs()) {
    std::vector<double> g = read_f64(ref, "grad." + s.name);
    EXPECT_EQ(g.size(), s.numel) << s.name;
    if (g.size() != s.numel) continue;
    double e = rel_err(model.grads() + s.offset, g);
    EXPECT_LT(e, grad_tol) << "gradient of " << s.name;
    if (e > worst) worst = e, worst_name = s.name;
  }
  std::printf("[%s, %s] logits error %.3g, loss %.6g vs %.6g, worst gradient relative error %.3g (%s)\n",
              arch_label(model.config().arch), label, rel_err(logits.data(), read_f64(ref, "logits")), loss,
              ref_loss, worst, worst_name.c_str());
  return worst;
}

TEST_P(TorchReference, LogitsLossAndEveryGradient) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  Oracle o = run_oracle(GetParam());
  // Tolerances: fp32 against float64. Measured: logits ~1e-6, worst gradient ~2e-6 (max-abs
  // error over max-abs value per tensor); bounds are 10x that.
  check_against_oracle(o, 1e-5, 2e-5, "fp32");
  // Activation recomputation runs the same layers again: the same bounds.
  o.model.set_compute({r1::DType::F32, true});
  check_against_oracle(o, 1e-5, 2e-5, "fp32, recompute");
}

// bf16 compute (train.compute = "bf16"): every matrix product rounds its inputs to bf16 (8
// significant bits, relative rounding error up to 2^-9 = 0.2%) and sums in fp32, so the results
// move by a few rounding errors of the inputs; a wrong transpose or a dropped term would move
// them by O(1). Bounds: 0.06 for logits, log-probs, entropies and the loss, 0.08 for the
// gradients, about 3x the worst measured over the three architectures (logits 0.011-0.021,
// gradients 0.018-0.030, with the backward's products in bf16 too).
constexpr double kBf16Tol = 0.06, kBf16GradTol = 0.08;

TEST_P(TorchReference, Bf16ComputeStaysNearTheOracle) {
  if (!have_torch())
    R1_SKIP_WITHOUT_ORACLE("/usr/bin/python3 with torch not available (scripts/install-deps.sh installs it)");
  Oracle o = run_oracle(GetParam());
  o.model.set_compute({r1::DType::BF16, false});
  check_against_oracle(o, kBf16Tol, kBf16GradTol, "bf16");
  o.model.set_compute({r1::DType::BF16, true});
  check_against_oracle(o, kBf16Tol, kBf16GradTol, "bf16, recompute");
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
