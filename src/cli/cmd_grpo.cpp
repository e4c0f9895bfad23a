// r1 grpo: GRPO training from a recipe (train/grpo_trainer.h); r1 zero: the built-in R1-Zero run
// (train/zero_run.h).
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
};

int run_grpo_cmd(const GrpoArgs& a) {
  return run_grpo_training(recipe_for_run("grpo", a.recipe, a.sets, a.resume, nullptr), !a.resume.empty());
}

}  // namespace

void add_grpo_commands(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<GrpoArgs>();
  CLI::App* c =
      app.add_subcommand("grpo", "GRPO reinforcement learning with verifiable rewards, from a recipe");
  c->add_option("recipe", a->recipe, "TOML recipe");
  c->add_option("--set", a->sets, "override a recipe key: --set grpo.beta=0 (repeatable)");
  c->add_option("--resume", a->resume, "continue the run in this directory from its last checkpoint");
  out.push_back({c, [a] { return run_grpo_cmd(*a); }});

  auto z = std::make_shared<ZeroOptions>();
  CLI::App* zc =
      app.add_subcommand("zero",
                         "the built-in R1-Zero run: pretrain a tiny base model on synthetic sums, then GRPO "
                         "with accuracy and format "
                         "rewards; held-out pass@1 and response length before and after, and a report");
  zc->add_option("--dir", z->dir, "the run directory (runs/zero)");
  zc->add_option("--set", z->sets, "override a key of the GRPO recipe: --set grpo.steps=10 (repeatable)");
  zc->add_option("--pretrain-set", z->pretrain_sets, "override a key of the base model's pretraining recipe");
  zc->add_flag("--resume", z->resume, "continue an interrupted GRPO stage");
  out.push_back({zc, [z] { return run_zero(*z); }});
}

}  // namespace r1::cli
