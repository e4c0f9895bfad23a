// llama.cpp's tokenizer test vectors against the reference tokenizers' files.
#include <gtest/gtest.h>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/tokenizer.h"

namespace {

using r1::testing::load_vectors;

// Every vector of `name` through `tok` (no special tokens added, special text parsed as text,
// as llama.cpp's test does); then decode gives the input back.
void check_vectors(const r1::Tokenizer& tok, const std::string& name) {
  const auto vectors = load_vectors(name);
  ASSERT_EQ(vectors.size(), 46u);
  int failures = 0;
  for (const auto& v : vectors) {
    const auto ids = tok.encode(v.text, /*parse_special=*/false);
    EXPECT_EQ(ids, v.ids) << "input: '" << v.text << "'";
    if (ids != v.ids) ++failures;
  }
  EXPECT_EQ(failures, 0) << name;
}

}  // namespace

TEST(TokVectors, Qwen2WithQwen3TokenizerJson) {
  const std::string path = r1::testing::qwen3_tokenizer_json();
  R1_SKIP_UNLESS_SHARED(path);
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-qwen2.gguf");
  check_vectors(r1::testing::cached_tokenizer(path), "ggml-vocab-qwen2.gguf");
}

TEST(TokVectors, Qwen2WithQwen25VocabMerges) {
  const std::string dir = r1::testing::qwen25_dir();
  R1_SKIP_UNLESS_SHARED(dir);
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-qwen2.gguf");
  check_vectors(r1::testing::cached_tokenizer(dir), "ggml-vocab-qwen2.gguf");
}

TEST(TokVectors, LlamaBpeWithLlama3TokenizerJson) {
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-llama-bpe.gguf");
  std::string why;
  const std::string dir = r1::testing::npm_tokenizer_dir("llama3", &why);
  if (dir.empty()) GTEST_SKIP() << why;
  check_vectors(r1::testing::cached_tokenizer(dir + "/tokenizer.json"), "ggml-vocab-llama-bpe.gguf");
}

TEST(TokVectors, LlamaSpmWithLlama2TokenizerJson) {
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-llama-spm.gguf");
  std::string why;
  const std::string dir = r1::testing::npm_tokenizer_dir("llama2", &why);
  if (dir.empty()) GTEST_SKIP() << why;
  check_vectors(r1::testing::cached_tokenizer(r1::testing::llama2_tokenizer_json(dir)),
                "ggml-vocab-llama-spm.gguf");
}
