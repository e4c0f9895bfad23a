// stories260K, a real pretrained tiny Llama: greedy decoding from BOS must reproduce the 100 golden
// ids exactly, loaded from the GGUF file (interleaved RoPE rows converted on load) and from the
// Hugging Face directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/checkpoint.h"
#include "model/generate.h"
#include "test_util.h"

namespace {

const std::string kDir = r1::testing::shared_path("models/stories260K");

nlohmann::json golden() {
  std::ifstream f(kDir + "/golden_greedy.json");
  return nlohmann::json::parse(f);
}

void expect_golden(const std::string& path) {
  R1_SKIP_UNLESS_SHARED(kDir);
  r1::Model model = r1::load_model(path);
  auto g = golden();
  std::vector<int32_t> prompt = g["prompt_ids"].get<std::vector<int32_t>>();
  std::vector<int32_t> want = g["greedy_ids"].get<std::vector<int32_t>>();
  // First logits at position 0 agree with the reference to its printed precision.
  r1::Batch b;
  b.append(prompt, std::vector<int32_t>(prompt.size(), -1));
  std::vector<float> logits(model.config().vocab_size);
  model.forward_last_logits(b, logits.data());
  auto first8 = g["logits_pos0_first8"].get<std::vector<double>>();
  for (size_t i = 0; i < first8.size(); i++) EXPECT_NEAR(logits[i], first8[i], 2e-5) << "logit " << i;
  std::vector<int32_t> got = r1::greedy_generate(model, prompt, static_cast<int>(want.size()), {});
  EXPECT_EQ(got, want);
}

}  // namespace

TEST(Stories260K, GreedyFromGguf) {
  expect_golden(kDir + "/stories260K.gguf");
}
TEST(Stories260K, GreedyFromHfDirectory) {
  expect_golden(kDir + "/hf");
}

TEST(Stories260K, GgufAndHfWeightsAgreeExactly) {
  R1_SKIP_UNLESS_SHARED(kDir);
  r1::Model a = r1::load_model(kDir + "/stories260K.gguf");
  r1::Model hf = r1::load_model(kDir + "/hf");
  // The GGUF stores output.weight separately (equal to the embedding); HF ties them.
  for (const auto& spec : hf.param_specs()) {
    const auto* sa = a.find_param(spec.name);
    ASSERT_NE(sa, nullptr) << spec.name;
    for (size_t i = 0; i < spec.numel; i++)
      ASSERT_EQ(a.params()[sa->offset + i], hf.params()[spec.offset + i]) << spec.name << "[" << i << "]";
  }
}
