// Reward composition: spec parsing (weights, defaults, errors), recipe tables, and the weighted sum
// with every component reported.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "core/recipe.h"
#include "test_util.h"
#include "verify/reward_spec.h"

namespace {

namespace v = r1::verify;
using r1::verify::Verdict;

TEST(RewardSpecParse, NamesAndWeights) {
  const auto t = v::parse_reward_spec("math:1.0, format:0.5,language: 0.1 ,length");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].name, "math");
  EXPECT_EQ(t[0].weight, 1.0);
  EXPECT_EQ(t[1].name, "format");
  EXPECT_EQ(t[1].weight, 0.5);
  EXPECT_EQ(t[2].name, "language");
  EXPECT_DOUBLE_EQ(t[2].weight, 0.1);
  EXPECT_EQ(t[3].name, "length");
  EXPECT_EQ(t[3].weight, 1.0);
  EXPECT_EQ(v::parse_reward_spec("format:-2")[0].weight, -2.0);
}

TEST(RewardSpecParse, Errors) {
  const std::string unknown = r1::testing::error_of([] { v::parse_reward_spec("math,maths:1"); });
  EXPECT_NE(unknown.find("unknown reward 'maths'"), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("math, gsm8k, exact, choice, countdown, code, format"), std::string::npos)
      << unknown;
  EXPECT_EQ(unknown.find('\n'), std::string::npos);
  const std::string weight = r1::testing::error_of([] { v::parse_reward_spec("math:abc"); });
  EXPECT_NE(weight.find("not a number"), std::string::npos) << weight;
  EXPECT_THROW(v::parse_reward_spec(""), r1::Error);
  EXPECT_THROW(v::parse_reward_spec("math,,format"), r1::Error);
  EXPECT_THROW(v::parse_reward_spec("math,math"), r1::Error);
  EXPECT_THROW(v::parse_reward_spec("math:1e999"), r1::Error);
  // Rewards that need settings say so when the spec is built.
  EXPECT_THROW(v::RewardSpec::parse("length", {}), r1::Error);
  EXPECT_THROW(v::RewardSpec::parse("external", {}), r1::Error);
  v::RewardOptions o;
  o.language = "not-a-language-xyz";
  EXPECT_THROW(v::RewardSpec::parse("language", o), r1::Error);
}

TEST(RewardSpecRecipe, TableOfWeights) {
  const r1::Recipe r = r1::Recipe::parse("[reward]\nmath = 1.0\nformat = 0.5\n", "test.toml");
  const auto t = v::reward_terms_from_recipe(r);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "math");
  EXPECT_EQ(t[1].name, "format");
  EXPECT_EQ(t[1].weight, 0.5);
  const r1::Recipe typo = r1::Recipe::parse("[reward]\nmaht = 1.0\n", "test.toml");
  EXPECT_THROW(typo.check_known(v::reward_recipe_keys()), r1::Error);
  EXPECT_THROW(v::reward_terms_from_recipe(typo), r1::Error);
  const r1::Recipe bad = r1::Recipe::parse("[reward]\nmath = \"x\"\n", "test.toml");
  EXPECT_THROW(v::reward_terms_from_recipe(bad), r1::Error);
}

TEST(RewardSpecScore, WeightedSumAndComponents) {
  v::RewardOptions o;
  o.max_tokens = 100;
  o.cache_tokens = 20;
  auto spec = v::RewardSpec::parse("math:1.0,format:0.5,language:0.25,length:2", o);
  EXPECT_TRUE(spec.needs_gold());
  v::RewardInput in;
  in.completion = "<think>add them up</think> <answer>\\boxed{4}</answer>";
  in.gold = "4";
  in.num_tokens = 90;
  auto s = spec.score(in);
  ASSERT_EQ(s.components.size(), 4u);
  EXPECT_EQ(s.components[0].value, 1.0);
  EXPECT_EQ(s.components[1].value, 1.0);
  EXPECT_EQ(s.components[2].value, 1.0);
  EXPECT_DOUBLE_EQ(s.components[3].value, -0.5);
  EXPECT_DOUBLE_EQ(s.total, 1.0 + 0.5 + 0.25 - 1.0);
  EXPECT_EQ(s.verdict, Verdict::kCorrect);
  EXPECT_EQ(s.extracted, "4");

  in.completion = "the answer is 5";
  in.num_tokens.reset();  // length falls back to bytes: 15, no penalty
  s = spec.score(in);
  EXPECT_EQ(s.verdict, Verdict::kWrong);
  EXPECT_EQ(s.extracted, "5");
  EXPECT_DOUBLE_EQ(s.total, 0.25);  // only language pays (no tags: the whole text is English)
  EXPECT_EQ(s.components[3].value, 0.0);

  in.gold = "\\frac{1}{";
  s = spec.score(in);
  EXPECT_EQ(s.verdict, Verdict::kUnverifiable);
  EXPECT_EQ(s.components[0].value, 0.0);
}

TEST(RewardSpecScore, NoAccuracyNoVerdictAndCountdownMetadata) {
  auto spec = v::RewardSpec::parse("format", {});
  EXPECT_FALSE(spec.needs_gold());
  v::RewardInput in;
  in.completion = "<think>x</think><answer>y</answer>";
  const auto s = spec.score(in);
  EXPECT_FALSE(s.verdict.has_value());
  EXPECT_EQ(s.total, 1.0);

  auto cd = v::RewardSpec::parse("countdown", {});
  const nlohmann::json meta = {{"numbers", {3, 5, 7}}, {"target", 22}};
  in.completion = "<answer>(3*5)+7</answer>";
  in.metadata = &meta;
  EXPECT_EQ(cd.score(in).total, 1.0);
}

// The code reward through the spec: tests from the metadata or from the gold, all-pass or the
// fraction, and tests that cannot be read make the example unverifiable.
TEST(RewardSpecScore, CodeRewardFromMetadataOrGold) {
  const std::string program = "```python\na, b = map(int, input().split())\nprint(a + b)\n```";
  const nlohmann::json tests = {
      {"language", "python"},
      {"io", {{{"input", "2 3\n"}, {"output", "5\n"}}, {{"input", "1 1\n"}, {"output", "3\n"}}}}};
  const nlohmann::json meta = {{"tests", tests}};
  v::RewardInput in;
  in.completion = program;
  in.metadata = &meta;
  auto all = v::RewardSpec::parse("code", {});
  auto s = all.score(in);
  EXPECT_EQ(s.total, 0.0);  // one of two cases passes: all-pass scores 0
  EXPECT_EQ(s.verdict, Verdict::kWrong);
  v::RewardOptions frac_opts;
  frac_opts.code.fraction = true;
  auto frac = v::RewardSpec::parse("code", frac_opts);
  EXPECT_DOUBLE_EQ(frac.score(in).total, 0.5);

  const std::string gold =
      nlohmann::json{{"language", "python"}, {"io", {{{"input", "4 5\n"}, {"output", "9\n"}}}}}.dump();
  in.metadata = nullptr;
  in.gold = gold;
  s = all.score(in);
  EXPECT_EQ(s.total, 1.0);
  EXPECT_EQ(s.verdict, Verdict::kCorrect);

  in.gold = "not tests";
  s = all.score(in);
  EXPECT_EQ(s.total, 0.0);
  EXPECT_EQ(s.verdict, Verdict::kUnverifiable);
}

TEST(RewardSpecScore, RegistryIsATable) {
  // Every row has a name, help and a function (external is scored by the spec itself).
  for (const auto& d : v::reward_registry()) {
    EXPECT_FALSE(d.name.empty());
    EXPECT_FALSE(d.help.empty());
    EXPECT_EQ(static_cast<bool>(d.fn), d.name != "external") << d.name;
  }
}

}  // namespace
