// Writing small GGUF files in tests: metadata values, a byte writer with per-key overrides, and
// the GGUF names of Hugging Face llama tensors. Shared by the tests that build GGUF files.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/model.h"

namespace r1::testing {

// A GGUF metadata value given as its type and raw little-endian bytes.
struct GgufValue {
  uint32_t type;
  std::string bytes;
};
template <typename T>
GgufValue gguf_value(uint32_t type, T v) {
  return {type, std::string(reinterpret_cast<const char*>(&v), sizeof v)};
}

struct GgufWriter {
  std::string b;
  std::map<std::string, GgufValue> overrides;  // key -> value written instead of the usual one
  template <typename T>
  void raw(T v) {
    b.append(reinterpret_cast<const char*>(&v), sizeof v);
  }
  void str(const std::string& s) {
    raw<uint64_t>(s.size());
    b += s;
  }
  bool overridden(const std::string& k) {
    const auto it = overrides.find(k);
    if (it == overrides.end()) return false;
    str(k), raw<uint32_t>(it->second.type), b += it->second.bytes;
    return true;
  }
  void kv_u32(const std::string& k, uint32_t v) {
    if (!overridden(k)) str(k), raw<uint32_t>(4), raw<uint32_t>(v);
  }
  void kv_f32(const std::string& k, float v) {
    if (!overridden(k)) str(k), raw<uint32_t>(6), raw<float>(v);
  }
  void kv_str(const std::string& k, const std::string& v) {
    if (!overridden(k)) str(k), raw<uint32_t>(8), str(v);
  }
  void kv_str_array(const std::string& k, const std::vector<std::string>& v) {
    str(k), raw<uint32_t>(9), raw<uint32_t>(8), raw<uint64_t>(v.size());
    for (const auto& s : v) str(s);
  }
  void pad_to(size_t align) { b.append((align - b.size() % align) % align, '\0'); }
};

inline std::string gguf_name(const std::string& hf) {
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  static const std::map<std::string, std::string> layer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.q_proj.bias", "attn_q.bias"},
      {"self_attn.k_proj.bias", "attn_k.bias"},
      {"self_attn.v_proj.bias", "attn_v.bias"},
      {"self_attn.q_norm.weight", "attn_q_norm.weight"},
      {"self_attn.k_norm.weight", "attn_k_norm.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"}};
  const std::string pre = "model.layers.";
  if (hf.rfind(pre, 0) == 0) {
    const size_t dot = hf.find('.', pre.size());
    const auto it = layer.find(hf.substr(dot + 1));
    if (it != layer.end()) return "blk." + hf.substr(pre.size(), dot - pre.size()) + "." + it->second;
  }
  throw std::runtime_error("no GGUF name for " + hf);
}

// A GGUF file of model m (F32 tensors in the rows the model holds: Hugging Face's, which is
// llama.cpp's for qwen2/qwen3; a llama file would have its q/k rows permuted, which loading undoes),
// with `block_count` layers claimed (0: the model's).
inline std::string gguf_model_bytes(const Model& m, uint32_t block_count = 0) {
  const ModelConfig& c = m.config();
  const std::string a = gguf_arch_name(c.arch);
  GgufWriter w;
  w.b = "GGUF";
  w.raw<uint32_t>(3);
  w.raw<uint64_t>(m.param_specs().size());
  w.raw<uint64_t>(11);  // metadata keys, as below
  w.kv_str("general.architecture", a);
  w.kv_u32(a + ".context_length", static_cast<uint32_t>(c.max_position_embeddings));
  w.kv_u32(a + ".embedding_length", static_cast<uint32_t>(c.hidden_size));
  w.kv_u32(a + ".feed_forward_length", static_cast<uint32_t>(c.intermediate_size));
  w.kv_u32(a + ".block_count", block_count ? block_count : static_cast<uint32_t>(c.num_layers));
  w.kv_u32(a + ".attention.head_count", static_cast<uint32_t>(c.num_heads));
  w.kv_u32(a + ".attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
  w.kv_u32(a + ".attention.key_length", static_cast<uint32_t>(c.head_dim));
  w.kv_f32(a + ".attention.layer_norm_rms_epsilon", c.rms_norm_eps);
  w.kv_f32(a + ".rope.freq_base", static_cast<float>(c.rope_theta));
  w.kv_u32(a + ".vocab_size", static_cast<uint32_t>(c.vocab_size));
  uint64_t offset = 0;
  for (const auto& s : m.param_specs()) {
    w.str(gguf_name(s.name));
    w.raw<uint32_t>(static_cast<uint32_t>(s.shape.size()));
    for (auto it = s.shape.rbegin(); it != s.shape.rend(); ++it) w.raw<int64_t>(*it);
    w.raw<uint32_t>(0);  // F32
    w.raw<uint64_t>(offset);
    offset += (s.numel * sizeof(float) + 31) / 32 * 32;
  }
  w.pad_to(32);
  for (const auto& s : m.param_specs()) {
    w.b.append(reinterpret_cast<const char*>(m.params() + s.offset), s.numel * sizeof(float));
    w.pad_to(32);
  }
  return w.b;
}

}  // namespace r1::testing
