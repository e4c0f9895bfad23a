// Language-model training (`r1 pretrain`, `r1 sft`): a recipe in, a run directory out
// (recipe.toml, metrics.jsonl, state.safetensors for resuming, model/ as a Hugging Face dir).
#pragma once

#include <string>

#include "core/recipe.h"
#include "train/run_dir.h"

namespace r1 {

// The recipe `r1 pretrain` runs with no arguments: a small Llama pretrained from scratch on the
// built-in arithmetic corpus with the byte tokenizer.
const char* default_pretrain_recipe();

// Every key an LM-training recipe may hold, with its type and range (anything else is refused).
std::vector<KeyRule> lm_recipe_rules();

// The checks run_lm_training makes of the recipe before it loads anything (keys, types, ranges,
// and the settings that go together: train.steps or train.epochs, the held-out set).
void check_lm_recipe(const Recipe& r);

// Runs (or, with start.resume, continues) training. mode is "pretrain" or "sft". Returns the
// process exit code (0 done, 130 interrupted after saving). The recipe is checked whole, and the
// model and data loaded, before the run directory is touched.
int run_lm_training(const std::string& mode, Recipe recipe, RunStart start = {});

}  // namespace r1
