// r1 eval: the R1 evaluation protocol on a benchmark (gsm8k, math500, aime24) or a JSONL file:
// k samples per problem, pass@1 over the k samples, cons@k, unbiased pass@k; every sample with
// its verdict in a JSONL file; the summary table on stdout, progress on stderr.
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/problem_run.h"
#include "core/error.h"
#include "eval/eval.h"
#include "eval/eval_run.h"

namespace r1::cli {

namespace {

struct EvalArgs : ProblemRunArgs {
  std::string out, summary_json;
};

int run_eval_cmd(EvalArgs& a) {
  const ProblemSource source = resolve_problem_source(a);
  // Every output is checked before any work, so a bad path does not throw an evaluation away.
  const std::string out = a.out.empty() ? "eval_" + source.name + ".jsonl" : a.out;
  check_run_outputs(out, a.summary_json);
  ProblemRun run = load_problem_run(a, source);
  const int k = a.gen.n;
  EvalProgressFile progress(out + ".partial", run.settings, a.resume, run.problems, run.prompts, k);
  start_problem_run(a, run);
  const EvalRunResult result = run_problems("eval", a.resume, run, progress);
  if (result.interrupted) return 130;
  EvalSummary s = summarise(result.results, k);
  s.seconds = run.engine->stats().seconds;
  write_eval_outputs(progress, out, a.summary_json,
                     eval_summary_json(s, source.name, source.path, a.model_path, a.gen));
  std::printf("%s", format_summary(s, source.name).c_str());
  std::fprintf(stderr, "eval: samples in %s\n", out.c_str());
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EvalArgs>();
  a->gen.n = 4;
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "R1 evaluation: k samples per problem, pass@1, cons@k, pass@k; every sample's verdict in a JSONL");
  add_problem_run_options(cmd, *a);
  cmd->add_option("--out", a->out, "every sample with its verdict, JSONL (eval_NAME.jsonl)");
  cmd->add_option("--summary-json", a->summary_json, "also write the summary as JSON");
  cmd->add_flag("--resume", a->resume,
                "continue an interrupted evaluation from OUT.partial (the same options; the result is "
                "the same as an uninterrupted run's)");
  out.push_back({cmd, [a] { return run_eval_cmd(*a); }});
}

}  // namespace r1::cli
