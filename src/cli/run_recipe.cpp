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
  if (!resume_dir.empty()) r.set("output.dir=\"" + resume_dir + "\"");
  return r;
}

}  // namespace r1::cli
