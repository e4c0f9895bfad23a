#include "train/zero_run.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/recipe.h"
#include "io/file.h"
#include "io/json.h"
#include "report/report.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"
#include "train/run_dir.h"
#include "train/zero_task.h"

namespace r1 {

namespace fs = std::filesystem;

const char* default_zero_recipe() {
  return R"(# r1 zero's GRPO stage: R1-Zero (accuracy + format rewards, the R1-Zero template) from the base.
[model]
compute = "f32"

[data]
template = "r1zero"
prompt_field = "question"
answer_field = "answer"

[reward]
math = 1.0      # accuracy: the <answer> must equal the sum
format = 0.5    # <think> ... </think> <answer> ... </answer>

[grpo]
steps = 30
prompts_per_step = 16
group_size = 8
max_new_tokens = 80     # a worked answer is at most 64 tokens; prompt + 80 fits the base's 512 positions
temperature = 1.0
beta = 0.001
eps_low = 0.2
eps_high = 0.2
loss_agg = "seq-mean"
mu = 1
mini_batches = 1

[train]
lr = 3e-4
schedule = "constant"
grad_clip = 1.0
beta1 = 0.9
beta2 = 0.99
seed = 1

[eval]
k = 8
temperature = 0.6
top_p = 0.95
every = 10
limit = 256

[output]
save_every = 10
sample_every = 5
overwrite = true
)";
}

namespace {

void write_problems(const std::string& path, const std::vector<ZeroProblem>& ps) {
  write_file_atomic(path, [&](std::FILE* f) {
    for (const ZeroProblem& p : ps)
      std::fprintf(f, "%s\n",
                   nlohmann::json({{"question", p.question}, {"answer", p.answer}}).dump().c_str());
  });
}

// The eval rows of a metrics file: (step, pass@1, mean response length).
struct EvalPoint {
  int64_t step;
  double pass1, length;
};
std::vector<EvalPoint> eval_points(const std::string& metrics) {
  std::vector<EvalPoint> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json j = parse_json_or_discarded(line);
    if (j.is_object() && j.contains("eval/pass@1") && j["eval/pass@1"].is_number())
      out.push_back({j["step"].get<int64_t>(), j["eval/pass@1"].get<double>(),
                     j.value("eval/response_length_mean", 0.0)});
  }
  return out;
}

}  // namespace

int run_zero(const ZeroOptions& opt) {
  const fs::path dir(opt.dir);
  const fs::path data = dir / "data";
  const std::string train_path = (data / "train.jsonl").string(), test_path = (data / "test.jsonl").string();

  // Both stages' recipes are built and checked before anything runs: a typo in a --set key must
  // not cost a pretraining run.
  Recipe pr = Recipe::parse(default_zero_pretrain_recipe(), "<built-in zero pretrain recipe>");
  pr.set("output.dir=\"" + (dir / "base").string() + "\"");
  for (const auto& s : opt.pretrain_sets) pr.set(s);
  pr.check(lm_recipe_rules());
  const fs::path base(pr.get_string("output.dir"));

  Recipe r = Recipe::parse(default_zero_recipe(), "<built-in zero recipe>");
  r.set("model.path=\"" + (base / "model").string() + "\"");
  r.set("data.path=\"" + train_path + "\"");
  r.set("eval.data=\"" + test_path + "\"");
  r.set("output.dir=\"" + (dir / "grpo").string() + "\"");
  for (const auto& s : opt.sets) r.set(s);  // last: the user's word is final
  check_grpo_recipe(r);
  const fs::path grpo(r.get_string("output.dir"));

  // 1. The base model (in DIR/base unless the user's settings move it); used only when its
  //    pretraining completed.
  if (RunDir::is_complete(base.string())) {
    std::fprintf(stderr, "zero: using the base model in %s (delete %s to pretrain again)\n",
                 (base / "model").string().c_str(), base.string().c_str());
  } else {
    const bool interrupted = fs::exists(base / RunDir::kState);
    if (interrupted && !opt.resume)
      fail(
          "{}: holds an unfinished pretraining run; continue it with r1 zero --resume, or delete {} to start "
          "over",
          base.string(), base.string());
    std::fprintf(stderr, "zero: stage 1/3: %s the base model into %s\n",
                 interrupted ? "resuming the pretraining of" : "pretraining", base.string().c_str());
    if (const int rc = run_lm_training("pretrain", pr, RunStart{interrupted, opt.allow_changes}); rc != 0)
      return rc;
  }

  // 2. The problems: RL prompts from the train split, held-out problems from the test split.
  ZeroTaskConfig tc;
  make_dirs(data.string());
  write_problems(train_path, zero_problems(tc, false, 4096));
  write_problems(test_path, zero_problems(tc, true, 512));

  // 3. GRPO (into DIR/grpo unless the user's settings move it: the report follows). --resume
  //    continues it when it was interrupted; otherwise it starts (over).
  if (opt.resume && RunDir::is_complete(grpo.string())) {
    std::fprintf(stderr, "zero: the GRPO stage in %s has completed; nothing to resume\n",
                 grpo.string().c_str());
  } else {
    const bool resume_grpo = opt.resume && fs::exists(grpo / RunDir::kState);
    std::fprintf(stderr, "zero: stage 2/3: %s into %s\n",
                 resume_grpo ? "resuming R1-Zero GRPO" : "R1-Zero GRPO", grpo.string().c_str());
    const int rc = run_grpo_training(r, RunStart{resume_grpo, opt.allow_changes});
    if (rc != 0) return rc;
  }
  std::fprintf(stderr, "zero: stage 3/3: report\n");
  report::write_report(grpo.string());
  const auto ev = eval_points((grpo / "metrics.jsonl").string());
  if (ev.size() >= 2) {
    const EvalPoint &a = ev.front(), &b = ev.back();
    std::printf(
        "r1 zero: held-out pass@1 (k=%lld, T=%g, top-p %g) %.1f%% at step %lld -> %.1f%% at step %lld; "
        "mean response length %.1f -> %.1f tokens\n",
        (long long)r.get_int("eval.k", 8), r.get_float("eval.temperature", 0.6),
        r.get_float("eval.top_p", 0.95), 100 * a.pass1, (long long)a.step, 100 * b.pass1, (long long)b.step,
        a.length, b.length);
  }
  std::printf("r1 zero: report in %s\n", (grpo / "report.html").string().c_str());
  return 0;
}

}  // namespace r1
