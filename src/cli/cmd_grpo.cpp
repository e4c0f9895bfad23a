// r1 grpo: GRPO training from a recipe (train/grpo_trainer.h); r1 zero: the built-in R1-Zero run
// (train/zero_run.h).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/run_recipe.h"
#include "core/recipe.h"
#include "train/grpo_trainer.h"
#include "train/zero_run.h"

namespace r1::cli {

namespace {

struct GrpoArgs {
  std::string recipe;
  std::vector<std::string> sets;
  std::string resume;
  bool allow_changes = false;
  bool list_keys = false;
};

int run_grpo_cmd(const GrpoArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(grpo_recipe_rules()).c_str());
    return 0;
  }
  return run_grpo_training(recipe_for_run("grpo", a.recipe, a.sets, a.resume, nullptr),
                           RunStart{!a.resume.empty(), a.allow_changes});
}

}  // namespace

void add_grpo_commands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<GrpoArgs>();
  CLI::App* c =
      app.add_subcommand("grpo", "GRPO reinforcement learning with verifiable rewards, from a recipe");
  c->add_option("recipe", a->recipe, "TOML recipe");
  c->add_option("--set", a->sets, "override a recipe key: --set grpo.beta=0 (repeatable)");
  c->add_option("--resume", a->resume, "continue the run in this directory from its last checkpoint");
  c->add_flag(
      "--allow-changes", a->allow_changes,
      "with --resume: continue even though settings differ from the saved run's (recorded in the metrics)");
  c->add_flag("--list-keys", a->list_keys, "print every recipe key with its type and valid range, and exit");
  out.push_back({c, [a] { return run_grpo_cmd(*a); }});

  auto z = std::make_shared<ZeroOptions>();
  CLI::App* zc = app.add_subcommand(
      "zero",
      "the built-in R1-Zero run: GRPO with accuracy and format rewards from a tiny base model (shipped in "
      "models/zero-base) on sums of 3 to 6 terms; held-out pass@1, pass@8, response length and check steps "
      "before and after, and a report");
  zc->add_option("--dir", z->dir, "the run directory (runs/zero)");
  zc->add_option("--set", z->sets, "override a key of the GRPO recipe: --set grpo.steps=10 (repeatable)");
  zc->add_flag(
      "--from-scratch", z->from_scratch,
      "pretrain the base model into DIR/base first (about 11 minutes) instead of using the shipped one");
  zc->add_option("--base", z->base, "start from this base model instead of the shipped one");
  zc->add_option("--pretrain-set", z->pretrain_sets,
                 "with --from-scratch: override a key of the base model's pretraining recipe");
  zc->add_option("--control", z->control,
                 "a control run: format-only (the format reward alone) or seq-mean (GRPO's original "
                 "normalisers: per-response token mean, advantages divided by the group's std)");
  zc->add_option("--seed", z->seed, "the seed of the GRPO stage (train.seed)");
  zc->add_flag("--resume", z->resume, "continue the interrupted stage (pretraining or GRPO)");
  zc->add_flag("--allow-changes", z->allow_changes,
               "with --resume: continue even though settings differ from the saved run's");
  out.push_back({zc, [z] { return run_zero(*z); }});
}

}  // namespace r1::cli
