// r1 sample as a library call (the command is its options, src/cli/cmd_sample.cpp; r1 distill
// runs it with the teacher): k samples per problem (r1 eval's engine, prompts and resumable
// progress file), scored with a reward spec as r1 score takes it, filtered, capped per problem and
// written as SFT-ready JSONL with provenance; or, with pass_rate "LO:HI", the problems whose share
// of correct samples lies in [LO, HI], each as its own data row plus its pass rate. A summary on
// stdout and, with summary_json, as JSON.
#pragma once

#include <string>

#include "eval/problem_run.h"
#include "eval/sample.h"

namespace r1 {

struct SampleRunArgs : ProblemRunArgs {
  std::string out, summary_json, reward = "math", language = "en", format = "prompt-completion", pass_rate;
  SampleFilters filters;
  // A generative judge (eval/judge.h): samples that pass the other filters are kept only when it
  // says yes, given the question and the gold answer. "": none.
  std::string judge, judge_template;
  int judge_max_new_tokens = 16;
};

// Runs it; returns the exit code (0 done, 130 interrupted with OUT.partial kept for resume).
// Bad settings are r1::Errors naming the option (--format, --pick, --reward, --out, ...).
int run_sample(SampleRunArgs& a);

}  // namespace r1
