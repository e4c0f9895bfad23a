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
#include "cli/gen_common.h"
#include "cli/options.h"
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

struct EvalArgs {
  std::string model_path, data, data_dir, prompt_field, answer_field, templ = "auto", instruction = "auto";
  std::string out, summary_json;
  bool gsm8k_answer = false, force_think = false, greedy = false, last_number = false;
  bool resume = false, truncate_prompt = false;
  int64_t limit = -1;
  GenerationConfig gen;
  double kv_budget_mb = 1024;
};

// Where the named benchmarks live: --data-dir, $R1_DATA_DIR, ./shared/data, ../shared/data, or
// ../shared/data next to the checkout that holds this binary (build/r1 -> ../../shared/data).
std::string find_data_dir(const EvalArgs& a, const DatasetSpec& spec) {
  if (!a.data_dir.empty()) return a.data_dir;
  if (const char* env = std::getenv("R1_DATA_DIR")) return env;
  std::vector<fs::path> candidates = {"shared/data", "../shared/data"};
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (fs::path d = exe.parent_path(); !d.empty() && d != d.root_path(); d = d.parent_path())
      candidates.push_back(d / ".." / "shared" / "data");
  }
  for (const fs::path& c : candidates)
    if (fs::exists(c / spec.file, ec)) return c.string();
  fail(
      "benchmark '{}' needs its data file {}: give --data-dir DIR (or set R1_DATA_DIR), or --data FILE.jsonl",
      a.data, spec.file);
}

int run_eval_cmd(EvalArgs& a) {
  std::optional<DatasetSpec> spec = builtin_dataset(a.data);
  std::string path, name;
  if (spec) {
    path = fs::absolute(fs::path(find_data_dir(a, *spec)) / spec->file).lexically_normal().string();
    name = a.data;
  } else {
    if (!fs::exists(a.data))
      fail("--data: '{}' is neither a benchmark (gsm8k, math500, aime24) nor an existing file", a.data);
    spec = DatasetSpec{"", "prompt", "answer", false};
    path = a.data;
    name = fs::path(a.data).stem().string();
  }
  // Every output is checked before any work, so a bad path does not throw an evaluation away.
  const std::string out = a.out.empty() ? "eval_" + name + ".jsonl" : a.out;
  check_output_path("--out", out);
  check_output_path("--out", out + ".partial");
  if (!a.summary_json.empty()) {
    check_output_path("--summary-json", a.summary_json);
    if (fs::absolute(a.summary_json).lexically_normal() == fs::absolute(out).lexically_normal())
      fail("--summary-json: {} is also the --out file", a.summary_json);
  }
  if (!a.prompt_field.empty()) spec->prompt_field = a.prompt_field;
  if (!a.answer_field.empty()) spec->answer_field = a.answer_field;
  if (a.gsm8k_answer) spec->gsm8k_answer = true;
  const std::vector<EvalProblem> problems = load_eval_problems(path, *spec, a.limit);

  std::unique_ptr<Tokenizer> tok = load_tokenizer(a.model_path);
  const PromptBuilder pb(PromptFormat{a.templ, a.instruction, a.force_think}, a.model_path);
  const std::string templ = pb.templ(), instruction = pb.instruction();
  std::vector<std::vector<int32_t>> prompts;
  for (const EvalProblem& p : problems) prompts.push_back(pb.encode(p.prompt, *tok));

  GenerationConfig& g = a.gen;
  g.sampling.greedy = a.greedy;
  g.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  for (const std::string& stop : pb.stop_strings()) g.stop_strings.push_back(stop);
  verify::ExtractOptions extract;
  extract.last_number = a.last_number;
  const int k = g.n;

  // What makes the samples what they are, by option: --resume continues only the same run.
  nlohmann::ordered_json settings;
  settings["--model"] = fs::absolute(a.model_path).lexically_normal().string();
  settings["--data"] = fs::absolute(path).lexically_normal().string();
  settings["--limit"] = a.limit;
  settings["--k"] = k;
  settings["--seed"] = g.seed;
  settings["--temperature"] = fmt::format("{}", g.sampling.temperature);
  settings["--top-p"] = fmt::format("{}", g.sampling.top_p);
  settings["--top-k"] = g.sampling.top_k;
  settings["--min-p"] = fmt::format("{}", g.sampling.min_p);
  settings["--greedy"] = a.greedy;
  settings["--max-new-tokens"] = g.max_new_tokens;
  settings["--template"] = templ;
  settings["--instruction"] = instruction;
  settings["--force-think"] = a.force_think;
  settings["--last-number"] = a.last_number;
  settings["--dtype"] = g.compute == DType::BF16 ? "bf16" : "f32";
  settings["--truncate-prompt"] = a.truncate_prompt;
  EvalProgressFile progress(out + ".partial", settings, a.resume, problems, prompts, k);

  Model model = load_model(a.model_path);
  g.stop_ids = stop_ids_of(model, tok.get());
  g.context = model.config().max_position_embeddings;
  ContextFitOptions fo;
  fo.context = g.context;
  fo.max_new_tokens = g.max_new_tokens;
  fo.policy = a.truncate_prompt ? ContextPolicy::kTruncate : ContextPolicy::kCap;
  fo.bos_id = tok->bos_id();
  const ContextFit fit = fit_prompts_to_context(prompts, fo, [&](size_t i) {
    return fmt::format("{}:{}: problem {}", path, problems[i].line, problems[i].id);
  });

  Engine engine(model, tok.get(), g);
  engine.check(prompts);  // errors before the warning: a refused run prints one line
  if (const std::string w = fit.warning(fo); !w.empty()) std::fprintf(stderr, "eval: %s\n", w.c_str());
  if (progress.start())
    std::fprintf(stderr, "eval: replaced %s from an earlier run (pass --resume to continue one)\n",
                 progress.path().c_str());
  if (a.resume)
    std::fprintf(stderr, "eval: resuming: %lld of %zu problems done in %s\n",
                 static_cast<long long>(progress.done()), problems.size(), progress.path().c_str());
  Progress bar("eval " + name, static_cast<int64_t>(problems.size()) * k, progress.done() * k);
  int64_t done = progress.done() * k, correct = 0;
  for (size_t i = 0; i < problems.size(); i++)
    if (progress.is_done(i)) correct += progress.result(i).correct;
  const EvalRunResult run = run_eval(
      engine, problems, prompts, extract, progress, [&](const EvalProblem&, int64_t, const SampleResult& r) {
        done++;
        correct += r.verdict == verify::Verdict::kCorrect;
        bar.update(done, {{"correct", fmt::format("{:.1f}%", 100.0 * double(correct) / double(done))},
                          {"tok/s", format_count(engine.stats().decode_tokens /
                                                 std::max(1e-9, engine.stats().forward_seconds))}});
      });
  bar.finish();
  if (run.interrupted) {
    std::fprintf(stderr,
                 "eval: interrupted after %lld of %zu problems; results so far in %s; continue with the same "
                 "command and --resume\n",
                 static_cast<long long>(run.done), problems.size(), progress.path().c_str());
    return 130;
  }
  EvalSummary s = summarise(run.results, k);
  s.seconds = engine.stats().seconds;
  write_eval_outputs(progress, out, a.summary_json, eval_summary_json(s, name, path, a.model_path, g));
  std::printf("%s", format_summary(s, name).c_str());
  std::fprintf(stderr, "eval: samples in %s\n", out.c_str());
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<EvalArgs>();
  a->gen.n = 4;
  a->gen.sampling.temperature = 0.6f;
  a->gen.sampling.top_p = 0.95f;
  a->gen.max_new_tokens = 1024;
  CLI::App* cmd = app.add_subcommand(
      "eval",
      "R1 evaluation: k samples per problem, pass@1, cons@k, pass@k; every sample's verdict in a JSONL");
  cmd->add_option("--model", a->model_path, "Hugging Face model directory or .gguf file")->required();
  cmd->add_option("--data", a->data, "gsm8k, math500, aime24, or a JSONL file")->required();
  cmd->add_option("--data-dir", a->data_dir,
                  "where the benchmarks live (default: $R1_DATA_DIR, else ../shared/data)");
  cmd->add_option("--prompt-field", a->prompt_field,
                  "the question's field (gsm8k: question, else problem/prompt)");
  cmd->add_option("--answer-field", a->answer_field, "the gold answer's field (answer)");
  cmd->add_flag("--gsm8k-answer", a->gsm8k_answer, "the answer field ends in \"#### N\" (as GSM8K's)");
  cmd->add_option("--limit", a->limit, "the first N problems only")->check(in_range(1, 1099511627776.0));
  cmd->add_option("--k", a->gen.n, "samples per problem (4)")->check(in_range(1, 1024));
  cmd->add_option("--template", a->templ,
                  "prompt format: auto (the model's chat template if it has one, else none), chat, r1zero, "
                  "distill, none");
  cmd->add_option(
      "--instruction", a->instruction,
      "appended to each question on a new line (auto: the R1 \\boxed{} instruction, none with r1zero)");
  cmd->add_flag("--force-think", a->force_think, "the response starts with \"<think>\\n\" (R1's protocol)");
  cmd->add_flag("--last-number", a->last_number, "with no marked answer, take the response's last number");
  add_sampling_options(cmd, a->gen, a->greedy, a->kv_budget_mb);
  cmd->get_option("--temperature")->description("sampling temperature (0.6)");
  cmd->get_option("--top-p")->description("nucleus sampling mass (0.95)");
  cmd->get_option("--max-new-tokens")->description("tokens per response at most (1024)");
  cmd->add_option("--out", a->out, "every sample with its verdict, JSONL (eval_NAME.jsonl)");
  cmd->add_option("--summary-json", a->summary_json, "also write the summary as JSON");
  cmd->add_flag("--resume", a->resume,
                "continue an interrupted evaluation from OUT.partial (the same options; the result is "
                "the same as an uninterrupted run's)");
  cmd->add_flag("--truncate-prompt", a->truncate_prompt,
                "cut prompts that leave fewer than --max-new-tokens positions in the model's context to "
                "their last tokens (default: refuse prompts that fill the context, cap the others' samples)");
  out.push_back({cmd, [a] { return run_eval_cmd(*a); }});
}

}  // namespace r1::cli
