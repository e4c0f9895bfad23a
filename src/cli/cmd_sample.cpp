// r1 sample: rejection sampling and data generation. k samples per problem (r1 eval's engine,
// prompts and resumable progress file), scored with a reward spec as r1 score takes it, filtered,
// capped per problem and written as SFT-ready JSONL with provenance; or, with --pass-rate LO:HI,
// the problems whose share of correct samples lies in [LO, HI], each as its own data row plus its
// pass rate. A summary on stdout and, with --summary-json, as JSON.
// The options only: the run is r1::run_sample (eval/sample_run.h).
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/options.h"
#include "cli/problem_run.h"
#include "eval/sample_run.h"

namespace r1::cli {

void add_sample_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<SampleRunArgs>();
  a->gen.n = 8;
  CLI::App* cmd = app.add_subcommand(
      "sample", "rejection sampling: k samples per problem, scored, filtered, written as SFT-ready JSONL");
  add_problem_run_options(cmd, *a);
  cmd->add_option("--reward", a->reward, "reward spec, as r1 score takes it (math)");
  cmd->add_option("--language", a->language,
                  "target language of --min-language and the language reward (en)");
  cmd->add_option("--out", a->out, "the kept rows, JSONL (refused if it exists, unless --resume)")
      ->required();
  cmd->add_option("--summary-json", a->summary_json, "also write the summary as JSON");
  cmd->add_option("--format", a->format, "rows as prompt-completion (default) or messages");
  cmd->add_flag("--resume", a->resume, "continue an interrupted run from OUT.partial (the same options)");
  cmd->add_option(
      "--pass-rate", a->pass_rate,
      "LO:HI: keep the problems whose share of correct samples is in [LO, HI], as their data rows");
  SampleFilters& f = a->filters;
  cmd->add_flag("--correct", f.correct, "keep only samples the accuracy reward scores correct");
  cmd->add_flag("--finished", f.finished, "drop samples cut at --max-new-tokens");
  cmd->add_flag("--strict-format", f.strict_format, "keep only the strict R1-Zero format");
  cmd->add_option("--min-language", f.min_language, "language consistency at least this (0-1)")
      ->check(in_range(0, 1));
  cmd->add_flag("--no-code-in-think", f.no_code_in_think, "drop samples with a ``` fence in the reasoning");
  cmd->add_option("--max-paragraph", f.max_paragraph, "drop samples with a paragraph longer (bytes)")
      ->check(at_least(1));
  cmd->add_option("--max-repetition", f.max_repetition,
                  "drop samples whose repeated word-4-gram share is higher")
      ->check(in_range(0, 1));
  cmd->add_option("--max-tokens", f.max_tokens, "drop samples longer (tokens)")->check(at_least(1));
  cmd->add_flag("--dedup", f.dedup, "drop a sample equal to a kept one of the same problem");
  cmd->add_option("--keep", f.keep, "at most this many per problem (0: all)")->check(at_least(0));
  cmd->add_option("--pick", f.pick, "which to keep under --keep: first, shortest, random (seeded by --seed)");
  cmd->add_option("--judge", a->judge,
                  "a judge model: keep only samples it says yes to, given the question and the gold answer");
  cmd->add_option("--judge-template", a->judge_template,
                  "the judge's template file ({question}, {reference}, {response}; default: the built-in)");
  cmd->add_option("--judge-max-new-tokens", a->judge_max_new_tokens, "the judge's verdict length (16)")
      ->check(in_range(1, 4096));
  out.push_back({cmd, [a] { return run_sample(*a); }});
}

}  // namespace r1::cli
