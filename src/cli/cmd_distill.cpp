// r1 distill: a teacher's verified traces (r1 sample) -> SFT of a student (r1 sft); train/distill.h.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/recipe.h"
#include "train/distill.h"

namespace r1::cli {

namespace {

struct DistillArgs {
  std::string recipe;
  std::vector<std::string> sets;
  bool resume = false, allow_changes = false, list_keys = false;
};

int run_distill_cmd(const DistillArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(distill_recipe_rules()).c_str());
    return 0;
  }
  if (a.recipe.empty()) fail("distill: give a RECIPE.toml (r1 distill --list-keys prints its keys)");
  Recipe r = Recipe::load(a.recipe);
  for (const std::string& s : a.sets) r.set(s);
  return run_distill(r, RunStart{a.resume, a.allow_changes});
}

}  // namespace

void add_distill_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<DistillArgs>();
  CLI::App* c = app.add_subcommand(
      "distill", "distillation: a teacher's verified traces (r1 sample), then SFT of a student (r1 sft)");
  c->add_option("recipe", a->recipe,
                "TOML recipe: [teacher], [problems], [sample], [student] and the SFT keys");
  c->add_option("--set", a->sets, "override a recipe key: --set sample.k=8 (repeatable)");
  c->add_flag("--resume", a->resume, "continue the run in the recipe's output.dir where it stopped");
  c->add_flag("--allow-changes", a->allow_changes,
              "with --resume: continue the SFT stage even though its settings differ from the saved run's");
  c->add_flag("--list-keys", a->list_keys, "print every recipe key with its type and valid range, and exit");
  out.push_back({c, [a] { return run_distill_cmd(*a); }});
}

}  // namespace r1::cli
