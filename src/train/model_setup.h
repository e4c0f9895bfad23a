// What the trainers that build or load their model from a recipe share (`r1 pretrain`, `r1 sft`,
// `r1 rm train`): the [model] keys, building the model (loaded from model.path or created from
// the shape keys), the chat template a recipe names (data.template), the strings that end an
// assistant turn, and the seeded held-out split of a data set's rows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/recipe.h"
#include "model/model.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1 {

// model.config, model.arch, model.hidden_size, ... model.init_std: the keys that create a model
// from scratch (model.path, which loads one instead, is the trainer's own key).
std::vector<KeyRule> model_shape_rules();

// How the model is made: `score_head` makes a reward model (a causal LM loaded from model.path gets
// a fresh score head, N(0, score_init_std^2) seeded by train.seed); `context` is the
// max_position_embeddings of a model created from scratch.
struct ModelBuild {
  bool score_head = false;
  float score_init_std = 0.02f;
  int64_t context = 256;
};

// Either the model at model.path or a fresh one from the recipe's shape keys (seeded by train.seed,
// matrices N(0, model.init_std^2)); *created tells which. The model's vocabulary must hold the
// tokenizer's.
Model build_model(const Recipe& r, const Tokenizer& tok, const ModelBuild& how, bool* created);

// data.template: "auto" (the model's chat template if it has one, else none), "chat" (the
// model's), "none", the built-ins "distill" and "r1zero", or a path ChatTemplate::load takes.
std::optional<ChatTemplate> recipe_chat_template(const std::string& name, const std::string& model_path);

// Strings that end an assistant turn: the texts of the ids generation stops at, and the
// template's eos_token.
std::vector<std::string> end_of_turn_strings(const Model& model, const Tokenizer& tok,
                                             const std::optional<ChatTemplate>& tmpl);

// The keys of a run's length and its held-out set, alike in `r1 pretrain` / `r1 sft` and
// `r1 rm train` (S has eval_path, eval_rows, steps, epochs and eval_every), and their checks:
// train.steps or train.epochs, one held-out set at most, train.eval_every only with one.
template <class S>
void add_run_length_keys(RecipeSchema<S>& s) {
  s.add(KeyRule::string("data.eval_path"), &S::eval_path)
      .add(KeyRule::integer("data.eval_rows", 0, 2147483647), &S::eval_rows)
      .add(KeyRule::int_at_least("train.steps", 1), &S::steps)
      .add(KeyRule::integer("train.epochs", 1, 1000000), &S::epochs)
      .add(KeyRule::int_at_least("train.eval_every", 0), &S::eval_every);
}
void check_run_length(const Recipe& r, const std::string& eval_path, int64_t eval_rows, int64_t eval_every);

// The held-out rows of a data set of `rows` rows: the first `n` of a permutation keyed by `seed`
// (1 = held out).
std::vector<uint8_t> held_out_rows(int64_t rows, int64_t n, uint64_t seed);

}  // namespace r1
