// r1 pretrain, r1 sft.
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/run_recipe.h"
#include "core/recipe.h"
#include "train/lm_trainer.h"

namespace r1::cli {

namespace {

struct TrainArgs {
  std::string recipe;
  std::vector<std::string> sets;
  std::string resume;
  bool allow_changes = false;
  bool list_keys = false;
};

CLI::App* add_train_command(CLI::App& app, const std::string& name, const std::string& help, TrainArgs& a) {
  CLI::App* c = app.add_subcommand(name, help);
  c->add_option("recipe", a.recipe, "TOML recipe (pretrain: the built-in default when omitted)");
  c->add_option("--set", a.sets, "override a recipe key: --set train.lr=1e-3 (repeatable)");
  c->add_option("--resume", a.resume, "continue the run in this directory from its last checkpoint");
  c->add_flag(
      "--allow-changes", a.allow_changes,
      "with --resume: continue even though settings differ from the saved run's (recorded in the metrics)");
  c->add_flag("--list-keys", a.list_keys, "print every recipe key with its type and valid range, and exit");
  return c;
}

int run_train(const std::string& mode, const TrainArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(lm_recipe_rules()).c_str());
    return 0;
  }
  Recipe r = recipe_for_run(mode, a.recipe, a.sets, a.resume,
                            mode == "pretrain" ? default_pretrain_recipe() : nullptr);
  return run_lm_training(mode, std::move(r), RunStart{!a.resume.empty(), a.allow_changes});
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
