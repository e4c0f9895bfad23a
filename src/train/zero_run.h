// r1 zero: the built-in R1-Zero reproduction (train/zero_task.h has the task). Three stages in one
// directory (runs/zero by default):
//   base/   `r1 pretrain` of a tiny model on builtin:zero (skipped when base/model exists)
//   data/   train.jsonl (RL prompts) and test.jsonl (held-out problems), written from the generator
//   grpo/   R1-Zero GRPO from the base: accuracy + format rewards, the R1-Zero template,
//           held-out pass@1 (k = 8, T 0.6, top-p 0.95) at the start, every few steps and at the
//           end; report.html at the end
// and a summary: held-out pass@1 and mean response length of the base and of the trained model.
#pragma once

#include <string>
#include <vector>

namespace r1 {

// The GRPO recipe of r1 zero's third stage (model.path, data.path, eval.data and output.dir
// are set by run_zero).
const char* default_zero_recipe();

struct ZeroOptions {
  std::string dir = "runs/zero";
  std::vector<std::string> sets;           // recipe overrides for the GRPO stage ("grpo.steps=10")
  std::vector<std::string> pretrain_sets;  // ... and for the base model's pretraining
  bool resume = false;                     // continue the interrupted stage (pretraining or GRPO)
  bool allow_changes = false;              // ... even with settings that differ from the saved ones
};

// Every setting of both stages is checked before stage 1 starts. A stage's output counts only
// once the stage completed (its run directory's completion marker): an interrupted pretraining
// is resumed with `resume`, never used as the base model. Returns the exit code (0 done, 130
// interrupted after saving).
int run_zero(const ZeroOptions& opt);

}  // namespace r1
