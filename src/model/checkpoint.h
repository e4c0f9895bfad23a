// Model weights in and out: Hugging Face directories (config.json + safetensors, single or
// sharded; F32/F16/BF16) and GGUF files (F32/F16/BF16), saved as Hugging Face directories.
#pragma once

#include <cstdint>
#include <string>

#include "model/model.h"

namespace r1 {

// PATH is a model directory (config.json + model.safetensors or model.safetensors.index.json) or
// a .gguf file. Every tensor of the configuration must be present with the right shape.
Model load_model(const std::string& path);

// Fills model's parameters from a Hugging Face directory or single safetensors file.
void load_weights_hf(Model& model, const std::string& path);

// Writes config.json, generation_config.json and model.safetensors (F32, or BF16 rounded to
// nearest even) into dir (created if needed), each file atomically. Tokenizer files found in
// tokenizer_src (a directory; may be empty) are copied along.
void save_model(const Model& model, const std::string& dir, const std::string& tokenizer_src = "",
                DType dtype = DType::F32);

// A reward model made from a causal LM: the same transformer (embedding, layers, final norm copied)
// with a fresh score head, score.weight ~ N(0, std^2) drawn from `seed` (0.02 is transformers'
// initializer_range, what AutoModelForSequenceClassification gives a head the checkpoint lacks);
// lm_head is dropped. A model that already has a score head is returned unchanged.
Model with_score_head(Model lm, uint64_t seed, float std = 0.02f);

// The tokenizer files a Hugging Face directory may carry (copied by save_model).
const std::vector<std::string>& tokenizer_file_names();

}  // namespace r1
