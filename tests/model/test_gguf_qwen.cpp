// GGUF files of the qwen2 and qwen3 architectures (llama.cpp's names: attn_q.bias, attn_q_norm,
// "qwen2." keys, q/k rows not permuted) load into the same model as its Hugging Face tensors.
#include <gtest/gtest.h>

#include <cstring>

#include "gguf_writer.h"
#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"

namespace {

class GgufQwen : public ::testing::TestWithParam<r1::Arch> {};

TEST_P(GgufQwen, LoadsTheSameParametersAndConfigAsTheModel) {
  const r1::Model m = r1::testing::tiny_model(GetParam(), 11);
  const std::string path = r1::testing::scratch_dir() + "/m.gguf";
  r1::testing::write_file(path, r1::testing::gguf_model_bytes(m));
  const r1::Model g = r1::load_model(path);
  const r1::ModelConfig &a = m.config(), &b = g.config();
  EXPECT_EQ(b.arch, a.arch);
  EXPECT_EQ(b.attention_bias, GetParam() == r1::Arch::Qwen2);
  EXPECT_EQ(b.qk_norm, GetParam() == r1::Arch::Qwen3);
  EXPECT_EQ(b.head_dim, a.head_dim);
  EXPECT_EQ(b.num_kv_heads, a.num_kv_heads);
  EXPECT_EQ(b.rope_theta, static_cast<double>(static_cast<float>(a.rope_theta)));
  ASSERT_EQ(g.param_specs().size(), m.param_specs().size());
  ASSERT_EQ(g.num_params(), m.num_params());
  EXPECT_EQ(std::memcmp(g.params(), m.params(), m.num_params() * sizeof(float)), 0) << "bit-exact";
  // Its keys are named with the architecture's prefix in errors.
  EXPECT_EQ(b.key(r1::ConfigField::NumLayers), r1::gguf_arch_name(GetParam()) + ".block_count");
}

INSTANTIATE_TEST_SUITE_P(Archs, GgufQwen, ::testing::Values(r1::Arch::Qwen2, r1::Arch::Qwen3),
                         [](const auto& p) { return p.param == r1::Arch::Qwen2 ? "qwen2" : "qwen3"; });

TEST(GgufQwenRefusals, UnknownArchitecturesAndMixturesOfExperts) {
  const r1::Model m = r1::testing::tiny_model(r1::Arch::Qwen2, 11);
  std::string bytes = r1::testing::gguf_model_bytes(m);
  const std::string dir = r1::testing::scratch_dir();
  const size_t at = bytes.find("qwen2", 0);  // general.architecture's value
  ASSERT_NE(at, std::string::npos);
  std::string other = bytes;
  other.replace(at, 5, "gemma");
  const std::string path = r1::testing::write_file(dir + "/gemma.gguf", other);
  r1::testing::expect_error([&] { r1::load_model(path); },
                            {path, "GGUF architecture 'gemma' is not supported"});
}

}  // namespace
