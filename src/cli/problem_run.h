// The command-line options of r1 eval and r1 sample that name the problems, the prompt format and
// the sampling (eval/problem_run.h runs them).
#pragma once

#include <CLI/CLI.hpp>

#include "eval/problem_run.h"

namespace r1::cli {

using r1::ProblemRunArgs;

// --model, --data, --data-dir, --prompt-field, --answer-field, --gsm8k-answer, --limit, --k,
// --template, --instruction, --force-think, --last-number, the sampling options and
// --truncate-prompt, with R1's protocol as the defaults (T 0.6, top-p 0.95, 1024 new tokens).
// --k's default is what the caller set in a.gen.n.
void add_problem_run_options(CLI::App* cmd, ProblemRunArgs& a);

}  // namespace r1::cli
