// Language-model training (`r1 pretrain`, `r1 sft`): a recipe in, a run directory out
// (recipe.toml, metrics.jsonl, state.safetensors for resuming, model/ as a Hugging Face dir).
#pragma once

#include <string>

#include "core/recipe.h"

namespace r1 {

// The recipe `r1 pretrain` runs with no arguments: a small Llama pretrained from scratch on the
// built-in arithmetic corpus with the byte tokenizer.
const char* default_pretrain_recipe();

// Every key an LM-training recipe may hold (typos are refused).
const std::vector<std::string>& lm_recipe_keys();

// Runs (or, with resume, continues) training. mode is "pretrain" or "sft". Returns the process
// exit code (0 done, 130 interrupted after saving).
int run_lm_training(const std::string& mode, Recipe recipe, bool resume);

}  // namespace r1
