// r1 pipeline: DeepSeek-R1's four stages from one recipe (train/pipeline.h).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/recipe.h"
#include "train/pipeline.h"

namespace r1::cli {

namespace {

struct PipelineArgs {
  std::string recipe;
  std::vector<std::string> sets;
  bool resume = false, allow_changes = false, list_keys = false;
};

int run_pipeline_cmd(const PipelineArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(pipeline_recipe_rules()).c_str());
    std::printf(
        "\nand the stages' tables, each holding its command's recipe (less model.path and output.dir):\n");
    const char* cmds[] = {"r1 sft --list-keys", "r1 grpo --list-keys",
                          "r1 distill --list-keys, less teacher.model", "r1 grpo --list-keys"};
    for (size_t i = 0; i < pipeline_stages().size(); i++)
      std::printf("  [%s]  %s: %s\n", pipeline_stages()[i].table, pipeline_stages()[i].title, cmds[i]);
    return 0;
  }
  if (a.recipe.empty()) fail("pipeline: give a RECIPE.toml (r1 pipeline --list-keys prints its keys)");
  Recipe r = Recipe::load(a.recipe);
  for (const std::string& s : a.sets) r.set(s);
  return run_pipeline(r, RunStart{a.resume, a.allow_changes});
}

}  // namespace

void add_pipeline_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<PipelineArgs>();
  CLI::App* c = app.add_subcommand(
      "pipeline",
      "DeepSeek-R1's four stages from one recipe: cold-start SFT, reasoning RL, rejection sampling + SFT of "
      "the base model, RL for all scenarios; evaluations and one report");
  c->add_option("recipe", a->recipe,
                "TOML recipe: [model] path (the base), [cold_start], [reasoning_rl], [rejection_sampling], "
                "[all_scenarios_rl], [eval], [output]");
  c->add_option("--set", a->sets, "override a recipe key: --set reasoning_rl.grpo.steps=100 (repeatable)");
  c->add_flag("--resume", a->resume, "continue the run in the recipe's output.dir where it stopped");
  c->add_flag("--allow-changes", a->allow_changes,
              "with --resume: continue even though the recipe differs from the saved run's");
  c->add_flag("--list-keys", a->list_keys,
              "print the pipeline's own keys and where the stages' are, and exit");
  out.push_back({c, [a] { return run_pipeline_cmd(*a); }});
}

}  // namespace r1::cli
