#include "train/distill_demo.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/recipe.h"
#include "eval/eval.h"
#include "io/file.h"
#include "io/json.h"
#include "model/checkpoint.h"
#include "rollout/engine.h"
#include "rollout/prompts.h"
#include "train/distill.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"
#include "train/run_dir.h"
#include "train/zero_run.h"
#include "train/zero_task.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

// How every model is evaluated: r1 zero's held-out protocol (eval.k 8, T 0.6, top-p 0.95, its 160
// problems, seed 1234), the R1-Zero template and its </answer> stop, the math verifier on the
// extracted answer.
struct EvalSettings {
  int k = 8, max_new_tokens = 200;
  int64_t limit = 160;
  float temperature = 0.6f, top_p = 0.95f;
  uint64_t seed = 1234;
};

EvalSummary evaluate_model(const std::string& model_path, const std::string& test_path,
                           const EvalSettings& es) {
  const std::vector<EvalProblem> problems =
      load_eval_problems(test_path, DatasetSpec{"", "question", "answer", false}, es.limit);
  std::unique_ptr<Tokenizer> tok = load_tokenizer(model_path);
  Model model = load_model(model_path);
  const PromptBuilder prompts(PromptFormat{"r1zero", "auto", false}, model_path);
  std::vector<std::vector<int32_t>> ids;
  for (const EvalProblem& p : problems) ids.push_back(prompts.encode(p.prompt, *tok));
  GenerationConfig g;
  g.n = es.k;
  g.max_new_tokens = es.max_new_tokens;
  g.seed = es.seed;
  g.sampling.temperature = es.temperature;
  g.sampling.top_p = es.top_p;
  g.stop_ids = stop_ids_of(model, tok.get());
  g.stop_strings = prompts.stop_strings();
  g.context = model.config().max_position_embeddings;
  Engine engine(model, tok.get(), g);
  return summarise(run_eval(engine, problems, ids, verify::ExtractOptions{}), es.k);
}

struct Arm {
  std::string name, what, model;
  double seconds = -1;  // wall-clock of the arm's training (and sampling), without evaluation
  EvalSummary eval;
  nlohmann::json extra = nlohmann::json::object();
};

}  // namespace

int run_distill_demo(const DistillDemoOptions& o) {
  const fs::path dir(o.dir);
  const fs::path zdir = o.zero_dir.empty() ? dir / "zero" : fs::path(o.zero_dir);
  make_dirs(dir.string());
  EvalSettings es;
  if (o.quick) es.k = 2, es.limit = 8;

  // The GRPO settings of arms (a) and (c) and of a quick teacher: r1 zero's, smaller when quick.
  const std::vector<std::string> quick_grpo = {"grpo.steps=2",      "grpo.prompts_per_step=4",
                                               "grpo.group_size=4", "eval.limit=4",
                                               "eval.k=2",          "output.save_every=0"};
  const std::vector<std::string> quick_pretrain = {"train.steps=10", "data.builtin_docs=400",
                                                   "train.warmup_steps=2", "output.save_every=0"};

  // 1. The teacher: r1 zero's GRPO model from the shipped base (its run reused when complete).
  if (!RunDir::is_complete((zdir / "grpo").string())) {
    std::fprintf(stderr, "distill demo: the teacher: r1 zero into %s\n", zdir.string().c_str());
    ZeroOptions z;
    z.dir = zdir.string();
    if (o.quick) z.sets = quick_grpo;  // from the shipped base
    if (const int rc = run_zero(z); rc != 0) return rc;
  } else {
    std::fprintf(stderr, "distill demo: the teacher: r1 zero's model in %s\n",
                 (zdir / "grpo" / "model").string().c_str());
  }
  const std::string teacher = (zdir / "grpo" / "model").string();
  const std::string train = (zdir / "data" / "train.jsonl").string(),
                    test = (zdir / "data" / "test.jsonl").string();

  // 2. The student's base: a smaller Llama pretrained on the same corpus (reused when complete).
  const fs::path sbase = dir / "student-base";
  if (!RunDir::is_complete(sbase.string())) {
    Recipe pr = Recipe::parse(default_zero_pretrain_recipe(), "<distill demo student pretraining>");
    for (const char* s : {"model.hidden_size=64", "model.intermediate_size=176", "model.num_layers=2",
                          "model.num_heads=2", "model.num_kv_heads=1", "model.head_dim=32"})
      pr.set(s);
    pr.set_string("output.dir", sbase.string());
    if (o.quick)
      for (const auto& s : quick_pretrain) pr.set(s);
    std::fprintf(stderr, "distill demo: the student's base: pretraining into %s\n", sbase.string().c_str());
    if (const int rc = run_lm_training("pretrain", pr); rc != 0) return rc;
  }
  const std::string student = (sbase / "model").string();

  std::vector<Arm> arms;
  auto grpo_recipe = [&](const fs::path& out) {
    Recipe r = Recipe::parse(default_zero_recipe(), "<distill demo GRPO recipe>");
    r.set_string("model.path", student);
    r.set_string("data.path", train);
    r.set_string("eval.data", test);
    r.set("eval.at_start=false");  // every model is evaluated below, the same way
    r.set("eval.at_end=false");
    r.set("eval.every=0");
    r.set_string("output.dir", out.string());
    if (o.quick)
      for (const auto& s : quick_grpo) r.set(s);
    return r;
  };

  // (a) GRPO on the student, r1 zero's recipe.
  {
    Arm a{"(a) GRPO on the student", "r1 zero's GRPO recipe (50 steps of 16 x 8 samples)", "", -1, {}, {}};
    const auto t0 = Clock::now();
    if (const int rc = run_grpo_training(grpo_recipe(dir / "grpo")); rc != 0) return rc;
    a.seconds = seconds_since(t0);
    a.model = (dir / "grpo" / "model").string();
    arms.push_back(a);
  }
  // (b) SFT on the teacher's rejection-sampled traces.
  {
    Arm b{"(b) SFT on the teacher's traces", "", "", -1, {}, {}};
    Recipe r;
    for (const std::string& s :
         {std::string("teacher.template=\"r1zero\""), std::string("problems.prompt_field=\"question\""),
          std::string("problems.answer_field=\"answer\""),
          std::string("problems.limit=") + (o.quick ? "16" : "1024"),
          std::string("sample.k=") + (o.quick ? "2" : "4"), std::string("sample.max_new_tokens=200"),
          std::string("sample.reward=\"math\""), std::string("student.template=\"r1zero\""),
          std::string("data.seq_len=768"), std::string("train.epochs=") + (o.quick ? "1" : "3"),
          std::string("train.batch_tokens=4096"), std::string("train.lr=1e-3"),
          std::string("train.warmup_steps=10"), std::string("train.weight_decay=0.0"),
          std::string("output.overwrite=true"), std::string("output.save_every=0")})
      r.set(s);
    r.set_string("teacher.model", teacher);
    r.set_string("problems.data", train);
    r.set_string("model.path", student);
    r.set_string("output.dir", (dir / "sft").string());
    if (o.quick)
      r.set("sample.correct=false"), r.set("sample.finished=false");  // a tiny teacher is rarely right
    const auto t0 = Clock::now();
    if (const int rc = run_distill(r); rc != 0) return rc;
    b.seconds = seconds_since(t0);
    b.model = (dir / "sft" / "sft" / "model").string();
    const nlohmann::json sj = read_json_file((dir / "sft" / "sample_summary.json").string());
    if (sj.is_object())
      b.extra["traces"] = sj.value("kept", 0), b.extra["problems"] = sj.value("problems", 0);
    b.what = fmt::format("{} correct teacher traces (k {}, one per problem), {} epochs of SFT",
                         b.extra.value("traces", 0), o.quick ? 2 : 4, o.quick ? 1 : 3);
    arms.push_back(b);
  }
  // (c) On-policy distillation: the same GRPO recipe, the teacher's per-token signal added.
  {
    Arm c{"(c) on-policy distillation", "r1 zero's GRPO recipe + distill.teacher (coef 1)", "", -1, {}, {}};
    Recipe r = grpo_recipe(dir / "onpolicy");
    r.set_string("distill.teacher", teacher);
    r.set("distill.coef=1.0");
    const auto t0 = Clock::now();
    if (const int rc = run_grpo_training(r); rc != 0) return rc;
    c.seconds = seconds_since(t0);
    c.model = (dir / "onpolicy" / "model").string();
    // The per-token reverse KL to the teacher on the student's own samples: the means of the
    // first and the last five steps (one step's value is noisy).
    std::vector<double> kl;
    std::ifstream in(dir / "onpolicy" / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) {
      const nlohmann::json j = parse_json_or_discarded(line);
      if (j.is_object() && j.contains("distill/reverse_kl"))
        kl.push_back(j["distill/reverse_kl"].get<double>());
    }
    if (!kl.empty()) {
      const size_t w = std::min<size_t>(5, kl.size());
      double first = 0, last = 0;
      for (size_t i = 0; i < w; i++) first += kl[i] / double(w), last += kl[kl.size() - 1 - i] / double(w);
      c.extra["reverse_kl_first5"] = first, c.extra["reverse_kl_last5"] = last;
    }
    arms.push_back(c);
  }

  // Every model, evaluated the same way.
  std::vector<Arm> rows;
  auto params = [](const std::string& path) {
    return fmt::format("{:.2f}M", load_model(path).num_params() / 1e6);
  };
  rows.push_back(
      {"teacher", "r1 zero's GRPO model, " + params(teacher) + " parameters", teacher, -1, {}, {}});
  rows.push_back(
      {"student base", params(student) + " parameters, pretrained on the same corpus", student, -1, {}, {}});
  for (const Arm& a : arms) rows.push_back(a);
  nlohmann::json report = nlohmann::json::array();
  std::string md = fmt::format(
      "# r1 distill --demo{}\n\nHeld-out pass@1 over k = {} samples (T {}, top-p {}), {} of r1 zero's test "
      "problems.\n\n"
      "| model | what | pass@1 | cons@{} | mean length | wall-clock |\n|---|---|---|---|---|---|\n",
      o.quick ? " (quick: tiny settings, not a result)" : "", es.k, es.temperature, es.top_p, es.limit, es.k);
  for (Arm& a : rows) {
    std::fprintf(stderr, "distill demo: evaluating %s\n", a.name.c_str());
    a.eval = evaluate_model(a.model, test, es);
    md += fmt::format("| {} | {} | {:.1f}% | {:.1f}% | {:.1f} | {} |\n", a.name, a.what, 100 * a.eval.pass1,
                      100 * a.eval.cons, a.eval.mean_tokens,
                      a.seconds < 0 ? "" : fmt::format("{:.0f} s", a.seconds));
    nlohmann::json j = {{"model", a.name},        {"what", a.what},      {"path", a.model},
                        {"pass@1", a.eval.pass1}, {"cons", a.eval.cons}, {"mean_tokens", a.eval.mean_tokens},
                        {"seconds", a.seconds}};
    if (a.extra.is_object()) j.update(a.extra);
    report.push_back(j);
  }
  write_file_atomic((dir / "report.json").string(), report.dump(2) + "\n");
  write_file_atomic((dir / "report.md").string(), md);
  std::printf("%s", md.c_str());
  std::fprintf(stderr, "distill demo: report in %s\n", (dir / "report.md").string().c_str());
  return 0;
}

}  // namespace r1
