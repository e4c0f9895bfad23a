#include "model/config.h"

#include <cctype>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include "core/error.h"
#include "io/gguf.h"
#include "model/memory.h"

namespace r1 {

std::string ModelConfig::arch_name() const {
  const char* suffix = score_head ? "ForSequenceClassification" : "ForCausalLM";
  switch (arch) {
    case Arch::Llama:
      return std::string("Llama") + suffix;
    case Arch::Qwen2:
      return std::string("Qwen2") + suffix;
    case Arch::Qwen3:
      return std::string("Qwen3") + suffix;
  }
  return "?";
}

std::string ModelConfig::key(ConfigField f) const {
  // One row per field: config.json, GGUF, recipe.
  static constexpr const char* kKeys[][3] = {
      {"vocab_size", "llama.vocab_size", "vocab_size (the tokenizer's)"},
      {"hidden_size", "llama.embedding_length", "model.hidden_size"},
      {"intermediate_size", "llama.feed_forward_length", "model.intermediate_size"},
      {"num_hidden_layers", "llama.block_count", "model.num_layers"},
      {"num_attention_heads", "llama.attention.head_count", "model.num_heads"},
      {"num_key_value_heads", "llama.attention.head_count_kv", "model.num_kv_heads"},
      {"head_dim", "llama.attention.key_length", "model.head_dim"},
      {"rms_norm_eps", "llama.attention.layer_norm_rms_epsilon", "model.rms_norm_eps"},
      {"rope_theta", "llama.rope.freq_base", "model.rope_theta"},
      {"max_position_embeddings", "llama.context_length", "data.seq_len"},
  };
  const int column = keys == ConfigKeys::HfJson ? 0 : keys == ConfigKeys::Gguf ? 1 : 2;
  std::string k = kKeys[static_cast<int>(f)][column];
  // GGUF keys start with the architecture's name: "qwen2.block_count".
  if (keys == ConfigKeys::Gguf && arch != Arch::Llama) k = gguf_arch_name(arch) + k.substr(k.find('.'));
  return k;
}

Arch arch_from_name(const std::string& name, const std::string& source, bool* score_head) {
  for (const auto& [family, arch] :
       {std::pair{"Llama", Arch::Llama}, std::pair{"Qwen2", Arch::Qwen2}, std::pair{"Qwen3", Arch::Qwen3}}) {
    const std::string f = family;
    std::string lower = f;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    const bool cls = name == f + "ForSequenceClassification";
    if (name == f + "ForCausalLM" || name == lower || cls) {
      if (score_head) *score_head = cls;
      return arch;
    }
  }
  fail(
      "{}: unsupported architecture '{}' (supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM "
      "and "
      "their ForSequenceClassification reward models)",
      source, name);
}

namespace {

using nlohmann::json;

// Typed field access with errors that name the file and the field.
template <typename T>
T field(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail("{}: missing field '{}'", source, key);
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean()) fail("{}: field '{}' must be a boolean, got {}", source, key, it->dump());
  } else if constexpr (std::is_integral_v<T>) {
    if (!it->is_number_integer()) fail("{}: field '{}' must be an integer, got {}", source, key, it->dump());
    const bool fits = it->is_number_unsigned()
                          ? it->get<uint64_t>() <= uint64_t(std::numeric_limits<T>::max())
                          : it->get<int64_t>() >= int64_t(std::numeric_limits<T>::min()) &&
                                it->get<int64_t>() <= int64_t(std::numeric_limits<T>::max());
    if (!fits) fail("{}: field '{}' is out of range: {}", source, key, it->dump());
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!it->is_number()) fail("{}: field '{}' must be a number, got {}", source, key, it->dump());
  } else {
    if (!it->is_string()) fail("{}: field '{}' must be a string, got {}", source, key, it->dump());
  }
  return it->get<T>();
}

template <typename T>
T field_or(const json& j, const char* key, T def, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  return field<T>(j, key, source);
}

std::vector<int> token_ids(const json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  const json list = it->is_array() ? *it : json::array({*it});
  std::vector<int> ids;
  for (const auto& v : list) {
    const bool ok = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= uint64_t(INT32_MAX)
                        : v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= INT32_MAX;
    if (!ok) fail("{}: field '{}' must be a token id or a list of them, got {}", source, key, it->dump());
    ids.push_back(v.get<int>());
  }
  return ids;
}

}  // namespace

ModelConfig ModelConfig::from_hf_json(const json& j, const std::string& source) {
  if (!j.is_object()) fail("{}: expected a JSON object", source);
  ModelConfig c;
  c.keys = ConfigKeys::HfJson;
  std::string arch_name;
  if (auto it = j.find("architectures");
      it != j.end() && it->is_array() && !it->empty() && (*it)[0].is_string()) {
    arch_name = (*it)[0].get<std::string>();
  } else if (auto mt = j.find("model_type"); mt != j.end() && mt->is_string()) {
    arch_name = mt->get<std::string>();
  } else {
    fail("{}: missing field 'architectures' (and no 'model_type')", source);
  }
  c.arch = arch_from_name(arch_name, source, &c.score_head);
  if (c.score_head) {
    // transformers' num_labels: the field if present, else the size of id2label, else its default 2.
    int labels = 2;
    if (auto it = j.find("id2label"); it != j.end() && it->is_object()) labels = static_cast<int>(it->size());
    labels = field_or<int>(j, "num_labels", labels, source);
    if (labels != 1)
      fail("{}: a {} reward model needs num_labels 1 (one score per sequence), got {}{}", source, arch_name,
           labels,
           j.contains("num_labels") || j.contains("id2label")
               ? ""
               : " (transformers' default without num_labels or id2label)");
  }
  c.vocab_size = field<int>(j, "vocab_size", source);
  c.hidden_size = field<int>(j, "hidden_size", source);
  c.intermediate_size = field<int>(j, "intermediate_size", source);
  c.num_layers = field<int>(j, "num_hidden_layers", source);
  c.num_heads = field<int>(j, "num_attention_heads", source);
  c.num_kv_heads = field_or<int>(j, "num_key_value_heads", c.num_heads, source);
  c.head_dim = field_or<int>(j, "head_dim", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0, source);
  c.rms_norm_eps = static_cast<float>(field_or<double>(j, "rms_norm_eps", 1e-6, source));
  c.rope_theta = field_or<double>(j, "rope_theta", 10000.0, source);
  c.tie_word_embeddings =
      field_or<bool>(j, "tie_word_embeddings", false, source);  // default of all three families
  c.max_position_embeddings = field_or<int>(j, "max_position_embeddings", 2048, source);
  c.bos_token_id = field_or<int>(j, "bos_token_id", -1, source);
  c.eos_token_ids = token_ids(j, "eos_token_id", source);
  c.torch_dtype = field_or<std::string>(j, "torch_dtype", "float32", source);
  c.attention_bias = c.arch == Arch::Qwen2 ? true : field_or<bool>(j, "attention_bias", false, source);
  c.qk_norm = c.arch == Arch::Qwen3;

  // Refuse what the engine does not implement rather than run it silently wrong.
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    std::string kind = "?";
    if (it->is_object()) {
      for (const char* k : {"rope_type", "type"}) {
        if (it->contains(k) && (*it)[k].is_string()) kind = (*it)[k].get<std::string>();
      }
    }
    if (kind != "default") fail("{}: rope_scaling of type '{}' is not implemented", source, kind);
  }
  if (field_or<bool>(j, "use_sliding_window", false, source))
    fail("{}: sliding-window attention (use_sliding_window: true) is not implemented", source);
  if (field_or<bool>(j, "mlp_bias", false, source)) fail("{}: mlp_bias: true is not implemented", source);
  if (auto act = field_or<std::string>(j, "hidden_act", "silu", source); act != "silu")
    fail("{}: hidden_act '{}' is not implemented (only silu)", source, act);
  if (double prf = field_or<double>(j, "partial_rotary_factor", 1.0, source); prf != 1.0)
    fail("{}: partial_rotary_factor {} is not implemented", source, prf);
  for (const char* moe : {"num_experts", "num_local_experts", "n_routed_experts"}) {
    if (j.contains(moe) && !j[moe].is_null())
      fail("{}: mixture of experts ('{}') is not implemented", source, moe);
  }
  c.validate(source);
  return c;
}

void ModelConfig::validate(const std::string& source) const {
  using F = ConfigField;
  auto positive = [&](int v, F f) {
    if (v <= 0) fail("{}: {} must be positive, got {}", source, key(f), v);
  };
  positive(vocab_size, F::VocabSize);
  positive(hidden_size, F::HiddenSize);
  positive(intermediate_size, F::IntermediateSize);
  positive(num_layers, F::NumLayers);
  positive(num_heads, F::NumHeads);
  positive(num_kv_heads, F::NumKvHeads);
  positive(head_dim, F::HeadDim);
  positive(max_position_embeddings, F::MaxPositionEmbeddings);
  if (num_heads % num_kv_heads != 0)
    fail("{}: {} ({}) must be a multiple of {} ({})", source, key(F::NumHeads), num_heads, key(F::NumKvHeads),
         num_kv_heads);
  if (head_dim % 2 != 0) fail("{}: {} must be even for RoPE, got {}", source, key(F::HeadDim), head_dim);
  if (!(rms_norm_eps > 0) || !std::isfinite(rms_norm_eps) || rms_norm_eps >= 1)
    fail("{}: '{}' must be in (0, 1), got {}", source, key(F::RmsNormEps), rms_norm_eps);
  if (!(rope_theta > 0) || !std::isfinite(rope_theta))
    fail("{}: '{}' must be positive and finite", source, key(F::RopeTheta));
  // No tensor over 2^31 - 1 elements. Products of two positive ints are exact in int64.
  constexpr int64_t kMaxElems = 2147483647;
  auto tensor = [&](const char* what, F rows_field, int64_t rows, F cols_field, int64_t cols) {
    if (rows * cols > kMaxElems)
      fail("{}: {} {} x {} {} makes {} of {} elements, more than the {} a tensor may hold", source,
           key(rows_field), rows, key(cols_field), cols, what, rows * cols, kMaxElems);
  };
  tensor("the embedding", F::VocabSize, vocab_size, F::HiddenSize, hidden_size);
  tensor("each MLP projection", F::IntermediateSize, intermediate_size, F::HiddenSize, hidden_size);
  // q, k and v rows (up to 3 x 2^62) times the hidden size: beyond int64, so in double.
  const double qkv_elems = (double(num_heads) + 2.0 * num_kv_heads) * head_dim * hidden_size;
  if (qkv_elems > double(kMaxElems))
    fail(
        "{}: ({} {} + 2 x {} {}) x {} {} x {} {} makes q/k/v projections of {:.3g} elements, more than "
        "the {} a tensor may hold",
        source, key(F::NumHeads), num_heads, key(F::NumKvHeads), num_kv_heads, key(F::HeadDim), head_dim,
        key(F::HiddenSize), hidden_size, qkv_elems, kMaxElems);
  check_model_memory(*this, source);
}

json ModelConfig::to_hf_json() const {
  json j;
  j["architectures"] = json::array({arch_name()});
  j["model_type"] = arch == Arch::Llama ? "llama" : arch == Arch::Qwen2 ? "qwen2" : "qwen3";
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_layers;
  j["num_attention_heads"] = num_heads;
  j["num_key_value_heads"] = num_kv_heads;
  j["head_dim"] = head_dim;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  j["rope_scaling"] = nullptr;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (arch != Arch::Qwen2) j["attention_bias"] = attention_bias;
  if (arch == Arch::Llama) j["mlp_bias"] = false;
  if (arch == Arch::Qwen2) j["use_sliding_window"] = false;
  j["max_position_embeddings"] = max_position_embeddings;
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1) j["eos_token_id"] = eos_token_ids[0];
  if (eos_token_ids.size() > 1) j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = "float32";
  if (score_head) {  // what transformers writes for num_labels = 1
    j["num_labels"] = 1;
    j["id2label"] = {{"0", "LABEL_0"}};
    j["label2id"] = {{"LABEL_0", 0}};
  }
  return j;
}

std::string gguf_arch_name(Arch arch) {
  return arch == Arch::Llama ? "llama" : arch == Arch::Qwen2 ? "qwen2" : "qwen3";
}

ModelConfig ModelConfig::from_gguf(const GGUFFile& gguf) {
  const json& m = gguf.metadata();
  const std::string& src = gguf.path();
  std::string arch = m.contains("general.architecture") && m["general.architecture"].is_string()
                         ? m["general.architecture"].get<std::string>()
                         : std::string("(missing general.architecture)");
  ModelConfig c;
  if (arch == "llama")
    c.arch = Arch::Llama;
  else if (arch == "qwen2")
    c.arch = Arch::Qwen2;
  else if (arch == "qwen3")
    c.arch = Arch::Qwen3;
  else
    fail("{}: GGUF architecture '{}' is not supported (llama, qwen2, qwen3)", src, arch);
  const std::string pre = arch + ".";
  // GGUF numbers may be stored as any integer or float type; accept whole values that fit an int.
  auto num_or = [&](const std::string& key, std::optional<double> def) -> double {
    auto it = m.find(key);
    if (it == m.end()) {
      if (!def) fail("{}: missing GGUF key '{}'", src, key);
      return *def;
    }
    if (!it->is_number()) fail("{}: GGUF key '{}' must be a number, got {}", src, key, it->dump());
    const double v = it->get<double>();
    if (!std::isfinite(v)) fail("{}: GGUF key '{}' is not finite", src, key);
    return v;
  };
  auto int_or = [&](const std::string& key, std::optional<int> def) -> int {
    const double v = num_or(key, def ? std::optional<double>(*def) : std::nullopt);
    if (v != std::floor(v) || v < -1 || v > INT32_MAX)
      fail("{}: GGUF key '{}' is out of range: {}", src, key, v);
    return static_cast<int>(v);
  };
  c.keys = ConfigKeys::Gguf;
  // Qwen2 has q/k/v biases; Qwen3 RMS-normalises each head's q and k (as from_hf_json sets them).
  c.attention_bias = c.arch == Arch::Qwen2;
  c.qk_norm = c.arch == Arch::Qwen3;
  c.hidden_size = int_or(pre + "embedding_length", std::nullopt);
  c.intermediate_size = int_or(pre + "feed_forward_length", std::nullopt);
  c.num_layers = int_or(pre + "block_count", std::nullopt);
  c.num_heads = int_or(pre + "attention.head_count", std::nullopt);
  c.num_kv_heads = int_or(pre + "attention.head_count_kv", c.num_heads);
  c.head_dim = int_or(pre + "attention.key_length", c.num_heads > 0 ? c.hidden_size / c.num_heads : 0);
  if (int vd = int_or(pre + "attention.value_length", c.head_dim); vd != c.head_dim)
    fail("{}: {}attention.value_length {} differs from key_length {} (not implemented)", src, pre, vd,
         c.head_dim);
  c.rms_norm_eps = static_cast<float>(num_or(pre + "attention.layer_norm_rms_epsilon", std::nullopt));
  c.rope_theta = num_or(pre + "rope.freq_base", 10000.0);
  c.max_position_embeddings = int_or(pre + "context_length", 2048);
  if (int rot = int_or(pre + "rope.dimension_count", c.head_dim); rot != c.head_dim)
    fail("{}: partial rotary embedding (rope.dimension_count {} != head_dim {}) is not implemented", src, rot,
         c.head_dim);
  if (m.contains(pre + "rope.scaling.type") && m[pre + "rope.scaling.type"] != "none")
    fail("{}: rope scaling '{}' is not implemented", src, m[pre + "rope.scaling.type"].dump());
  if (m.contains(pre + "expert_count")) fail("{}: mixture-of-experts models are not implemented", src);
  if (m.contains(pre + "vocab_size")) {
    c.vocab_size = int_or(pre + "vocab_size", std::nullopt);
  } else if (const GGUFTensor* t = gguf.find("token_embd.weight"); t && t->shape.size() == 2) {
    c.vocab_size = t->shape[0] <= INT32_MAX ? static_cast<int>(t->shape[0]) : 0;
  }
  c.tie_word_embeddings = gguf.find("output.weight") == nullptr;
  c.bos_token_id = int_or("tokenizer.ggml.bos_token_id", -1);
  if (int eos = int_or("tokenizer.ggml.eos_token_id", -1); eos >= 0) c.eos_token_ids = {eos};
  c.validate(src);
  return c;
}

}  // namespace r1
