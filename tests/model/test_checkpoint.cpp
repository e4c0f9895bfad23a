// Hugging Face checkpoints: save then load is bit-exact; F16/BF16 and sharded checkpoints load.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/dtype.h"
#include "io/file.h"
#include "io/safetensors.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {

using r1::testing::scratch_dir;
using r1::testing::write_file;

r1::ModelConfig small_config(r1::Arch arch) {
  r1::ModelConfig c;
  c.arch = arch;
  c.vocab_size = 50, c.hidden_size = 16, c.intermediate_size = 24, c.num_layers = 2, c.num_heads = 4;
  c.num_kv_heads = 2, c.head_dim = arch == r1::Arch::Qwen3 ? 6 : 4;
  c.attention_bias = arch == r1::Arch::Qwen2, c.qk_norm = arch == r1::Arch::Qwen3;
  c.tie_word_embeddings = arch == r1::Arch::Qwen2;
  c.eos_token_ids = {2, 3};
  return c;
}

}  // namespace

TEST(Checkpoint, SaveThenLoadIsBitExactForEveryArchitecture) {
  const std::string root = scratch_dir();
  for (r1::Arch arch : {r1::Arch::Llama, r1::Arch::Qwen2, r1::Arch::Qwen3}) {
    r1::Model m(small_config(arch));
    m.init_random(3, 0.3f);
    const std::string dir = root + "/" + m.config().arch_name();
    fs::create_directories(dir);
    r1::save_model(m, dir);
    r1::Model back = r1::load_model(dir);
    EXPECT_EQ(back.config().to_hf_json(), m.config().to_hf_json());
    ASSERT_EQ(back.num_params(), m.num_params());
    EXPECT_EQ(std::memcmp(back.params(), m.params(), m.num_params() * sizeof(float)), 0)
        << m.config().arch_name();
    // Saving the loaded model again gives the same bytes.
    const std::string dir2 = dir + "_again";
    r1::save_model(back, dir2);
    EXPECT_EQ(r1::read_file(dir + "/model.safetensors"), r1::read_file(dir2 + "/model.safetensors"));
  }
}

// output.dtype = "bf16": the weights saved rounded to bfloat16 (nearest even), and loaded back as
// exactly those values; config.json says so.
TEST(Checkpoint, Bf16SaveRoundsEveryWeight) {
  r1::Model m(small_config(r1::Arch::Qwen2));
  m.init_random(5, 0.3f);
  const std::string dir = scratch_dir() + "/bf16";
  r1::save_model(m, dir, "", r1::DType::BF16);
  const r1::Model back = r1::load_model(dir);
  ASSERT_EQ(back.num_params(), m.num_params());
  size_t changed = 0;
  for (size_t i = 0; i < m.num_params(); i++) {
    const float want = r1::bf16_to_f32(r1::f32_to_bf16(m.params()[i]));
    ASSERT_EQ(back.params()[i], want) << i;
    changed += want != m.params()[i];
  }
  EXPECT_GT(changed, m.num_params() / 2);  // it was rounded, not saved as f32
  EXPECT_NE(r1::read_file(dir + "/config.json").find("\"torch_dtype\": \"bfloat16\""), std::string::npos);
  EXPECT_EQ(fs::file_size(dir + "/model.safetensors") < m.num_params() * 3, true);
}

TEST(Checkpoint, HalfPrecisionAndShardedCheckpointsLoad) {
  r1::Model m(small_config(r1::Arch::Llama));
  m.init_random(4, 0.3f);
  const std::string dir = scratch_dir();
  r1::save_model(m, dir);
  fs::remove(dir + "/model.safetensors");
  // Two shards: the first half of the tensors in BF16, the rest in F16, with an index.
  std::vector<std::vector<uint16_t>> store;
  std::vector<r1::TensorToWrite> s1, s2;
  nlohmann::json index;
  const auto& specs = m.param_specs();
  for (size_t i = 0; i < specs.size(); i++) {
    const bool first = i < specs.size() / 2;
    std::vector<uint16_t> h(specs[i].numel);
    for (size_t j = 0; j < h.size(); j++) {
      const float v = m.params()[specs[i].offset + j];
      h[j] = first ? r1::f32_to_bf16(v) : r1::f32_to_f16(v);
    }
    store.push_back(std::move(h));
    (first ? s1 : s2)
        .push_back(
            {specs[i].name, specs[i].shape, first ? r1::DType::BF16 : r1::DType::F16, store.back().data()});
    index["weight_map"][specs[i].name] =
        first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  r1::save_safetensors(dir + "/model-00001-of-00002.safetensors", s1);
  r1::save_safetensors(dir + "/model-00002-of-00002.safetensors", s2);
  write_file(dir + "/model.safetensors.index.json", index.dump());
  r1::Model back = r1::load_model(dir);
  for (size_t i = 0; i < specs.size(); i++) {
    const bool first = i < specs.size() / 2;
    for (size_t j = 0; j < specs[i].numel; j++) {
      const uint16_t h = store[i][j];
      const float want = first ? r1::bf16_to_f32(h) : r1::f16_to_f32(h);
      ASSERT_EQ(back.params()[specs[i].offset + j], want) << specs[i].name << "[" << j << "]";
    }
  }
}

TEST(Checkpoint, TokenizerFilesAreCopiedAlong) {
  r1::Model m(small_config(r1::Arch::Llama));
  const std::string root = scratch_dir();
  const std::string src = root + "/src", dst = root + "/dst";
  fs::create_directories(src);
  fs::create_directories(dst);
  write_file(src + "/tokenizer.json", "{\"x\": 1}");
  write_file(src + "/tokenizer_config.json", "{}");
  r1::save_model(m, dst, src);
  EXPECT_EQ(r1::read_file(dst + "/tokenizer.json"), "{\"x\": 1}");
  EXPECT_TRUE(fs::exists(dst + "/tokenizer_config.json"));
  EXPECT_FALSE(fs::exists(dst + "/merges.txt"));
}
