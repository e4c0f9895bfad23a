// r1 distill: distillation as DeepSeek-R1 distilled its small models. A teacher samples k answers
// per problem, the verified ones are kept (r1 sample), and a student is fine-tuned on them (r1 sft).
// One recipe, one run directory (output.dir):
//   traces.jsonl     the kept samples, as r1 sample writes them with provenance (traces.jsonl.partial
//                    while sampling: resumable)
//   sft_data.jsonl   the same traces in the student's format: each completion read as reasoning
//                    (inside <think> ... </think>) and answer, then written for the student's
//                    template: {"messages": [user, assistant with reasoning_content]} for a chat
//                    template (which renders them its own way, see train/chat_data.h), or
//                    {"prompt", "completion"} text in the R1-Zero format for r1zero (and plain
//                    text for none); the question gets the student's instruction
//   sft/             the student's SFT run (an r1 sft run directory: resumable, model/ at the end)
// The recipe holds [teacher], [problems], [sample], [student] and, under their usual names, the
// SFT recipe's keys ([model] the student, [data] seq_len / packing / eval_rows, [train], [output]).
// student.extra_data names SFT rows (messages, or prompt and completion) trained beside the
// traces as they are: R1's stage 3 mixes non-reasoning data in this way.
#pragma once

#include <string>
#include <vector>

#include "core/recipe.h"
#include "train/run_dir.h"

namespace r1 {

// Every key a distill recipe may hold, with its type and range.
std::vector<KeyRule> distill_recipe_rules();

// A teacher's completion split into its reasoning (between <think> and </think>, trimmed) and
// its answer (after </think>, trimmed); without </think> all of it is the answer.
struct ReasonedAnswer {
  std::string reasoning, answer;
  bool has_reasoning = false;
};
ReasonedAnswer split_reasoning(const std::string& completion);

// The checks run_distill makes before it reads any file: every key, and the SFT stage's recipe.
void check_distill_recipe(const Recipe& recipe);

// Runs the recipe: the whole recipe and the SFT stage's recipe are checked before anything
// runs; each stage that completed is reused. start.resume continues an interrupted stage;
// without it a directory holding a distill run is replaced only with output.overwrite. Returns
// the exit code (0 done, 130 interrupted with the stage's progress kept).
int run_distill(const Recipe& recipe, RunStart start = {});

}  // namespace r1
