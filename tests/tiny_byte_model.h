// A tiny random Llama saved as a Hugging Face directory with r1's built-in byte tokenizer, for
// tests that run the r1 binary without ../shared: one byte is one token (BOS 256, EOS 257), so a
// prompt of n ASCII characters is n + 1 tokens, and the context is whatever the test asks.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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

// A byte-level model that continues by a fixed table: after token `from` it writes `to` (greedy),
// e.g. {{':', 'y'}, {'y', 'e'}, {'e', 's'}, {'s', EOS}} answers "yes" to any prompt ending in ':'.
// Each source token's embedding holds a large constant in a dimension of its own, which dominates
// the residual stream at that position, and the output head maps that dimension to the target
// (at most hidden_size entries).
inline std::string save_table_model(const std::string& dir, const std::vector<std::pair<int, int>>& table,
                                    int context = 512) {
  const std::string path = save_tiny_byte_model(dir, context, 9);
  Model m = load_model(path);
  const int64_t D = m.config().hidden_size;
  float* w = m.params();
  const ParamSpec* emb = m.find_param("model.embed_tokens.weight");
  const ParamSpec* head = m.find_param("lm_head.weight");
  if (!emb || !head || m.config().tie_word_embeddings || static_cast<int64_t>(table.size()) > D) return "";
  for (size_t k = 0; k < table.size(); k++) {
    w[emb->offset + static_cast<size_t>(table[k].first * D) + k] = 20.0f;
    w[head->offset + static_cast<size_t>(table[k].second * D) + k] = 5.0f;
  }
  save_model(m, path);  // the tokenizer stays
  return path;
}

}  // namespace r1::testing
