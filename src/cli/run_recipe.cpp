#include "cli/run_recipe.h"

#include <filesystem>

#include "core/error.h"

namespace r1::cli {

Recipe recipe_for_run(const std::string& cmd, const std::string& recipe_path,
                      const std::vector<std::string>& sets, const std::string& resume_dir,
                      const char* builtin) {
  namespace fs = std::filesystem;
  Recipe r;
  if (!recipe_path.empty()) {
    r = Recipe::load(recipe_path);
  } else if (!resume_dir.empty()) {
    const fs::path saved = fs::path(resume_dir) / "recipe.toml";
    if (!fs::exists(saved)) fail("{}: nothing to resume (no recipe.toml)", resume_dir);
    r = Recipe::load(saved.string());
  } else if (builtin) {
    r = Recipe::parse(builtin, "<built-in " + cmd + " recipe>");
  } else if (sets.empty()) {
    fail("r1 {}: a recipe is required (r1 {} RECIPE.toml [--set key=value]...), or --resume RUN_DIR", cmd,
         cmd);
  }  // else the whole recipe comes from --set
  for (const auto& s : sets) r.set(s);
  if (!resume_dir.empty()) r.set_string("output.dir", resume_dir);
  return r;
}

void add_staged_recipe_options(CLI::App* c, StagedRecipeArgs& a, const std::string& recipe_help,
                               const std::string& set_example) {
  c->add_option("recipe", a.recipe, recipe_help);
  c->add_option("--set", a.sets, "override a recipe key: --set " + set_example + " (repeatable)");
  c->add_flag("--resume", a.resume, "continue the run in the recipe's output.dir where it stopped");
  c->add_flag("--allow-changes", a.allow_changes,
              "with --resume: continue even though settings differ from the saved run's");
  c->add_flag("--list-keys", a.list_keys, "print every recipe key with its type and valid range, and exit");
}

Recipe load_staged_recipe(const std::string& cmd, const StagedRecipeArgs& a) {
  if (a.recipe.empty()) fail("{}: give a RECIPE.toml (r1 {} --list-keys prints its keys)", cmd, cmd);
  Recipe r = Recipe::load(a.recipe);
  for (const std::string& s : a.sets) r.set(s);
  return r;
}

}  // namespace r1::cli
