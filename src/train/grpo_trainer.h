// The GRPO trainer (`r1 grpo RECIPE`, and `r1 zero`): a recipe in, a run directory out.
//
// Per step: B prompts from the dataset (a counter-based shuffle per epoch), G samples each from
// the rollout engine with their log-probs (pi_old); rewards by the recipe's reward spec;
// group-relative advantages; optionally dynamic sampling (groups whose rewards are all equal are
// dropped and more prompts drawn); reference log-probs from the frozen starting model when
// beta > 0; then mu passes over the batch, each split into mini-batches, one AdamW step per
// mini-batch, with the GRPO loss (train/grpo.h) accumulated over micro-batches that fit a token
// budget. Every step writes a metrics row; every N steps held-out evaluation and sample
// completions; checkpoints every N steps and on SIGINT/SIGTERM. A resumed run (also after
// SIGKILL) continues bit-identically: sampling keys are (seed, global prompt index, sample,
// position), the data order is a pure function of (seed, epoch), and the state file holds the
// parameters, AdamW moments, step and prompts drawn.
//
// Run directory: recipe.toml, metrics.jsonl (one row per step, plus "eval/..." rows),
// samples.jsonl, state.safetensors (for --resume), model/ (a Hugging Face directory, at the end).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/recipe.h"
#include "train/run_dir.h"

namespace r1 {

// Every key a GRPO recipe may hold, with its type and range (anything else is refused).
std::vector<KeyRule> grpo_recipe_rules();
// Checks a whole GRPO recipe (keys, types, ranges, and the settings that constrain each other)
// without reading any file; run_grpo_training calls it first, r1 zero before its first stage.
void check_grpo_recipe(const Recipe& recipe);

// Runs (or, with resume, continues) a GRPO run. Returns the process exit code: 0 done, 130
// interrupted after saving. A loss or gradient that is not finite skips that update with a
// warning; train.max_bad_steps such steps in a row stop the run with an error, leaving the last
// checkpoint as it was.
// hooks (tests only) may replace the loss of each mini-batch update, to exercise the
// non-finite path without having to diverge a model.
struct GrpoHooks {
  std::function<double(int64_t step, double loss)> loss;  // step is 1-based
};
int run_grpo_training(Recipe recipe, RunStart start = {}, const GrpoHooks* hooks = nullptr);

}  // namespace r1
