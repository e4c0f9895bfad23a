// Recipe::check: every key's type and range (NaN and infinities included) before anything runs,
// and Recipe::differences, which resume uses to refuse changed settings.
#include <gtest/gtest.h>

#include "core/recipe.h"
#include "test_util.h"

namespace {

using r1::KeyRule;
using r1::Recipe;
using r1::testing::error_of;

const std::vector<KeyRule> kRules = {
    KeyRule::positive("train.lr"),
    KeyRule::real("train.beta1", 0, 1, false, true),
    KeyRule::int_at_least("train.steps", 1),
    KeyRule::integer("train.threads", 0, 8),
    KeyRule::non_negative("train.grad_clip"),
    KeyRule::finite("reward.math"),
    KeyRule::boolean("output.overwrite"),
    KeyRule::string("train.schedule", {"cosine", "constant"}),
    KeyRule::string("output.dir"),
    KeyRule::float_array("data.weights"),
};

std::string check_error(const std::string& text) {
  const Recipe r = Recipe::parse(text, "r.toml");
  return error_of([&] { r.check(kRules); });
}

}  // namespace

TEST(RecipeRules, ValidValuesPass) {
  const Recipe r = Recipe::parse(
      "[train]\nlr = 3e-4\nbeta1 = 0\nsteps = 1\nthreads = 8\ngrad_clip = 0\nschedule = \"cosine\"\n"
      "[reward]\nmath = -2.5\n[output]\noverwrite = true\ndir = \"x\"\n[data]\nweights = [1, 0.5]\n",
      "r.toml");
  EXPECT_NO_THROW(r.check(kRules));
  // Absent keys are not checked: the trainer's defaults apply.
  EXPECT_NO_THROW(Recipe::parse("", "r.toml").check(kRules));
}

TEST(RecipeRules, OutOfRangeNamesTheKeyAndTheRange) {
  EXPECT_EQ(check_error("[train]\nlr = -1e-3\n"), "r.toml: key 'train.lr' must be > 0, got -0.001");
  EXPECT_EQ(check_error("[train]\nlr = 0\n"), "r.toml: key 'train.lr' must be > 0, got 0");
  EXPECT_EQ(check_error("[train]\nbeta1 = 1\n"), "r.toml: key 'train.beta1' must be in [0, 1), got 1");
  EXPECT_EQ(check_error("[train]\nbeta1 = -0.1\n"), "r.toml: key 'train.beta1' must be in [0, 1), got -0.1");
  EXPECT_EQ(check_error("[train]\nsteps = -5\n"), "r.toml: key 'train.steps' must be >= 1, got -5");
  EXPECT_EQ(check_error("[train]\nthreads = 9\n"), "r.toml: key 'train.threads' must be in [0, 8], got 9");
  EXPECT_EQ(check_error("[train]\ngrad_clip = -1\n"), "r.toml: key 'train.grad_clip' must be >= 0, got -1");
}

TEST(RecipeRules, NanAndInfinityAreNeverValid) {
  EXPECT_EQ(check_error("[train]\nlr = nan\n"), "r.toml: key 'train.lr' must be a finite number, got nan");
  EXPECT_EQ(check_error("[train]\ngrad_clip = inf\n"),
            "r.toml: key 'train.grad_clip' must be a finite number, got inf");
  EXPECT_EQ(check_error("[reward]\nmath = -inf\n"),
            "r.toml: key 'reward.math' must be a finite number, got -inf");
  EXPECT_EQ(check_error("[data]\nweights = [1, nan]\n"),
            "r.toml: key 'data.weights' must hold finite numbers, got array [1, nan]");
}

TEST(RecipeRules, TypesChoicesAndUnknownKeys) {
  EXPECT_EQ(check_error("[train]\nsteps = 1.5\n"),
            "r.toml: key 'train.steps' must be an integer, got float 1.5");
  EXPECT_EQ(check_error("[train]\nschedule = \"linear\"\n"),
            "r.toml: key 'train.schedule' must be one of cosine, constant, got string \"linear\"");
  EXPECT_EQ(check_error("[output]\noverwrite = 1\n"),
            "r.toml: key 'output.overwrite' must be a boolean (true or false), got integer 1");
  EXPECT_EQ(check_error("[train]\nlrr = 1\n"), "r.toml: unknown key 'train.lrr' (did you mean 'train.lr'?)");
}

TEST(RecipeRules, RangeText) {
  EXPECT_EQ(KeyRule::real("k", 0, 1, true, false).range_text(), "in (0, 1]");
  EXPECT_EQ(KeyRule::int_at_least("k", 0).range_text(), ">= 0");
  EXPECT_EQ(KeyRule::finite("k").range_text(), "a finite number");
}

TEST(RecipeRules, DifferencesListChangedAddedAndRemovedKeys) {
  const Recipe a = Recipe::parse("[train]\nlr = 1e-3\nsteps = 10\n[output]\ndir = \"a\"\n", "a");
  Recipe b = a;
  EXPECT_TRUE(Recipe::differences(a, b).empty());
  b.set("train.lr=2e-3");
  b.set("train.seed=3");
  b.set("output.dir=elsewhere");
  EXPECT_EQ(Recipe::differences(a, b, {"output.dir"}),
            (std::vector<std::string>{"train.lr: 0.001 -> 0.002", "train.seed: (absent) -> 3"}));
  EXPECT_EQ(Recipe::differences(b, a, {"output.dir"}),
            (std::vector<std::string>{"train.lr: 0.002 -> 0.001", "train.seed: 3 -> (absent)"}));
  EXPECT_EQ(Recipe::differences(a, b).size(), 3u);
}

// Two rules for one key are a bug in the rules (every value would break one of them): check says
// so instead of refusing the user's recipe.
TEST(RecipeRules, TwoRulesForOneKeyAreABugInTheRules) {
  const Recipe r = Recipe::parse("[reward]\nlanguage = 0.1\n", "r.toml");
  EXPECT_THROW(r.check({KeyRule::finite("reward.language"), KeyRule::string("reward.language")}),
               std::logic_error);
  EXPECT_NO_THROW(r.check({KeyRule::finite("reward.language"), KeyRule::string("reward.target_language")}));
}
