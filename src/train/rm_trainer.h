// Reward models: `r1 rm train` (Bradley-Terry training of a model with a score head on preference
// pairs; a recipe in, a run directory out, like `r1 sft`) and `r1 rm score` (one score per row).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "model/model.h"
#include "train/run_dir.h"

namespace r1 {

// The recipe `r1 rm train` runs with no arguments: a 0.1M-parameter Llama reward model trained
// from scratch on builtin:sort (a sorted list of digits preferred to one with a pair swapped).
const char* default_rm_recipe();

// Every key a reward-model recipe may hold, with its type and range (anything else is refused).
std::vector<KeyRule> rm_recipe_rules();
void check_rm_recipe(const Recipe& r);

// Runs (or, with start.resume, continues) reward-model training. Returns the process exit code
// (0 done, 130 interrupted after saving). Everything is checked and loaded before the run
// directory is touched.
int run_rm_training(Recipe recipe, RunStart start = {});

// What the Bradley-Terry loss adds up over the pairs it saw.
struct BradleyTerryStats {
  int64_t pairs = 0;
  double correct = 0;  // pairs with r_chosen > r_rejected (a tie counts one half)
  double chosen_sum = 0, rejected_sum = 0;
};

// The loss over a batch whose sequences are pairs, chosen then rejected (2i, 2i + 1):
//   sum_i weight * ( -log sigmoid(r_c - r_r - margin_i) + center * (r_c + r_r)^2 )
// With weight = 1/N over a step's N pairs this is TRL's RewardTrainer loss (mean over pairs, and
// center_rewards_coefficient's mean of the squared sum), and micro-batches add up to the step's
// gradient. `margins` must outlive the function; stats (may be null) is added to.
SequenceLossFn bradley_terry_loss(const std::vector<float>& margins, double weight, double center,
                                  BradleyTerryStats* stats);

// A reward model from PATH. A causal LM is refused with an error that names --init-head, unless
// init_head: then it gets a fresh score head (with_score_head, seeded).
Model load_reward_model(const std::string& path, bool init_head = false, uint64_t seed = 1);

struct RmScoreOptions {
  std::string model;
  std::string data;
  std::string field = "completion";     // the response: a string or a list of messages
  std::string prompt_field = "prompt";  // optional per row: a string or a list of messages
  std::string templ = "auto";           // as data.template
  int64_t batch_tokens = 8192;
  bool init_head = false;
  uint64_t seed = 1;
};

// Scores every row of opts.data (preference_sequence of the row's prompt and field) and writes one
// score per line to `out`, in row order. Everything is read and checked before the first score.
void run_rm_score(const RmScoreOptions& opts, std::FILE* out);

}  // namespace r1
