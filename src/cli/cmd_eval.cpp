// r1 eval: the R1 evaluation protocol on a benchmark (gsm8k, math500, aime24) or a JSONL file:
// k samples per problem, pass@1 over the k samples, cons@k, unbiased pass@k; every sample with
// its verdict in a JSONL file; the summary table on stdout, progress on stderr.
// The options only: the run is r1::run_eval_file (eval/problem_run.h).
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/problem_run.h"
#include "eval/problem_run.h"

namespace r1::cli {

void add_eval_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EvalFileArgs>();
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
  out.push_back({cmd, [a] { return run_eval_file(*a); }});
}

}  // namespace r1::cli
