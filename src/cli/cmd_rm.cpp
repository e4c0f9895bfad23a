// r1 rm train, r1 rm score: reward models (the work is train/rm_trainer's).
#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/run_recipe.h"
#include "core/recipe.h"
#include "train/rm_trainer.h"

namespace r1::cli {

namespace {

struct RmTrainArgs {
  std::string recipe;
  std::vector<std::string> sets;
  std::string resume;
  bool allow_changes = false;
  bool list_keys = false;
};

int run_rm_train(const RmTrainArgs& a) {
  if (a.list_keys) {
    std::printf("%s", format_rules(rm_recipe_rules()).c_str());
    return 0;
  }
  Recipe r = recipe_for_run("rm train", a.recipe, a.sets, a.resume, default_rm_recipe());
  return run_rm_training(std::move(r), RunStart{!a.resume.empty(), a.allow_changes});
}

}  // namespace

void add_rm_commands(CLI::App& app, std::vector<Command>& out) {
  CLI::App* rm =
      app.add_subcommand("rm", "reward models: train (Bradley-Terry on preference pairs) and score");
  rm->require_subcommand(1);
  auto t = std::make_shared<RmTrainArgs>();
  CLI::App* train = rm->add_subcommand(
      "train",
      "train a reward model on {prompt, chosen, rejected} JSONL (no arguments: the built-in demo run)");
  train->add_option("recipe", t->recipe, "TOML recipe (the built-in default when omitted)");
  train->add_option("--set", t->sets, "override a recipe key: --set train.lr=1e-3 (repeatable)");
  train->add_option("--resume", t->resume, "continue the run in this directory from its last checkpoint");
  train->add_flag(
      "--allow-changes", t->allow_changes,
      "with --resume: continue even though settings differ from the saved run's (recorded in the metrics)");
  train->add_flag("--list-keys", t->list_keys,
                  "print every recipe key with its type and valid range, and exit");
  out.push_back({train, [t] { return run_rm_train(*t); }});

  auto s = std::make_shared<RmScoreOptions>();
  CLI::App* score = rm->add_subcommand("score", "print one reward-model score per JSONL row");
  score->add_option("--model", s->model, "reward model directory (*ForSequenceClassification)")->required();
  score->add_option("--data", s->data, "JSONL rows with the response field (and optionally a prompt)")
      ->required();
  score->add_option("--field", s->field, "the response field: a string or a list of messages")
      ->capture_default_str();
  score->add_option("--prompt-field", s->prompt_field, "the prompt field, if a row has it")
      ->capture_default_str();
  score->add_option("--template", s->templ, "chat template for message lists (as data.template)")
      ->capture_default_str();
  score->add_option("--batch-tokens", s->batch_tokens, "tokens per forward pass")->capture_default_str();
  score->add_flag(
      "--init-head", s->init_head,
      "score with a causal LM and a fresh random score head (seeded by --seed; tests and baselines)");
  score->add_option("--seed", s->seed, "seed of --init-head's head")->capture_default_str();
  out.push_back({score, [s] {
                   run_rm_score(*s, stdout);
                   return 0;
                 }});
}

}  // namespace r1::cli
