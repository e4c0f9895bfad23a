// r1 pipeline: DeepSeek-R1's four stages (R1-NOTES section 2) in one recipe and one directory.
//
//   [model] path              the base model: stage 1 fine-tunes it, and so does stage 3
//   [cold_start]              stage 1, an `r1 sft` recipe: cold-start SFT of the base model
//   [reasoning_rl]            stage 2, an `r1 grpo` recipe: reasoning RL from stage 1's model
//                             (rule rewards; `reward.language` is R1's language-consistency reward)
//   [rejection_sampling]      stage 3, an `r1 distill` recipe: stage 2's model samples, the verified
//                             traces (plus `student.extra_data`, the non-reasoning SFT rows) fine-tune
//                             the base model
//   [all_scenarios_rl]        stage 4, an `r1 grpo` recipe: RL for all scenarios from stage 3's
//                             model (rule rewards, reward models, `data.reward_field` routing)
//   [eval]                    optional: the base and each stage's model evaluated alike (r1 eval's
//                             protocol: data, k, temperature, top_p, max_new_tokens, template, ...)
//   [output] dir, overwrite   the pipeline's directory (runs/pipeline)
//
// Each stage table holds its command's recipe as that command reads it (`[cold_start.train] lr`
// is the SFT recipe's `train.lr`), less the keys the pipeline sets: every stage's model.path and
// output.dir, and stage 3's teacher.model. A stage whose table is absent is skipped: the next
// stage starts from the last model made. The directory:
//   recipe.toml, report.html (every stage's metrics and evaluations side by side)
//   1-cold-start/ 2-reasoning-rl/ 3-rejection-sampling/ 4-all-scenarios-rl/   the stages' run dirs
//   eval/NAME.jsonl, eval/NAME.json   each model's samples and summary (NAME: base or the stage's)
#pragma once

#include <string>
#include <vector>

#include "core/recipe.h"
#include "train/run_dir.h"

namespace r1 {

// The pipeline's own keys (model.path, output.*, eval.*), with their types and ranges; each
// stage's keys are its command's (r1 sft/grpo/distill --list-keys).
std::vector<KeyRule> pipeline_recipe_rules();

// One stage: its table in the recipe, its directory and its name in the report.
struct PipelineStage {
  const char* table;
  const char* dir;
  const char* title;
};
const std::vector<PipelineStage>& pipeline_stages();

// Checks the whole recipe (the pipeline's keys and every stage's recipe as its command would)
// without reading any file.
void check_pipeline_recipe(const Recipe& recipe);

// Runs the stages in order; a stage that completed is reused, an interrupted one continues with
// start.resume (which also checks that the recipe is the saved one, unless start.allow_changes).
// Without resume a directory holding a pipeline run is refused unless output.overwrite, which
// removes it first. Returns the exit code (0 done, 130 interrupted with the stage's progress kept).
int run_pipeline(const Recipe& recipe, RunStart start = {});

}  // namespace r1
