// r1 pretrain, r1 sft.
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "core/error.h"
#include "core/recipe.h"
#include "train/lm_trainer.h"

namespace fs = std::filesystem;

namespace r1::cli {

namespace {

struct TrainArgs {
  std::string recipe;
  std::vector<std::string> sets;
  std::string resume;
};

CLI::App* add_train_command(CLI::App& app, const std::string& name, const std::string& help, TrainArgs& a) {
  CLI::App* c = app.add_subcommand(name, help);
  c->add_option("recipe", a.recipe, "TOML recipe (pretrain: the built-in default when omitted)");
  c->add_option("--set", a.sets, "override a recipe key: --set train.lr=1e-3 (repeatable)");
  c->add_option("--resume", a.resume, "continue the run in this directory from its last checkpoint");
  return c;
}

int run_train(const std::string& mode, const TrainArgs& a) {
  Recipe r;
  if (!a.recipe.empty()) {
    r = Recipe::load(a.recipe);
  } else if (!a.resume.empty()) {
    const fs::path saved = fs::path(a.resume) / "recipe.toml";
    if (!fs::exists(saved)) fail("{}: nothing to resume (no recipe.toml)", a.resume);
    r = Recipe::load(saved.string());
  } else if (mode == "pretrain") {
    r = Recipe::parse(default_pretrain_recipe(), "<built-in pretrain recipe>");
  } else {
    fail("r1 {}: a recipe is required (r1 {} RECIPE.toml)", mode, mode);
  }
  for (const auto& s : a.sets) r.set(s);
  if (!a.resume.empty()) r.set("output.dir=\"" + a.resume + "\"");
  return run_lm_training(mode, std::move(r), !a.resume.empty());
}

}  // namespace

void add_train_commands(CLI::App& app, std::vector<Command>& out) {
  auto pre = std::make_shared<TrainArgs>(), sft = std::make_shared<TrainArgs>();
  out.push_back(
      {add_train_command(app, "pretrain",
                         "train a language model on text (no arguments: the built-in demo run)", *pre),
       [pre] { return run_train("pretrain", *pre); }});
  out.push_back({add_train_command(app, "sft",
                                   "supervised fine-tuning on prompt/completion JSONL (prompt masked)", *sft),
                 [sft] { return run_train("sft", *sft); }});
}

}  // namespace r1::cli
