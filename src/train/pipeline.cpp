#include "train/pipeline.h"

#include <fmt/ranges.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "eval/problem_run.h"
#include "io/file.h"
#include "io/json.h"
#include "report/report.h"
#include "train/distill.h"
#include "train/grpo_trainer.h"
#include "train/lm_trainer.h"

namespace r1 {

namespace fs = std::filesystem;

namespace {

enum class Kind { kSft, kGrpo, kRejection };

Kind kind_of(const PipelineStage& s) {
  const std::string t = s.table;
  return t == "cold_start" ? Kind::kSft : t == "rejection_sampling" ? Kind::kRejection : Kind::kGrpo;
}

// The evaluation's defaults before the recipe's keys: R1's protocol (R1-NOTES section 6).
EvalFileArgs eval_defaults() {
  EvalFileArgs a;
  a.gen.n = 4;
  a.gen.sampling.temperature = 0.6f;
  a.gen.sampling.top_p = 0.95f;
  a.gen.max_new_tokens = 1024;
  return a;
}

const RecipeSchema<ProblemRunArgs>& eval_schema() {
  static const RecipeSchema<ProblemRunArgs> s = problem_run_schema("eval", "eval", "eval");
  return s;
}

// The keys a stage's recipe must leave to the pipeline.
std::vector<std::string> keys_set_by_pipeline(Kind k) {
  std::vector<std::string> keys = {"model.path", "output.dir"};
  if (k == Kind::kRejection) keys.push_back("teacher.model");
  return keys;
}

struct Plan {
  fs::path dir;
  std::string base;
  bool overwrite = false;
  struct Step {
    const PipelineStage* stage;
    Kind kind;
    Recipe recipe;       // the stage's recipe, with the keys the pipeline sets
    std::string run;     // its training run directory (metrics, checkpoint, model/)
    std::string input;   // the model it starts from (stage 3: the teacher)
    std::string output;  // the model it makes
  };
  std::vector<Step> steps;
  bool eval = false;
  EvalFileArgs eval_args;
};

// The whole recipe checked and every stage's recipe built; no file is read.
Plan plan_pipeline(const Recipe& recipe) {
  Plan p;
  Recipe own = recipe;
  for (const PipelineStage& s : pipeline_stages()) own.erase(s.table);
  own.check(pipeline_recipe_rules());
  p.base = own.get_string("model.path");
  if (p.base.empty()) fail("{}: key 'model.path' (the base model) must not be empty", recipe.name());
  p.dir = own.get_string("output.dir", "runs/pipeline");
  p.overwrite = own.get_bool("output.overwrite", false);
  p.eval = own.has("eval");
  if (p.eval) {
    EvalFileArgs a = eval_defaults();
    Recipe ev = own;  // the [eval] table alone
    ev.erase("model");
    ev.erase("output");
    static_cast<ProblemRunArgs&>(a) = eval_schema().read(ev, a);
    p.eval_args = a;
  }
  std::string current = p.base;
  for (const PipelineStage& s : pipeline_stages()) {
    if (!recipe.has(s.table)) continue;
    Plan::Step st{&s, kind_of(s), recipe.table(s.table, recipe.name() + " [" + s.table + "]"), "", "", ""};
    for (const std::string& k : keys_set_by_pipeline(st.kind))
      if (st.recipe.has(k))
        fail(
            "{}: key '{}.{}' is set by the pipeline (each stage starts from the previous stage's model, in "
            "{})",
            recipe.name(), s.table, k, (p.dir / s.dir).string());
    const std::string out = (p.dir / s.dir).string();
    st.recipe.set_string("output.dir", out);
    st.recipe.set("output.overwrite=true");  // the pipeline owns the stage's directory
    st.input = current;
    switch (st.kind) {
      case Kind::kSft:
        st.recipe.set_string("model.path", current);
        check_lm_recipe(st.recipe);
        st.run = out;
        break;
      case Kind::kGrpo:
        st.recipe.set_string("model.path", current);
        check_grpo_recipe(st.recipe);
        st.run = out;
        break;
      case Kind::kRejection:
        st.recipe.set_string("teacher.model", current);
        st.recipe.set_string("model.path", p.base);
        check_distill_recipe(st.recipe);
        st.run = (fs::path(out) / "sft").string();
        break;
    }
    st.output = (fs::path(st.run) / RunDir::kModel).string();
    current = st.output;
    p.steps.push_back(std::move(st));
  }
  if (p.steps.empty()) {
    std::string names;
    for (const PipelineStage& s : pipeline_stages())
      names += std::string(names.empty() ? "" : ", ") + s.table;
    fail("{}: no stage: the recipe needs at least one of the tables {}", recipe.name(), names);
  }
  return p;
}

// The files the recipe names that exist before the run (the base model, the stages' data, reward
// models, judges, teachers, extra rows): a missing one is an error now, not after the stages
// before it ran. Data that may name a built-in benchmark or corpus is checked by its stage.
void check_inputs(const Recipe& recipe, const Plan& p) {
  auto need = [](const std::string& where, const std::string& key, const std::string& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail("{}: key '{}': {}: no such file or directory", where, key, path);
  };
  need(recipe.name(), "model.path", p.base);
  for (const Plan::Step& st : p.steps) {
    const Recipe& r = st.recipe;
    std::vector<std::string> keys = {"data.path", "data.eval_path", "distill.teacher", "student.extra_data"};
    for (const char* kind : {"reward.models", "reward.judges"})
      for (const std::string& name : r.keys_under(kind))
        keys.push_back(std::string(kind) + "." + name + ".path");
    for (const std::string& k : keys)
      if (r.has(k) && !r.get_string(k).empty() && !r.get_string(k).starts_with("builtin:"))
        need(r.name(), k, r.get_string(k));
  }
}

std::string eval_path(const Plan& p, const std::string& name, const char* ext) {
  return (p.dir / "eval" / (name + ext)).string();
}

// Evaluates one model into eval/NAME.jsonl and eval/NAME.json, unless that is done; continues an
// interrupted evaluation. Returns the exit code.
int evaluate(const Plan& p, const std::string& name, const std::string& model) {
  if (!p.eval) return 0;
  EvalFileArgs a = p.eval_args;
  a.model_path = model;
  a.out = eval_path(p, name, ".jsonl");
  a.summary_json = eval_path(p, name, ".json");
  if (fs::exists(a.summary_json)) return 0;
  a.resume = fs::exists(a.out + ".partial");
  std::fprintf(stderr, "pipeline: %s the %s model (%s)\n",
               a.resume ? "resuming the evaluation of" : "evaluating", name.c_str(), model.c_str());
  make_dirs((p.dir / "eval").string());
  return run_eval_file(a);
}

int64_t count_lines(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  for (std::string line; std::getline(in, line);) n += !line.empty();
  return n;
}

// The report's columns: the base model, then each stage as far as it got.
void write_pipeline_report(const Plan& p) {
  std::vector<report::PipelineColumn> cols;
  report::PipelineColumn base;
  base.name = "base";
  base.title = "base model";
  base.status = "given";
  base.model = p.base;
  if (p.eval) base.eval_summary = eval_path(p, "base", ".json");
  cols.push_back(base);
  for (const Plan::Step& st : p.steps) {
    report::PipelineColumn c;
    c.name = st.stage->dir;
    c.title = st.stage->title;
    c.model = st.output;
    c.run_dir = st.run;
    c.status = RunDir::is_complete(st.run)         ? "complete"
               : fs::exists(p.dir / st.stage->dir) ? "started"
                                                   : "not started";
    if (p.eval) c.eval_summary = eval_path(p, st.stage->dir, ".json");
    if (st.kind == Kind::kRejection) {
      const fs::path d = p.dir / st.stage->dir;
      const nlohmann::json sj = parse_json_or_discarded(
          fs::exists(d / "sample_summary.json") ? read_file((d / "sample_summary.json").string()) : "");
      if (sj.is_object()) {
        c.facts.push_back({"problems sampled", sj.value("problems", nlohmann::json()).dump()});
        c.facts.push_back({"samples", sj.value("samples", nlohmann::json()).dump()});
        c.facts.push_back({"traces kept", sj.value("kept", nlohmann::json()).dump()});
      }
      if (fs::exists(d / "sft_data.jsonl"))
        c.facts.push_back(
            {"SFT rows (traces + extra data)", std::to_string(count_lines((d / "sft_data.jsonl").string()))});
    }
    cols.push_back(std::move(c));
  }
  write_file_atomic((p.dir / RunDir::kReport).string(), report::render_pipeline_report(p.dir.string(), cols));
}

}  // namespace

const std::vector<PipelineStage>& pipeline_stages() {
  static const std::vector<PipelineStage> stages = {
      {"cold_start", "1-cold-start", "stage 1: cold-start SFT"},
      {"reasoning_rl", "2-reasoning-rl", "stage 2: reasoning RL"},
      {"rejection_sampling", "3-rejection-sampling", "stage 3: rejection sampling + SFT"},
      {"all_scenarios_rl", "4-all-scenarios-rl", "stage 4: RL for all scenarios"},
  };
  return stages;
}

std::vector<KeyRule> pipeline_recipe_rules() {
  std::vector<KeyRule> rules = {KeyRule::string("model.path"), KeyRule::string("output.dir"),
                                KeyRule::boolean("output.overwrite")};
  for (const KeyRule& k : eval_schema().rules()) rules.push_back(k);
  return rules;
}

void check_pipeline_recipe(const Recipe& recipe) {
  plan_pipeline(recipe);
}

int run_pipeline(const Recipe& recipe, RunStart start) {
  const Plan p = plan_pipeline(recipe);
  check_inputs(recipe, p);
  const std::string saved = (p.dir / RunDir::kRecipe).string();
  std::error_code ec;
  if (fs::exists(p.dir, ec) && !fs::is_directory(p.dir, ec))
    fail("{}: output.dir is not a directory", p.dir.string());
  if (start.resume && !fs::exists(saved))
    fail("{}: nothing to resume (no {})", p.dir.string(), RunDir::kRecipe);
  const DirLock lock(p.dir.string());  // a second r1 pipeline on this directory is refused
  if (start.resume) {
    const std::vector<std::string> changes = Recipe::differences(Recipe::load(saved), recipe, {"output.dir"});
    if (!changes.empty() && !start.allow_changes)
      fail(
          "{}: the recipe differs from the saved run's ({}); resume with the same recipe, or add "
          "--allow-changes",
          p.dir.string(), fmt::join(changes, "; "));
  } else if (fs::exists(saved)) {
    if (!p.overwrite)
      fail(
          "{}: holds a pipeline run; continue it with --resume, or set output.overwrite = true to start over",
          p.dir.string());
    for (const PipelineStage& s : pipeline_stages()) fs::remove_all(p.dir / s.dir);
    fs::remove_all(p.dir / "eval");
    fs::remove(p.dir / RunDir::kReport);
  }
  write_file_atomic(saved, recipe.to_toml());  // the directory exists: the lock made it

  const size_t n = p.steps.size();
  if (const int rc = evaluate(p, "base", p.base); rc != 0) return rc;
  for (size_t i = 0; i < n; i++) {
    const Plan::Step& st = p.steps[i];
    const std::string out = (p.dir / st.stage->dir).string();
    if (RunDir::is_complete(st.run)) {
      std::fprintf(stderr, "pipeline: %s (%zu/%zu) has completed in %s\n", st.stage->title, i + 1, n,
                   out.c_str());
    } else {
      std::fprintf(stderr, "pipeline: %s (%zu/%zu) from %s into %s\n", st.stage->title, i + 1, n,
                   st.input.c_str(), out.c_str());
      int rc = 0;
      if (st.kind == Kind::kRejection) {
        rc = run_distill(st.recipe, RunStart{fs::exists(out), start.allow_changes});
      } else {
        const RunStart rs{fs::exists(fs::path(st.run) / RunDir::kState), start.allow_changes};
        rc = st.kind == Kind::kSft ? run_lm_training("sft", st.recipe, rs) : run_grpo_training(st.recipe, rs);
      }
      write_pipeline_report(p);
      if (rc != 0) return rc;
      report::write_report(st.run);
    }
    if (const int rc = evaluate(p, st.stage->dir, st.output); rc != 0) return rc;
    write_pipeline_report(p);
  }
  std::printf("r1 pipeline: %zu stage%s done; the model in %s; report in %s\n", n, n == 1 ? "" : "s",
              p.steps.back().output.c_str(), (p.dir / RunDir::kReport).string().c_str());
  return 0;
}

}  // namespace r1
