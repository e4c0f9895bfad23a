// r1 eval: the R1 evaluation protocol on a benchmark (gsm8k, math500, aime24) or a JSONL file:
// k samples per problem, pass@1 over the k samples, cons@k, unbiased pass@k; every sample with
// its verdict in a JSONL file; the summary table on stdout, progress on stderr.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/problem_run.h"
#include "core/error.h"
#include "core/progress.h"
#include "eval/eval.h"
#include "eval/eval_run.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

namespace fs = std::filesystem;

struct EvalArgs : ProblemRunArgs {
  std::string out, summary_json;
};

int run_eval_cmd(EvalArgs& a) {
  const ProblemSource source = resolve_problem_source(a);
  // Every output is checked before any work, so a bad path does not throw an evaluation away.
  const std::string out = a.out.empty() ? "eval_" + source.name + ".jsonl" : a.out;
  check_output_path("--out", out);
  check_output_path("--out", out + ".partial");
  if (!a.summary_json.empty()) {
    check_output_path("--summary-json", a.summary_json);
    if (fs::absolute(a.summary_json).lexically_normal() == fs::absolute(out).lexically_normal())
      fail("--summary-json: {} is also the --out file", a.summary_json);
  }
  ProblemRun run = load_problem_run(a, source);
  const int k = a.gen.n;
  const std::string& name = source.name;
  EvalProgressFile progress(out + ".partial", run.settings, a.resume, run.problems, run.prompts, k);

  start_problem_run(a, run);
  Engine& engine = *run.engine;
  if (!run.context_warning.empty()) std::fprintf(stderr, "eval: %s\n", run.context_warning.c_str());
  if (progress.start())
    std::fprintf(stderr, "eval: replaced %s from an earlier run (pass --resume to continue one)\n",
                 progress.path().c_str());
  if (a.resume)
    std::fprintf(stderr, "eval: resuming: %lld of %zu problems done in %s\n",
                 static_cast<long long>(progress.done()), run.problems.size(), progress.path().c_str());
  Progress bar("eval " + name, static_cast<int64_t>(run.problems.size()) * k, progress.done() * k);
  int64_t done = progress.done() * k, correct = 0;
  for (size_t i = 0; i < run.problems.size(); i++)
    if (progress.is_done(i)) correct += progress.result(i).correct;
  const EvalRunResult result = run_eval(
      engine, run.problems, run.prompts, run.extract, progress,
      [&](const EvalProblem&, int64_t, const SampleResult& r) {
        done++;
        correct += r.verdict == verify::Verdict::kCorrect;
        bar.update(done, {{"correct", fmt::format("{:.1f}%", 100.0 * double(correct) / double(done))},
                          {"tok/s", format_count(engine.stats().decode_tokens /
                                                 std::max(1e-9, engine.stats().forward_seconds))}});
      });
  bar.finish();
  if (result.interrupted) {
    std::fprintf(stderr,
                 "eval: interrupted after %lld of %zu problems; results so far in %s; continue with the same "
                 "command and --resume\n",
                 static_cast<long long>(result.done), run.problems.size(), progress.path().c_str());
    return 130;
  }
  EvalSummary s = summarise(result.results, k);
  s.seconds = engine.stats().seconds;
  write_eval_outputs(progress, out, a.summary_json,
                     eval_summary_json(s, name, source.path, a.model_path, a.gen));
  std::printf("%s", format_summary(s, name).c_str());
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
