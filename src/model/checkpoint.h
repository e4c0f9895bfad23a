// Model weights in and out: Hugging Face directories (config.json + safetensors, single or
// sharded; F32/F16/BF16) and GGUF files (F32/F16/BF16), saved as Hugging Face directories.
#pragma once

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

// The tokenizer files a Hugging Face directory may carry (copied by save_model).
const std::vector<std::string>& tokenizer_file_names();

}  // namespace r1
