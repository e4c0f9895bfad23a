// What r1 eval and r1 sample (and r1 distill's sampling) share: the settings that name the
// problems, the prompt format and the sampling; loading the problems, encoding their prompts and fitting them
// to the context; the settings that make the samples what they are (a resumed run must match them); the
// model, the tokenizer and the engine.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "eval/eval.h"
#include "eval/eval_run.h"
#include "model/model.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

struct ProblemRunArgs {
  std::string model_path, data, data_dir, prompt_field, answer_field, templ = "auto", instruction = "auto";
  bool gsm8k_answer = false, force_think = false, greedy = false, last_number = false;
  bool resume = false, truncate_prompt = false;
  int64_t limit = -1;
  GenerationConfig gen;
  double kv_budget_mb = 1024;
};

// The recipe keys of a problem run (r1 distill's teacher, r1 pipeline's evaluation), in three
// tables: under `format` the prompt format and the model's compute dtype (template, instruction,
// force_think, dtype); under `problems` the problems (data, required; data_dir, prompt_field,
// answer_field, gsm8k_answer, limit); under `sampling` the samples (k, temperature, top_p, top_k,
// max_new_tokens, seed, kv_budget_mb, last_number).
RecipeSchema<ProblemRunArgs> problem_run_schema(const std::string& format, const std::string& problems,
                                                const std::string& sampling);

// The data file and the benchmark's name (a built-in benchmark, or the file's stem).
struct ProblemSource {
  std::string path, name;
  DatasetSpec spec;
};
ProblemSource resolve_problem_source(const ProblemRunArgs& a);

// Problems, prompts, settings, model and engine, ready to run. Built in two steps so that the
// progress file can be checked (resume) before the model is loaded.
struct ProblemRun {
  ProblemSource source;
  std::vector<EvalProblem> problems;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<PromptBuilder> prompt_builder;
  std::vector<std::vector<int32_t>> prompts;
  nlohmann::ordered_json settings;  // by option; a resumed run must have the same
  verify::ExtractOptions extract;
  std::unique_ptr<Model> model;
  std::unique_ptr<Engine> engine;
  std::string context_warning;  // for stderr, once the engine accepted the prompts
};

// Checks before any work that OUT, OUT.partial and the summary file (when given) can be written
// and that the summary is not OUT itself.
void check_run_outputs(const std::string& out, const std::string& summary_json);

// Loads the problems and the tokenizer, encodes the prompts and fills the settings.
ProblemRun load_problem_run(ProblemRunArgs& a, const ProblemSource& source);
// Loads the model, fits the prompts to its context and makes the engine (which checks them).
void start_problem_run(ProblemRunArgs& a, ProblemRun& run);

// Starts the progress file (noting a replaced earlier one, or how much a resumed one holds),
// generates and scores the problems it does not hold yet under a progress bar labelled
// "TOOL NAME", and, when interrupted, says how to continue. Messages start with "TOOL: ".
EvalRunResult run_problems(const std::string& tool, bool resume, ProblemRun& run, EvalProgressFile& progress,
                           const SampleScorer& scorer = nullptr);

// r1 eval as a library call (the command is its options, src/cli/cmd_eval.cpp; r1 pipeline
// evaluates each stage's model with it): OUT (every sample with its verdict; eval_NAME.jsonl when
// empty) and, when summary_json is set, the summary as JSON; the summary table on stdout. Resumable
// from OUT.partial with `resume`. Returns the exit code (0 done, 130 interrupted with OUT.partial
// kept).
struct EvalFileArgs : ProblemRunArgs {
  std::string out, summary_json;
};
int run_eval_file(EvalFileArgs& a);

}  // namespace r1
