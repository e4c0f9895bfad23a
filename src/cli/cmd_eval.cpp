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
#include "core/error.h"
#include "core/progress.h"
#include "eval/eval.h"
#include "io/file.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

namespace fs = std::filesystem;

constexpr const char* kBoxedInstruction =
    "Please reason step by step, and put your final answer within \\boxed{}.";

struct EvalArgs {
  std::string model_path, data, data_dir, prompt_field, answer_field, templ = "auto", instruction = "auto";
  std::string out, summary_json;
  bool gsm8k_answer = false, force_think = false, greedy = false, last_number = false;
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
  if (!a.prompt_field.empty()) spec->prompt_field = a.prompt_field;
  if (!a.answer_field.empty()) spec->answer_field = a.answer_field;
  if (a.gsm8k_answer) spec->gsm8k_answer = true;
  const std::vector<EvalProblem> problems = load_eval_problems(path, *spec, a.limit);

  Model model = load_model(a.model_path);
  std::unique_ptr<Tokenizer> tok = load_tokenizer(a.model_path);
  std::string templ = a.templ;
  std::optional<ChatTemplate> tmpl;
  if (templ == "auto") {  // the model's chat template if it has one, else none
    templ = "none";
    try {
      tmpl = ChatTemplate::load(a.model_path);
      templ = "chat";
    } catch (const Error&) {
    }
    if (a.force_think && !tmpl) fail("--force-think needs a --template");
  } else {
    tmpl = load_prompt_template(templ, a.model_path, a.force_think);
  }
  // The answer goes in <answer> tags with the r1zero template; elsewhere in \boxed{}.
  const std::string instruction =
      a.instruction != "auto" ? a.instruction : (templ == "r1zero" ? "" : kBoxedInstruction);
  std::vector<std::vector<int32_t>> prompts;
  for (const EvalProblem& p : problems)
    prompts.push_back(encode_prompt(instruction.empty() ? p.prompt : p.prompt + "\n" + instruction, *tok,
                                    tmpl, a.force_think));

  GenerationConfig& g = a.gen;
  g.sampling.greedy = a.greedy;
  g.kv_budget_bytes = static_cast<size_t>(a.kv_budget_mb * 1048576.0);
  g.stop_ids = stop_ids_of(model, tok.get());
  if (templ == "r1zero") g.stop_strings.push_back("</answer>");
  verify::ExtractOptions extract;
  extract.last_number = a.last_number;

  Engine engine(model, tok.get(), g);
  const int k = g.n;
  Progress progress("eval " + name, static_cast<int64_t>(problems.size()) * k);
  int64_t done = 0, correct = 0;
  std::vector<ProblemResult> results =
      run_eval(engine, problems, prompts, extract, [&](const EvalProblem&, int64_t, const SampleResult& r) {
        done++;
        correct += r.verdict == verify::Verdict::kCorrect;
        progress.update(done, {{"correct", fmt::format("{:.1f}%", 100.0 * double(correct) / double(done))},
                               {"tok/s", format_count(engine.stats().decode_tokens /
                                                      std::max(1e-9, engine.stats().forward_seconds))}});
      });
  progress.finish();
  EvalSummary s = summarise(results, k);
  s.seconds = engine.stats().seconds;

  const std::string out = a.out.empty() ? "eval_" + name + ".jsonl" : a.out;
  write_file_atomic(out, [&](std::FILE* f) {
    for (const ProblemResult& pr : results) {
      const EvalProblem& p = problems[pr.index];
      for (size_t i = 0; i < pr.samples.size(); i++) {
        const SampleResult& r = pr.samples[i];
        nlohmann::ordered_json j;
        j["problem_index"] = pr.index;
        j["id"] = p.id;
        j["sample_index"] = i;
        j["gold"] = p.gold;
        j["extracted"] = r.extracted ? nlohmann::ordered_json(*r.extracted) : nlohmann::ordered_json(nullptr);
        j["verdict"] = verify::verdict_name(r.verdict);
        j["finish_reason"] = r.finish_reason;
        j["num_tokens"] = r.num_tokens;
        j["text"] = r.text;
        std::fprintf(f, "%s\n",
                     j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
      }
    }
  });
  nlohmann::ordered_json sj;
  sj["benchmark"] = name;
  sj["data"] = path;
  sj["model"] = a.model_path;
  sj["problems"] = s.problems;
  sj["unverifiable"] = s.unverifiable;
  sj["k"] = k;
  // Floats shown as written (0.6, not 0.6000000238).
  sj["temperature"] = std::stod(fmt::format("{}", g.sampling.temperature));
  sj["top_p"] = std::stod(fmt::format("{}", g.sampling.top_p));
  sj["max_new_tokens"] = g.max_new_tokens;
  sj["pass@1"] = s.pass1;
  sj[fmt::format("cons@{}", k)] = s.cons;
  for (int j = 2; j <= k; j++) sj[fmt::format("pass@{}", j)] = s.pass_at[j - 1];
  sj["answered"] = s.answered;
  sj["mean_tokens"] = s.mean_tokens;
  sj["max_tokens"] = s.max_tokens;
  sj["truncated"] = s.truncated;
  sj["seconds"] = s.seconds;
  if (!a.summary_json.empty()) write_file_atomic(a.summary_json, sj.dump(2) + "\n");
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
  cmd->add_option("--limit", a->limit, "the first N problems only")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->add_option("--k", a->gen.n, "samples per problem (4)")->check(CLI::Range(1, 1024));
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
  out.push_back({cmd, [a] { return run_eval_cmd(*a); }});
}

}  // namespace r1::cli
