// r1 pipeline: DeepSeek-R1's four stages from one recipe (train/pipeline.h).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/run_recipe.h"
#include "core/error.h"
#include "core/recipe.h"
#include "train/pipeline.h"

namespace r1::cli {

namespace {

int run_pipeline_cmd(const StagedRecipeArgs& a) {
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
  return run_pipeline(load_staged_recipe("pipeline", a), RunStart{a.resume, a.allow_changes});
}

}  // namespace

void add_pipeline_command(CLI::App& app, std::vector<Command>& out) {
  auto a = std::make_shared<StagedRecipeArgs>();
  CLI::App* c = app.add_subcommand(
      "pipeline",
      "DeepSeek-R1's four stages from one recipe: cold-start SFT, reasoning RL, rejection sampling + SFT of "
      "the base model, RL for all scenarios; evaluations and one report");
  add_staged_recipe_options(c, *a,
                            "TOML recipe: [model] path (the base), [cold_start], [reasoning_rl], "
                            "[rejection_sampling], [all_scenarios_rl], [eval], [output]",
                            "reasoning_rl.grpo.steps=100");
  out.push_back({c, [a] { return run_pipeline_cmd(*a); }});
}

}  // namespace r1::cli
