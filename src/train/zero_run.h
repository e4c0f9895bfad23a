// r1 zero: the built-in R1-Zero reproduction (train/zero_task.h has the task). In one directory
// (runs/zero by default):
//   base/   with --from-scratch only: `r1 pretrain` of the tiny base model on builtin:zero (skipped
//           when base/model exists); otherwise the base shipped in models/zero-base is used
//   data/   train.jsonl (RL prompts) and test.jsonl (held-out problems), written from the generator
//   grpo/   R1-Zero GRPO from the base: accuracy + format rewards, the R1-Zero template,
//           held-out pass@1 and pass@8 (k = 8, T 0.6, top-p 0.95), response length, reflection and
//           check-step rates at the start, every few steps and at the end; report.html at the end
// and a summary: those figures for the base and for the trained model.
#pragma once

#include <string>
#include <vector>

namespace r1 {

// The GRPO recipe of r1 zero (model.path, data.path, eval.data and output.dir are set by
// run_zero).
const char* default_zero_recipe();

// The base model shipped with the sources (models/zero-base), rebuilt by
// `r1 pretrain models/zero-base/recipe.toml`.
std::string shipped_zero_base();

// The controls of the demo, one flag each (--control NAME): the settings each one changes.
//   format-only: the format reward alone (accuracy must not rise: the accuracy reward causes the gain)
//   seq-mean:    GRPO's original normalisers (each response's loss averaged over its own tokens,
//                advantages divided by the group's std) instead of r1 zero's Dr. GRPO ones
std::vector<std::string> zero_control_settings(const std::string& control);

struct ZeroOptions {
  std::string dir = "runs/zero";
  std::vector<std::string> sets;           // recipe overrides for the GRPO stage ("grpo.steps=10")
  std::vector<std::string> pretrain_sets;  // ... and for the base model's pretraining (--from-scratch)
  bool from_scratch = false;               // pretrain the base into DIR/base instead of the shipped one
  std::string base;                        // the base model to start from ("": the shipped one)
  std::string control;                     // "", "format-only" or "seq-mean"
  int64_t seed = -1;                       // train.seed of the GRPO stage (-1: the recipe's)
  bool resume = false;                     // continue the interrupted stage (pretraining or GRPO)
  bool allow_changes = false;              // ... even with settings that differ from the saved ones
};

// Every setting of both stages is checked before stage 1 starts. A stage's output counts only
// once the stage completed (its run directory's completion marker): an interrupted pretraining
// is resumed with `resume`, never used as the base model. Returns the exit code (0 done, 130
// interrupted after saving).
int run_zero(const ZeroOptions& opt);

}  // namespace r1
