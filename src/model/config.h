// Model configuration: one struct for the Llama, Qwen2 and Qwen3 decoder families, read from a
// Hugging Face config.json or from GGUF metadata, written back as config.json.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace r1 {

class GGUFFile;

enum class Arch { Llama, Qwen2, Qwen3 };
// The architecture's name in GGUF files (general.architecture, and the prefix of its keys).
std::string gguf_arch_name(Arch arch);

// Where a configuration's fields came from, so that messages name them as the user wrote them:
// "num_hidden_layers" in a config.json, "llama.block_count" in a GGUF, "model.num_layers" in a
// recipe.
enum class ConfigKeys { Recipe, HfJson, Gguf };

// The fields a message may name (ModelConfig::key).
enum class ConfigField {
  VocabSize,
  HiddenSize,
  IntermediateSize,
  NumLayers,
  NumHeads,
  NumKvHeads,
  HeadDim,
  RmsNormEps,
  RopeTheta,
  MaxPositionEmbeddings,
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  int vocab_size = 0;
  int hidden_size = 0;        // D
  int intermediate_size = 0;  // F
  int num_layers = 0;         // L
  int num_heads = 0;          // Hq
  int num_kv_heads = 0;       // Hkv (grouped-query attention when < Hq)
  int head_dim = 0;           // hd (Qwen3: independent of D / Hq)
  float rms_norm_eps = 1e-6f;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // bias on q, k, v projections (always on for Qwen2)
  bool qk_norm = false;         // per-head RMSNorm on q and k before RoPE (Qwen3)
  int max_position_embeddings = 2048;
  int bos_token_id = -1;
  std::vector<int> eos_token_ids;
  std::string torch_dtype = "float32";
  // A reward model: Hugging Face's *ForSequenceClassification with num_labels = 1. The LM head is
  // replaced by score.weight (1, hidden), no bias; a sequence's score is read at its last token,
  // after the final norm (Model::forward_scores). Written to config.json as the
  // SequenceClassification architecture with num_labels 1 and id2label {"0": "LABEL_0"}.
  bool score_head = false;
  // from_hf_json sets HfJson and from_gguf Gguf; a configuration built field by field is a
  // recipe's [model] table (r1 pretrain / sft).
  ConfigKeys keys = ConfigKeys::Recipe;

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  int qkv_dim() const { return q_dim() + 2 * kv_dim(); }
  std::string arch_name() const;  // "LlamaForCausalLM", "Qwen2ForSequenceClassification", ...
  // The field's name where this configuration came from ("num_hidden_layers", "llama.block_count",
  // "model.num_layers").
  std::string key(ConfigField f) const;

  // `source` names the file in error messages. Throws r1::Error for anything not implemented.
  static ModelConfig from_hf_json(const nlohmann::json& j, const std::string& source);
  static ModelConfig from_gguf(const GGUFFile& gguf);
  nlohmann::json to_hf_json() const;
  // Checks every field and the model's size: positive dimensions, no tensor over 2^31 - 1
  // elements, and a parameter arena that fits in this machine's memory (model/memory.h). Errors
  // start with `source` and name fields by key().
  void validate(const std::string& source) const;
};

// Parses an architecture name ("LlamaForCausalLM", "Qwen3ForSequenceClassification", "llama",
// "qwen2", ...); fails naming `source`. *score_head (if non-null) tells whether the name is a
// SequenceClassification one.
Arch arch_from_name(const std::string& name, const std::string& source, bool* score_head = nullptr);

}  // namespace r1
