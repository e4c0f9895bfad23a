// The decoder stack's training options (Model::set_compute): activation recomputation reruns
// each layer's forward inside the backward, so it must give the same bits as keeping the
// activations (loss, log-probs and every gradient), while holding one layer's activations instead
// of all of them. (bf16 compute is checked against the PyTorch oracle in
// test_torch_reference.cpp.)
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "model/model.h"
#include "tiny_model.h"

namespace {

using r1::testing::random_tokens;

// Two groups sharing their prompts (Batch::prefix) plus one plain sequence.
r1::Batch test_batch(int vocab) {
  r1::Batch b;
  for (int g = 0; g < 2; g++) {
    const auto prompt = random_tokens(9 + 60 * g, vocab, 10 + g);
    b.append(prompt, std::vector<int32_t>(prompt.size(), -1));
    const int32_t root = static_cast<int32_t>(b.num_seqs() - 1);
    for (int i = 0; i < 3; i++) {
      const auto c = random_tokens(5 + 4 * i, vocab, 100 + 10 * g + i);
      std::vector<int32_t> tg(c.size(), -1);
      for (size_t j = 0; j + 1 < c.size(); j++) tg[j] = c[j + 1];
      b.append_continuation(root, c, tg);
    }
  }
  b.append_lm(random_tokens(33, vocab, 7));
  return b;
}

struct Result {
  double loss;
  std::vector<float> logp, grads;
  size_t act_bytes;
};

Result train_step(r1::Model& m, const r1::Batch& b) {
  Result r;
  r.logp.assign(static_cast<size_t>(b.size()), 0.f);
  m.zero_grads();
  r.loss = m.forward_backward(
      b,
      [&](const float* logp, const float* ent, float* dlogp, float* dent) {
        double loss = 0;
        for (int64_t t = 0; t < b.size(); t++) {
          const float w = b.targets[t] < 0 ? 0.f : 0.5f + 0.01f * static_cast<float>(t % 13);
          loss -= w * logp[t] - 0.01 * ent[t];
          dlogp[t] = -w, dent[t] = b.targets[t] < 0 ? 0.f : 0.01f;
        }
        return loss;
      },
      r.logp.data());
  r.grads.assign(m.grads(), m.grads() + m.num_params());
  r.act_bytes = m.activation_bytes();
  return r;
}

class LayerStack : public ::testing::TestWithParam<r1::Arch> {};

TEST_P(LayerStack, RecomputationGivesTheSameBits) {
  r1::ModelConfig c = r1::testing::tiny_config(GetParam());
  c.num_layers = 4;
  for (r1::DType dt : {r1::DType::F32, r1::DType::BF16}) {
    r1::Model keep(c), again(c);
    keep.init_random(3, 0.2f), again.init_random(3, 0.2f);
    keep.set_compute({dt, false});
    again.set_compute({dt, true});
    const r1::Batch b = test_batch(c.vocab_size);
    const Result a = train_step(keep, b), r = train_step(again, b);
    EXPECT_EQ(a.loss, r.loss);
    EXPECT_EQ(0, std::memcmp(a.logp.data(), r.logp.data(), a.logp.size() * sizeof(float)));
    ASSERT_EQ(a.grads.size(), r.grads.size());
    EXPECT_EQ(0, std::memcmp(a.grads.data(), r.grads.data(), a.grads.size() * sizeof(float)))
        << "recomputed gradients differ (" << r1::dtype_name(dt) << ")";
    // 4 layers' activations kept against 1 (plus the layer inputs): well under half.
    EXPECT_LT(r.act_bytes, a.act_bytes * 6 / 10) << r.act_bytes << " vs " << a.act_bytes;
  }
}

INSTANTIATE_TEST_SUITE_P(Archs, LayerStack,
                         ::testing::Values(r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3),
                         [](const auto& p) {
                           return std::string(p.param == r1::Arch::Llama   ? "Llama"
                                              : p.param == r1::Arch::Qwen2 ? "Qwen2"
                                                                           : "Qwen3");
                         });

TEST(LayerStackCompute, RefusesOtherDtypes) {
  r1::Model m(r1::testing::tiny_config(r1::Arch::Llama));
  try {
    m.set_compute({r1::DType::F16, false});
    FAIL() << "f16 accepted";
  } catch (const r1::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
  }
}

}  // namespace
