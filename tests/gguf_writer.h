// Writing small GGUF files in tests: metadata values, a byte writer with per-key overrides, and
// the GGUF names of Hugging Face llama tensors. Shared by the tests that build GGUF files.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

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

}  // namespace r1::testing
