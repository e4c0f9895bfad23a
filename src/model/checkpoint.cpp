#include "model/checkpoint.h"

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/dtype.h"
#include "io/file.h"
#include "io/gguf.h"
#include "io/json.h"
#include "io/safetensors.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); i++) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

// Checks dtype and shape against the parameter's spec, then converts into dst (fp32).
void copy_tensor(const TensorInfo& t, const ParamSpec& spec, float* dst, const std::string& what) {
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
    fail("{}: tensor '{}' has dtype {}; only F32, F16 and BF16 are supported", t.file, t.name,
         dtype_name(t.dtype));
  if (t.shape != spec.shape)
    fail("{}: tensor '{}' has shape {} but {} implies {}", t.file, t.name, shape_str(t.shape), what,
         shape_str(spec.shape));
  convert_to_f32(t.dtype, t.data, dst, spec.numel);
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
  Model model(ModelConfig::from_gguf(gguf));
  const ModelConfig& c = model.config();
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
  std::vector<bool> seen(model.param_specs().size(), false);
  for (const GGUFTensor& gt : gguf.tensors()) {
    if (gt.name == "rope_freqs.weight")
      fail("{}: tensor 'rope_freqs.weight' (rope scaling) is not implemented", path);
    const std::string name = hf_name(gt.name);
    const ParamSpec* spec = name.empty() ? nullptr : model.find_param(name);
    if (!spec) fail("{}: unexpected tensor '{}' for a llama model", path, gt.name);
    TensorInfo t = gguf.tensor_info(gt);  // refuses quantised types
    float* dst = model.params() + spec->offset;
    copy_tensor(t, *spec, dst, "the GGUF metadata");
    if (ends_with(name, "q_proj.weight")) unpermute_rope_rows(dst, c.num_heads, c.head_dim, c.hidden_size);
    if (ends_with(name, "k_proj.weight")) unpermute_rope_rows(dst, c.num_kv_heads, c.head_dim, c.hidden_size);
    seen[spec - model.param_specs().data()] = true;
  }
  for (size_t i = 0; i < seen.size(); i++)
    if (!seen[i]) fail("{}: missing tensor for '{}'", path, model.param_specs()[i].name);
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
  SafetensorsModel st = SafetensorsModel::open(path);
  const bool tied = model.config().tie_word_embeddings;
  for (const ParamSpec& spec : model.param_specs()) {
    const TensorInfo* t = st.find(spec.name);
    if (!t) fail("{}: missing tensor '{}'", st.path(), spec.name);
    copy_tensor(*t, spec, model.params() + spec.offset, "config.json");
  }
  for (const TensorInfo* t : st.tensors()) {
    if (model.find_param(t->name)) continue;
    if (tied && t->name == "lm_head.weight") continue;        // some tied checkpoints store it anyway
    if (ends_with(t->name, "rotary_emb.inv_freq")) continue;  // a buffer, recomputed from rope_theta
    fail("{}: unexpected tensor '{}' (not part of a {} with this config.json)", t->file, t->name,
         model.config().arch_name());
  }
}

Model load_model(const std::string& path) {
  if (!fs::exists(path)) fail("{}: no such file or directory", path);
  if (fs::is_regular_file(path)) {
    if (ends_with(path, ".gguf")) return load_gguf(path);
    fail("{}: expected a model directory or a .gguf file", path);
  }
  const std::string cfg_path = (fs::path(path) / "config.json").string();
  if (!fs::exists(cfg_path)) fail("{}: no config.json in the model directory", path);
  Model model(ModelConfig::from_hf_json(read_json_file(cfg_path), cfg_path));
  load_weights_hf(model, path);
  return model;
}

void save_model(const Model& model, const std::string& dir, const std::string& tokenizer_src) {
  make_dirs(dir);
  const ModelConfig& c = model.config();
  write_file_atomic((fs::path(dir) / "config.json").string(), c.to_hf_json().dump(2) + "\n");
  nlohmann::json gen;
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) gen["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) gen["eos_token_id"] = c.eos_token_ids;
  write_file_atomic((fs::path(dir) / "generation_config.json").string(), gen.dump(2) + "\n");
  std::vector<TensorToWrite> tensors;
  for (const ParamSpec& s : model.param_specs())
    tensors.push_back({s.name, s.shape, DType::F32, model.params() + s.offset});
  save_safetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
  if (!tokenizer_src.empty() && fs::is_directory(tokenizer_src) && !fs::equivalent(tokenizer_src, dir)) {
    for (const std::string& name : tokenizer_file_names()) {
      const fs::path src = fs::path(tokenizer_src) / name;
      if (fs::exists(src)) write_file_atomic((fs::path(dir) / name).string(), read_file(src.string()));
    }
  }
}

}  // namespace r1
