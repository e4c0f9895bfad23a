#include "train/zero_run.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/recipe.h"
#include "dist/comm.h"
#include "io/file.h"
#include "io/json.h"
#include "report/report.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"
#include "train/run_dir.h"
#include "train/zero_task.h"

namespace r1 {

namespace fs = std::filesystem;

std::string shipped_zero_base() {
  return R1_ZERO_BASE_DIR;
}

std::vector<std::string> zero_control_settings(const std::string& control) {
  if (control.empty()) return {};
  if (control == "format-only") return {"reward.math=0.0"};
  if (control == "seq-mean") return {"grpo.loss_agg=\"seq-mean\"", "grpo.scale_rewards=true"};
  fail("--control: unknown control '{}' (format-only, seq-mean)", control);
}

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
steps = 50              # about 3 s a step on 2 cores
prompts_per_step = 16
group_size = 8
max_new_tokens = 200    # a checked 6-term answer is about 160 tokens; the prompt (<= 440) + 200 fits 768
temperature = 1.0
beta = 0.001
eps_low = 0.2
eps_high = 0.2
loss_agg = "constant"   # Dr. GRPO: every token weighs alike (1 / (max_new_tokens x outputs)), ...
scale_rewards = false   # ... and advantages are not divided by the group's std
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
limit = 160

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

// The eval rows of a metrics file.
std::vector<nlohmann::json> eval_rows(const std::string& metrics) {
  std::vector<nlohmann::json> out;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json j = parse_json_or_discarded(line);
    if (j.is_object() && j.contains("eval/pass@1") && j["eval/pass@1"].is_number())
      out.push_back(std::move(j));
  }
  return out;
}

double num(const nlohmann::json& row, const char* key) {
  const auto it = row.find(key);
  return it != row.end() && it->is_number() ? it->get<double>() : 0.0;
}

}  // namespace

int run_zero(const ZeroOptions& opt) {
  const fs::path dir(opt.dir);
  const fs::path data = dir / "data";
  const std::string train_path = (data / "train.jsonl").string(), test_path = (data / "test.jsonl").string();
  if (!opt.from_scratch && !opt.pretrain_sets.empty())
    fail("--pretrain-set: applies to the pretraining of --from-scratch only");
  if (opt.from_scratch && !opt.base.empty()) fail("--base and --from-scratch: choose one");

  // Both stages' recipes are built and checked before anything runs: a typo in a --set key must
  // not cost a pretraining run.
  Recipe pr = Recipe::parse(default_zero_pretrain_recipe(), "<built-in zero pretrain recipe>");
  pr.set_string("output.dir", (dir / "base").string());
  for (const auto& s : opt.pretrain_sets) pr.set(s);
  pr.check(lm_recipe_rules());
  const fs::path base_run(pr.get_string("output.dir"));
  const fs::path base =
      opt.from_scratch ? base_run / "model" : fs::path(opt.base.empty() ? shipped_zero_base() : opt.base);
  if (!opt.from_scratch && !fs::exists(base / "config.json"))
    fail("{}: no base model here{}; run r1 zero --from-scratch to pretrain one", base.string(),
         opt.base.empty() ? " (the one shipped in models/zero-base)" : "");

  Recipe r = Recipe::parse(default_zero_recipe(), "<built-in zero recipe>");
  r.set_string("model.path", base.string());
  r.set_string("data.path", train_path);
  r.set_string("eval.data", test_path);
  r.set_string("output.dir", (dir / "grpo").string());
  for (const auto& s : zero_control_settings(opt.control)) r.set(s);
  if (opt.seed >= 0) r.set("train.seed=" + std::to_string(opt.seed));
  for (const auto& s : opt.sets) r.set(s);  // last: the user's word is final
  check_grpo_recipe(r);
  const fs::path grpo(r.get_string("output.dir"));

  // 1. The base model: shipped, or pretrained into DIR/base (used only when its pretraining
  //    completed).
  if (!opt.from_scratch) {
    std::fprintf(stderr, "zero: stage 1/3: the base model in %s (--from-scratch pretrains one)\n",
                 base.string().c_str());
  } else if (RunDir::is_complete(base_run.string())) {
    std::fprintf(stderr, "zero: using the base model in %s (delete %s to pretrain again)\n",
                 base.string().c_str(), base_run.string().c_str());
  } else {
    const bool interrupted = fs::exists(base_run / RunDir::kState);
    if (interrupted && !opt.resume)
      fail(
          "{}: holds an unfinished pretraining run; continue it with r1 zero --from-scratch --resume, or "
          "delete {} "
          "to start over",
          base_run.string(), base_run.string());
    std::fprintf(stderr, "zero: stage 1/3: %s the base model into %s\n",
                 interrupted ? "resuming the pretraining of" : "pretraining", base_run.string().c_str());
    if (const int rc = run_lm_training("pretrain", pr, RunStart{interrupted, opt.allow_changes}); rc != 0)
      return rc;
  }

  // 2. The problems: RL prompts from the train split, held-out problems from the test split
  //    (each cycling through the levels of difficulty).
  ZeroTaskConfig tc;
  if (world().root()) {  // rank 0 writes; the others read them after the barrier
    make_dirs(data.string());
    write_problems(train_path, zero_problems(tc, false, 2000));
    write_problems(test_path, zero_problems(tc, true, 160));
  }
  world().barrier();

  // 3. GRPO (into DIR/grpo unless the user's settings move it: the report follows). --resume
  //    continues it when it was interrupted; otherwise it starts (over).
  if (opt.resume && RunDir::is_complete(grpo.string())) {
    std::fprintf(stderr, "zero: the GRPO stage in %s has completed; nothing to resume\n",
                 grpo.string().c_str());
  } else {
    const bool resume_grpo = opt.resume && fs::exists(grpo / RunDir::kState);
    std::fprintf(
        stderr, "zero: stage 2/3: %s%s into %s\n", resume_grpo ? "resuming R1-Zero GRPO" : "R1-Zero GRPO",
        opt.control.empty() ? "" : (" (control: " + opt.control + ")").c_str(), grpo.string().c_str());
    const int rc = run_grpo_training(r, RunStart{resume_grpo, opt.allow_changes});
    if (rc != 0) return rc;
  }
  std::fprintf(stderr, "zero: stage 3/3: report\n");
  if (world().root()) report::write_report(grpo.string());
  const auto ev = eval_rows((grpo / "metrics.jsonl").string());
  if (ev.size() >= 2) {
    const nlohmann::json &a = ev.front(), &b = ev.back();
    const int64_t k = r.get_int("eval.k", 8);
    const std::string passk = "eval/pass@" + std::to_string(k);
    auto pct = [](double v) { return 100 * v; };
    std::printf(
        "r1 zero: held-out (k=%lld, T=%g, top-p %g), step %lld -> step %lld:\n"
        "  pass@1 %.1f%% -> %.1f%%   pass@%lld %.1f%% -> %.1f%%\n"
        "  mean response length %.1f -> %.1f tokens\n"
        "  responses with a check step %.1f%% -> %.1f%%   with a reflection phrase %.1f%% -> %.1f%%\n",
        (long long)k, r.get_float("eval.temperature", 0.6), r.get_float("eval.top_p", 0.95),
        (long long)num(a, "step"), (long long)num(b, "step"), pct(num(a, "eval/pass@1")),
        pct(num(b, "eval/pass@1")), (long long)k, pct(num(a, passk.c_str())), pct(num(b, passk.c_str())),
        num(a, "eval/response_length_mean"), num(b, "eval/response_length_mean"),
        pct(num(a, "eval/check_rate")), pct(num(b, "eval/check_rate")), pct(num(a, "eval/reflection_rate")),
        pct(num(b, "eval/reflection_rate")));
  }
  std::printf("r1 zero: report in %s\n", (grpo / "report.html").string().c_str());
  return 0;
}

}  // namespace r1
