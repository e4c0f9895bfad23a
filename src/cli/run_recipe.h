// The recipe of a training command (pretrain, sft, grpo): a file, or the one saved in the run
// directory being resumed, or a built-in default, or nothing but --set keys; then the --set
// overrides; a resumed run writes into its own directory.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "core/recipe.h"

namespace r1::cli {

// builtin may be null (the command has no default recipe); cmd names the command in errors.
Recipe recipe_for_run(const std::string& cmd, const std::string& recipe_path,
                      const std::vector<std::string>& sets, const std::string& resume_dir,
                      const char* builtin);

// The options of the multi-stage commands (r1 distill, r1 pipeline), whose run directory is the
// recipe's output.dir: the recipe, --set, --resume and --allow-changes (flags), --list-keys.
struct StagedRecipeArgs {
  std::string recipe;
  std::vector<std::string> sets;
  bool resume = false, allow_changes = false, list_keys = false;
};
void add_staged_recipe_options(CLI::App* c, StagedRecipeArgs& a, const std::string& recipe_help,
                               const std::string& set_example);
// The recipe file with the --set overrides applied; without a recipe, an error naming the command.
Recipe load_staged_recipe(const std::string& cmd, const StagedRecipeArgs& a);

}  // namespace r1::cli
