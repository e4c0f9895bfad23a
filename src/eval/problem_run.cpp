#include "eval/problem_run.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "core/progress.h"
#include "model/checkpoint.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

// Where the named benchmarks live: --data-dir, $R1_DATA_DIR, ./shared/data, ../shared/data, or
// ../shared/data next to the checkout that holds this binary (build/r1 -> ../../shared/data).
std::string find_data_dir(const ProblemRunArgs& a, const DatasetSpec& spec) {
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

}  // namespace

RecipeSchema<ProblemRunArgs> problem_run_schema(const std::string& format, const std::string& problems,
                                                const std::string& sampling) {
  using A = ProblemRunArgs;
  constexpr int64_t kInt = 2147483647;
  RecipeSchema<A> s;
  s.add(KeyRule::string(format + ".template"), &A::templ);
  s.add(KeyRule::string(format + ".instruction"), &A::instruction);
  s.add(KeyRule::boolean(format + ".force_think"), &A::force_think);
  s.add_choice<DType>(format + ".dtype", {{"f32", DType::F32}, {"bf16", DType::BF16}},
                      [](A& x) -> DType& { return x.gen.compute; });
  s.add(KeyRule::string(problems + ".data"), &A::data, true);
  s.add(KeyRule::string(problems + ".data_dir"), &A::data_dir);
  s.add(KeyRule::string(problems + ".prompt_field"), &A::prompt_field);
  s.add(KeyRule::string(problems + ".answer_field"), &A::answer_field);
  s.add(KeyRule::boolean(problems + ".gsm8k_answer"), &A::gsm8k_answer);
  s.add(KeyRule::int_at_least(problems + ".limit", 1), &A::limit);
  s.add(KeyRule::integer(sampling + ".k", 1, 1024), [](A& x) -> int& { return x.gen.n; });
  s.add(KeyRule::real(sampling + ".temperature", 0, 100),
        [](A& x) -> float& { return x.gen.sampling.temperature; });
  s.add(KeyRule::real(sampling + ".top_p", 0, 1, true), [](A& x) -> float& { return x.gen.sampling.top_p; });
  s.add(KeyRule::integer(sampling + ".top_k", 0, kInt), [](A& x) -> int& { return x.gen.sampling.top_k; });
  s.add(KeyRule::integer(sampling + ".max_new_tokens", 1, kInt),
        [](A& x) -> int& { return x.gen.max_new_tokens; });
  s.add(KeyRule::int_at_least(sampling + ".seed", 0), [](A& x) -> uint64_t& { return x.gen.seed; });
  s.add(KeyRule::positive(sampling + ".kv_budget_mb"), &A::kv_budget_mb);
  s.add(KeyRule::boolean(sampling + ".last_number"), &A::last_number);
  return s;
}

ProblemSource resolve_problem_source(const ProblemRunArgs& a) {
  ProblemSource s;
  std::optional<DatasetSpec> spec = builtin_dataset(a.data);
  if (spec) {
    s.path = fs::absolute(fs::path(find_data_dir(a, *spec)) / spec->file).lexically_normal().string();
    s.name = a.data;
  } else {
    if (!fs::exists(a.data))
      fail("--data: '{}' is neither a benchmark (gsm8k, math500, aime24) nor an existing file", a.data);
    spec = DatasetSpec{"", "prompt", "answer", false};
    s.path = a.data;
    s.name = fs::path(a.data).stem().string();
  }
  if (!a.prompt_field.empty()) spec->prompt_field = a.prompt_field;
  if (!a.answer_field.empty()) spec->answer_field = a.answer_field;
  if (a.gsm8k_answer) spec->gsm8k_answer = true;
  spec->messages = true;  // a prompt field may hold a conversation
  s.spec = *spec;
  return s;
}

void check_run_outputs(const std::string& out, const std::string& summary_json) {
  check_output_path("--out", out);
  check_output_path("--out", out + ".partial");
  if (summary_json.empty()) return;
  check_output_path("--summary-json", summary_json);
  if (fs::absolute(summary_json).lexically_normal() == fs::absolute(out).lexically_normal())
    fail("--summary-json: {} is also the --out file", summary_json);
}

ProblemRun load_problem_run(ProblemRunArgs& a, const ProblemSource& source) {
  ProblemRun run;
  run.source = source;
  run.problems = load_eval_problems(source.path, source.spec, a.limit);
  run.tok = load_tokenizer(a.model_path);
  run.prompt_builder =
      std::make_unique<PromptBuilder>(PromptFormat{a.templ, a.instruction, a.force_think}, a.model_path);
  for (const EvalProblem& p : run.problems)
    run.prompts.push_back(p.messages.is_null() ? run.prompt_builder->encode(p.prompt, *run.tok)
                                               : run.prompt_builder->encode_messages(p.messages, *run.tok));

  GenerationConfig& g = a.gen;
  g.sampling.greedy = a.greedy;
  g.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  for (const std::string& stop : run.prompt_builder->stop_strings()) g.stop_strings.push_back(stop);
  run.extract.last_number = a.last_number;

  nlohmann::ordered_json& st = run.settings;
  st["--model"] = fs::absolute(a.model_path).lexically_normal().string();
  st["--data"] = fs::absolute(source.path).lexically_normal().string();
  st["--limit"] = a.limit;
  st["--k"] = g.n;
  st["--seed"] = g.seed;
  st["--temperature"] = fmt::format("{}", g.sampling.temperature);
  st["--top-p"] = fmt::format("{}", g.sampling.top_p);
  st["--top-k"] = g.sampling.top_k;
  st["--min-p"] = fmt::format("{}", g.sampling.min_p);
  st["--greedy"] = a.greedy;
  st["--max-new-tokens"] = g.max_new_tokens;
  st["--template"] = run.prompt_builder->templ();
  st["--instruction"] = run.prompt_builder->instruction();
  st["--force-think"] = a.force_think;
  st["--last-number"] = a.last_number;
  st["--dtype"] = g.compute == DType::BF16 ? "bf16" : "f32";
  st["--truncate-prompt"] = a.truncate_prompt;
  return run;
}

void start_problem_run(ProblemRunArgs& a, ProblemRun& run) {
  GenerationConfig& g = a.gen;
  run.model = std::make_unique<Model>(load_model(a.model_path));
  g.stop_ids = stop_ids_of(*run.model, run.tok.get());
  g.context = run.model->config().max_position_embeddings;
  ContextFitOptions fo;
  fo.context = g.context;
  fo.max_new_tokens = g.max_new_tokens;
  fo.policy = a.truncate_prompt ? ContextPolicy::kTruncate : ContextPolicy::kCap;
  fo.bos_id = run.tok->bos_id();
  const ContextFit fit = fit_prompts_to_context(run.prompts, fo, [&](size_t i) {
    return fmt::format("{}:{}: problem {}", run.source.path, run.problems[i].line, run.problems[i].id);
  });
  run.engine = std::make_unique<Engine>(*run.model, run.tok.get(), g);
  run.engine->check(run.prompts);  // errors before the warning: a refused run prints one line
  run.context_warning = fit.warning(fo);
}

EvalRunResult run_problems(const std::string& tool, bool resume, ProblemRun& run, EvalProgressFile& progress,
                           const SampleScorer& scorer) {
  Engine& engine = *run.engine;
  const int64_t k = engine.config().n, n = static_cast<int64_t>(run.problems.size());
  if (!run.context_warning.empty())
    std::fprintf(stderr, "%s: %s\n", tool.c_str(), run.context_warning.c_str());
  if (progress.start())
    std::fprintf(stderr, "%s: replaced %s from an earlier run (pass --resume to continue one)\n",
                 tool.c_str(), progress.path().c_str());
  if (resume)
    std::fprintf(stderr, "%s: resuming: %lld of %lld problems done in %s\n", tool.c_str(),
                 static_cast<long long>(progress.done()), static_cast<long long>(n), progress.path().c_str());
  Progress bar(tool + " " + run.source.name, n * k, progress.done() * k);
  int64_t done = progress.done() * k, correct = 0, fresh = 0;
  for (size_t i = 0; i < run.problems.size(); i++)
    if (progress.is_done(i)) correct += progress.result(i).correct;
  const auto t0 = std::chrono::steady_clock::now();
  const EvalRunResult result = run_eval(
      engine, run.problems, run.prompts, run.extract, progress,
      [&](const EvalProblem&, int64_t, const SampleResult& r) {
        done++, fresh++;
        correct += r.verdict == verify::Verdict::kCorrect;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        bar.update(done, {{"correct", fmt::format("{:.1f}%", 100.0 * double(correct) / double(done))},
                          {"samples/s", format_count(double(fresh) / std::max(1e-9, secs))},
                          {"tok/s", format_count(engine.stats().decode_tokens /
                                                 std::max(1e-9, engine.stats().forward_seconds))}});
      },
      scorer);
  bar.finish();
  if (result.interrupted)
    std::fprintf(stderr,
                 "%s: interrupted after %lld of %lld problems; results so far in %s; continue with the same "
                 "command and --resume\n",
                 tool.c_str(), static_cast<long long>(result.done), static_cast<long long>(n),
                 progress.path().c_str());
  return result;
}

int run_eval_file(EvalFileArgs& a) {
  const ProblemSource source = resolve_problem_source(a);
  // Every output is checked before any work, so a bad path does not throw an evaluation away.
  if (a.out.empty()) a.out = "eval_" + source.name + ".jsonl";
  check_run_outputs(a.out, a.summary_json);
  ProblemRun run = load_problem_run(a, source);
  const int k = a.gen.n;
  EvalProgressFile progress(a.out + ".partial", run.settings, a.resume, run.problems, run.prompts, k);
  start_problem_run(a, run);
  const EvalRunResult result = run_problems("eval", a.resume, run, progress);
  if (result.interrupted) return 130;
  EvalSummary s = summarise(result.results, k);
  s.seconds = run.engine->stats().seconds;
  write_eval_outputs(progress, a.out, a.summary_json,
                     eval_summary_json(s, source.name, source.path, a.model_path, a.gen));
  std::printf("%s", format_summary(s, source.name).c_str());
  std::fprintf(stderr, "eval: samples in %s\n", a.out.c_str());
  return 0;
}

}  // namespace r1
