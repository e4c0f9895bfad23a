#include "model/checkpoint.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <unordered_map>

#include "core/error.h"
#include "core/rng.h"
#include "io/dtype.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/json.h"
#include "io/safetensors.h"
#include "model/memory.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Checks dtype and shape against the parameter's spec (before anything is allocated).
void check_tensor(const TensorInfo& t, const ParamSpec& spec, const std::string& what) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    fail("{}: tensor '{}' has dtype {}; only F32, F16 and BF16 are supported", t.file, t.name,
         dtype_name(t.dtype));
  if (t.shape != spec.shape)
    fail("{}: tensor '{}' has shape {} but {} implies {}", t.file, t.name, shape_str(t.shape), what,
         shape_str(spec.shape));
}

// What a checkpoint's tensors hold: the layers their names number ("<prefix><index>.", e.g.
// "model.layers.3." or "blk.3.") and their elements (each tensor already checked against the
// file's bytes).
struct Holdings {
  explicit Holdings(std::string_view prefix) : layer_prefix(prefix) {}

  std::string_view layer_prefix;
  std::set<int64_t> layers;
  uint64_t params = 0;

  void add(std::string_view name, const std::vector<int64_t>& shape) {
    uint64_t n = 1;
    for (int64_t d : shape)
      if (__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) n = UINT64_MAX;
    if (__builtin_add_overflow(params, n, &params)) params = UINT64_MAX;
    if (!name.starts_with(layer_prefix)) return;
    name.remove_prefix(layer_prefix.size());
    int64_t index = 0;
    const auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), index);
    if (ec == std::errc() && end != name.data() && end < name.data() + name.size() && *end == '.')
      layers.insert(index);
  }
};

// Before the parameter arena is allocated: a configuration with more layers than the checkpoint
// holds (a config.json saying 100000 next to a one-layer file) would allocate for tensors that
// are not there, possibly far more memory than the file's size. `source` holds the layer count
// (config.json or the GGUF); `file` the tensors.
void check_layer_count(const ModelConfig& c, const std::string& source, const std::string& file,
                       const Holdings& h) {
  const int64_t have = static_cast<int64_t>(h.layers.size());
  if (c.num_layers <= have) return;
  fail("{}: {} {} makes a model of {} parameters ({} in fp32), but {} holds {} layer{} ({} parameters)",
       source, c.key(ConfigField::NumLayers), c.num_layers, format_param_count(model_param_count(c)),
       format_bytes(estimate_model_memory(c).params), file, have, have == 1 ? "" : "s",
       format_param_count(h.params));
}

// The checkpoint's tensor for every spec, each checked (present, dtype, shape), and no tensor
// the configuration does not have: everything a load can refuse, before the arena exists.
std::vector<const TensorInfo*> plan_hf(const std::vector<ParamSpec>& specs, const ModelConfig& c,
                                       const SafetensorsModel& st) {
  std::vector<const TensorInfo*> plan;
  plan.reserve(specs.size());
  std::unordered_map<std::string_view, const ParamSpec*> by_name;
  for (const ParamSpec& spec : specs) {
    const TensorInfo* t = st.find(spec.name);
    if (!t) fail("{}: missing tensor '{}'", st.path(), spec.name);
    check_tensor(*t, spec, "config.json");
    plan.push_back(t);
    by_name.emplace(spec.name, &spec);
  }
  for (const TensorInfo* t : st.tensors()) {
    if (by_name.count(t->name)) continue;
    if (c.tie_word_embeddings && t->name == "lm_head.weight")
      continue;                                              // some tied checkpoints store it anyway
    if (t->name.ends_with("rotary_emb.inv_freq")) continue;  // a buffer, recomputed from rope_theta
    fail("{}: unexpected tensor '{}' (not part of a {} with this config.json)", t->file, t->name,
         c.arch_name());
  }
  return plan;
}

void copy_hf(Model& model, const std::vector<const TensorInfo*>& plan) {
  const auto& specs = model.param_specs();
  for (size_t i = 0; i < specs.size(); i++)
    convert_to_f32(plan[i]->dtype, plan[i]->data, model.params() + specs[i].offset, specs[i].numel);
}

// The file a safetensors checkpoint's tensors are in: model.safetensors, or the directory of shards.
std::string weights_file(const SafetensorsModel& st) {
  const std::vector<const TensorInfo*> tensors = st.tensors();
  return st.num_files() == 1 && !tensors.empty() ? tensors.front()->file : st.path();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// GGUF (llama.cpp) stores q/k rows in Meta's interleaved-pair RoPE layout; Hugging Face uses
// rotate-half. Row (h, i, j) of the GGUF layout [heads, hd/2, 2] becomes row (h, j, i) of the HF
// layout [heads, 2, hd/2] (the inverse of llama.cpp's permute in convert_hf_to_gguf).
void unpermute_rope_rows(float* w, int64_t heads, int64_t hd, int64_t cols) {
  std::vector<float> src(w, w + heads * hd * cols);
  const int64_t half = hd / 2;
  for (int64_t h = 0; h < heads; h++)
    for (int64_t i = 0; i < half; i++)
      for (int64_t j = 0; j < 2; j++) {
        const float* from = src.data() + ((h * half + i) * 2 + j) * cols;
        float* to = w + (h * hd + j * half + i) * cols;
        std::copy(from, from + cols, to);
      }
}

Model load_gguf(const std::string& path) {
  GGUFFile gguf(path);
  const ModelConfig c = ModelConfig::from_gguf(gguf);
  Holdings holds("blk.");
  for (const GGUFTensor& gt : gguf.tensors()) holds.add(gt.name, gt.shape);
  check_layer_count(c, path, "the file", holds);

  // GGUF name -> Hugging Face name.
  auto hf_name = [&](const std::string& g) -> std::string {
    if (g == "token_embd.weight") return "model.embed_tokens.weight";
    if (g == "output_norm.weight") return "model.norm.weight";
    if (g == "output.weight") return "lm_head.weight";
    if (g.rfind("blk.", 0) == 0) {
      size_t dot = g.find('.', 4);
      if (dot == std::string::npos) return "";
      const std::string layer = g.substr(4, dot - 4), rest = g.substr(dot + 1);
      static const std::vector<std::pair<std::string, std::string>> map = {
          {"attn_norm.weight", "input_layernorm.weight"},
          {"attn_q.weight", "self_attn.q_proj.weight"},
          {"attn_k.weight", "self_attn.k_proj.weight"},
          {"attn_v.weight", "self_attn.v_proj.weight"},
          {"attn_q.bias", "self_attn.q_proj.bias"},  // qwen2
          {"attn_k.bias", "self_attn.k_proj.bias"},
          {"attn_v.bias", "self_attn.v_proj.bias"},
          {"attn_q_norm.weight", "self_attn.q_norm.weight"},  // qwen3
          {"attn_k_norm.weight", "self_attn.k_norm.weight"},
          {"attn_output.weight", "self_attn.o_proj.weight"},
          {"ffn_norm.weight", "post_attention_layernorm.weight"},
          {"ffn_gate.weight", "mlp.gate_proj.weight"},
          {"ffn_up.weight", "mlp.up_proj.weight"},
          {"ffn_down.weight", "mlp.down_proj.weight"}};
      for (const auto& [a, b] : map)
        if (rest == a) return "model.layers." + layer + "." + b;
    }
    return "";
  };
  // Every check before the arena is allocated.
  const std::vector<ParamSpec> specs = param_layout(c);
  std::unordered_map<std::string, size_t> spec_index;
  for (size_t i = 0; i < specs.size(); i++) spec_index.emplace(specs[i].name, i);
  std::vector<std::pair<TensorInfo, size_t>> plan;  // (tensor, spec index)
  std::vector<bool> seen(specs.size(), false);
  for (const GGUFTensor& gt : gguf.tensors()) {
    if (gt.name == "rope_freqs.weight")
      fail("{}: tensor 'rope_freqs.weight' (rope scaling) is not implemented", path);
    const auto it = spec_index.find(hf_name(gt.name));
    if (it == spec_index.end())
      fail("{}: unexpected tensor '{}' for a {} model", path, gt.name, gguf_arch_name(c.arch));
    TensorInfo t = gguf.tensor_info(gt);  // refuses quantised types
    check_tensor(t, specs[it->second], "the GGUF metadata");
    seen[it->second] = true;
    plan.emplace_back(std::move(t), it->second);
  }
  for (size_t i = 0; i < seen.size(); i++)
    if (!seen[i]) fail("{}: missing tensor for '{}'", path, specs[i].name);

  Model model(c);
  for (const auto& [t, i] : plan) {
    const ParamSpec& spec = model.param_specs()[i];
    float* dst = model.params() + spec.offset;
    convert_to_f32(t.dtype, t.data, dst, spec.numel);
    // llama.cpp permutes llama's q/k rows only (its qwen2/qwen3 use NeoX RoPE, Hugging Face's layout).
    if (c.arch != Arch::Llama) continue;
    if (ends_with(spec.name, "q_proj.weight"))
      unpermute_rope_rows(dst, c.num_heads, c.head_dim, c.hidden_size);
    if (ends_with(spec.name, "k_proj.weight"))
      unpermute_rope_rows(dst, c.num_kv_heads, c.head_dim, c.hidden_size);
  }
  return model;
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {
      "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
      "merges.txt",     "tokenizer.model"};
  return names;
}

void load_weights_hf(Model& model, const std::string& path) {
  const SafetensorsModel st = SafetensorsModel::open(path);
  copy_hf(model, plan_hf(model.param_specs(), model.config(), st));
}

Model load_model(const std::string& path) {
  if (!fs::exists(path)) fail("{}: no such file or directory", path);
  if (fs::is_regular_file(path)) {
    if (ends_with(path, ".gguf")) return load_gguf(path);
    fail("{}: expected a model directory or a .gguf file", path);
  }
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path)) fail("{}: no config.json in the model directory", path);
  const ModelConfig c = ModelConfig::from_hf_json(read_json_file(cfg_path), cfg_path);
  // Everything the checkpoint can refuse, before the parameter arena is allocated.
  const SafetensorsModel st = SafetensorsModel::open(path);
  Holdings holds("model.layers.");
  for (const TensorInfo* t : st.tensors()) holds.add(t->name, t->shape);
  check_layer_count(c, cfg_path, weights_file(st), holds);
  const std::vector<const TensorInfo*> plan = plan_hf(param_layout(c), c, st);
  Model model(c);
  copy_hf(model, plan);
  return model;
}

Model with_score_head(Model lm, uint64_t seed, float std) {
  if (lm.config().score_head) return lm;
  ModelConfig c = lm.config();
  c.score_head = true;
  Model rm(c);
  float* dst = rm.params();
  for (const ParamSpec& s : rm.param_specs()) {
    if (s.name == "score.weight") {
      for (size_t j = 0; j < s.numel; j++)
        dst[s.offset + j] = static_cast<float>(std * normal(seed, 0x5c0e, j));
      continue;
    }
    const ParamSpec* from = lm.find_param(s.name);
    R1_CHECK(from != nullptr && from->numel == s.numel);
    std::copy(lm.params() + from->offset, lm.params() + from->offset + s.numel, dst + s.offset);
  }
  return rm;
}

void save_model(const Model& model, const std::string& dir, const std::string& tokenizer_src, DType dtype) {
  R1_CHECK(dtype == DType::F32 || dtype == DType::BF16);
  make_dirs(dir);
  const ModelConfig& c = model.config();
  nlohmann::json config = c.to_hf_json();
  config["torch_dtype"] = dtype == DType::BF16 ? "bfloat16" : "float32";
  write_file_atomic((fs::path(dir) / "config.json").string(), config.dump(2) + "\n");
  nlohmann::json gen;
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) gen["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) gen["eos_token_id"] = c.eos_token_ids;
  write_file_atomic((fs::path(dir) / "generation_config.json").string(), gen.dump(2) + "\n");
  std::vector<TensorToWrite> tensors;
  std::vector<uint16_t> bf16;
  if (dtype == DType::BF16) {
    const float* p = model.params();
    bf16.reserve(model.num_params());
    std::transform(p, p + model.num_params(), std::back_inserter(bf16), f32_to_bf16);
  }
  const auto* base = dtype == DType::BF16 ? reinterpret_cast<const char*>(bf16.data())
                                          : reinterpret_cast<const char*>(model.params());
  const size_t esize = dtype == DType::BF16 ? sizeof(uint16_t) : sizeof(float);
  for (const ParamSpec& s : model.param_specs())
    tensors.push_back({s.name, s.shape, dtype, base + s.offset * esize});
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  if (!tokenizer_src.empty() && fs::is_directory(tokenizer_src) && !fs::equivalent(tokenizer_src, dir)) {
    for (const std::string& name : tokenizer_file_names()) {
      const fs::path src = fs::path(tokenizer_src) / name;
      if (fs::exists(src)) write_file_atomic((fs::path(dir) / name).string(), read_file(src.string()));
    }
  }
}

}  // namespace r1
