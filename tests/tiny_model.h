// Tiny random Llama / Qwen2 / Qwen3 models for tests that need a model but not a trained one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"
#include "model/model.h"

namespace r1::testing {

inline ModelConfig tiny_config(Arch arch) {
  ModelConfig c;
  c.arch = arch;
  c.num_layers = 2;
  c.rms_norm_eps = 1e-5f;
  switch (arch) {
    case Arch::Llama:  // GQA 4 over 2, untied
      c.vocab_size = 67, c.hidden_size = 32, c.intermediate_size = 48, c.num_heads = 4, c.num_kv_heads = 2;
      c.head_dim = 8;
      break;
    case Arch::Qwen2:  // q/k/v bias, tied embeddings, 6 heads over 2
      c.vocab_size = 61, c.hidden_size = 24, c.intermediate_size = 40, c.num_heads = 6, c.num_kv_heads = 2;
      c.head_dim = 4, c.attention_bias = true, c.tie_word_embeddings = true, c.rope_theta = 1e6;
      break;
    case Arch::Qwen3:  // q/k norm, head_dim 12 != hidden/heads, one kv head
      c.vocab_size = 53, c.hidden_size = 32, c.intermediate_size = 40, c.num_heads = 4, c.num_kv_heads = 1;
      c.head_dim = 12, c.qk_norm = true;
      break;
  }
  return c;
}

// Random weights large enough (std 0.2) that attention is far from uniform, with non-trivial
// norm weights and biases.
inline Model tiny_model(Arch arch, uint64_t seed = 7) {
  Model m(tiny_config(arch));
  m.init_random(seed, 0.2f);
  for (const auto& s : m.param_specs()) {
    const bool norm = s.name.find("norm") != std::string::npos, bias = s.name.ends_with(".bias");
    if (!norm && !bias) continue;
    for (size_t i = 0; i < s.numel; i++)
      m.params()[s.offset + i] =
          (norm ? 1.f : 0.f) + 0.1f * static_cast<float>(normal(seed, 99 + s.offset, i));
  }
  return m;
}

inline std::vector<int32_t> random_tokens(int n, int vocab, uint64_t seed) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; i++)
    t[static_cast<size_t>(i)] =
        static_cast<int32_t>(hash_u64(seed, static_cast<uint64_t>(i)) % static_cast<uint64_t>(vocab));
  return t;
}

}  // namespace r1::testing
