// A tiny random Llama saved as a Hugging Face directory with r1's built-in byte tokenizer, for
// tests that run the r1 binary without ../shared: one byte is one token (BOS 256, EOS 257), so a
// prompt of n ASCII characters is n + 1 tokens, and the context is whatever the test asks.
#pragma once

#include <cstdint>
#include <string>

#include "model/checkpoint.h"
#include "test_util.h"
#include "tiny_model.h"
#include "tokenizer/byte_tokenizer.h"

namespace r1::testing {

// Writes config.json, generation_config.json, model.safetensors and tokenizer.json into dir;
// returns dir.
inline std::string save_tiny_byte_model(const std::string& dir, int context = 64, uint64_t seed = 7) {
  ModelConfig c = tiny_config(Arch::Llama);
  c.vocab_size = ByteTokenizer::kVocabSize;
  c.max_position_embeddings = context;
  c.bos_token_id = ByteTokenizer::kBos;
  c.eos_token_ids = {ByteTokenizer::kEos};
  Model m(c);
  m.init_random(seed, 0.2f);
  save_model(m, dir);
  write_file(dir + "/tokenizer.json", ByteTokenizer().to_hf_tokenizer_json().dump());
  return dir;
}

}  // namespace r1::testing
