// r1 zero's plumbing, at toy scale (the real run is measured in README.md and bench/RESULTS.md):
// the three stages write the base model, the problem files (train and test splits disjoint), the
// GRPO run with evaluations at the start and the end, and the report; a second run reuses the base.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "run_r1.h"
#include "test_util.h"
#include "train/zero_task.h"

namespace {

namespace fs = std::filesystem;

std::vector<std::string> toy_args(const std::string& dir) {
  std::vector<std::string> args = {"zero", "--dir", dir, "--from-scratch"};
  for (const char* s : {"train.steps=2", "data.builtin_docs=40", "train.batch_tokens=2048",
                        "model.num_layers=1", "model.hidden_size=32", "model.intermediate_size=64",
                        "model.num_heads=2", "model.num_kv_heads=1", "model.head_dim=16"})
    args.insert(args.end(), {"--pretrain-set", s});
  for (const char* s : {"grpo.steps=2", "grpo.prompts_per_step=2", "grpo.group_size=2",
                        "grpo.max_new_tokens=12", "eval.limit=3", "eval.k=2", "eval.every=0"})
    args.insert(args.end(), {"--set", s});
  return args;
}

std::set<std::string> questions(const std::string& path) {
  std::set<std::string> q;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    q.insert(nlohmann::json::parse(line)["question"].get<std::string>());
  return q;
}

}  // namespace

TEST(ZeroRun, ThreeStagesAtToyScale) {
  const std::string dir = r1::testing::scratch_dir() + "/zero";
  const r1::testing::RunResult r = r1::testing::run_r1(toy_args(dir), 600);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_TRUE(fs::exists(dir + "/base/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/grpo/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(dir + "/grpo/report.html"));
  EXPECT_NE(r.out.find("held-out (k=2, T=0.6, top-p 0.95), step 0 -> step 2:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pass@2 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("responses with a check step"), std::string::npos) << r.out;
  // The held-out problems never appear among the RL prompts.
  const auto train = questions(dir + "/data/train.jsonl"), test = questions(dir + "/data/test.jsonl");
  ASSERT_GT(train.size(), 1000u);
  ASSERT_GT(test.size(), 100u);
  for (const auto& q : test) EXPECT_FALSE(train.contains(q)) << q;

  // Run again: the base model is reused, not pretrained again.
  const r1::testing::RunResult again = r1::testing::run_r1(toy_args(dir), 600);
  ASSERT_EQ(again.exit_code, 0) << r1::testing::describe(again);
  EXPECT_NE(again.err.find("using the base model"), std::string::npos) << again.err;
  EXPECT_EQ(again.err.find("pretraining the base model"), std::string::npos) << again.err;
}

// --set output.dir / --pretrain-set output.dir move the stages' outputs, and the report and the
// printed figures follow them (they used to read DIR/grpo, a previous run's figures if any).
TEST(ZeroRun, OutputDirSettingsAreFollowed) {
  const std::string dir = r1::testing::scratch_dir() + "/zero_moved";
  const std::string base = dir + "/elsewhere_base", grpo = dir + "/elsewhere_grpo";
  std::vector<std::string> args = toy_args(dir);
  args.insert(args.end(),
              {"--pretrain-set", "output.dir=\"" + base + "\"", "--set", "output.dir=\"" + grpo + "\""});
  const r1::testing::RunResult r = r1::testing::run_r1(args, 600);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_TRUE(fs::exists(base + "/model/model.safetensors"));
  EXPECT_TRUE(fs::exists(grpo + "/report.html"));
  EXPECT_TRUE(fs::exists(grpo + "/metrics.jsonl"));
  EXPECT_FALSE(fs::exists(dir + "/grpo"));
  EXPECT_FALSE(fs::exists(dir + "/base"));
  EXPECT_NE(r.out.find("report in " + grpo + "/report.html"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-> step 2:"), std::string::npos) << r.out;
}

// Without --from-scratch r1 zero starts from the base shipped in models/zero-base (no pretraining);
// the flags that go with pretraining are refused without it, and a control changes the recipe.
TEST(ZeroRun, StartsFromTheShippedBase) {
  const std::string dir = r1::testing::scratch_dir() + "/zero_shipped";
  std::vector<std::string> args = {"zero", "--dir", dir, "--control", "seq-mean", "--seed", "7"};
  for (const char* s : {"grpo.steps=1", "grpo.prompts_per_step=2", "grpo.group_size=2",
                        "grpo.max_new_tokens=12", "eval.limit=2", "eval.k=2", "eval.every=0"})
    args.insert(args.end(), {"--set", s});
  const r1::testing::RunResult r = r1::testing::run_r1(args, 600);
  ASSERT_EQ(r.exit_code, 0) << r1::testing::describe(r);
  EXPECT_NE(r.err.find("models/zero-base"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("pretraining"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/base"));
  const std::string recipe = r1::testing::read_file(dir + "/grpo/recipe.toml");
  EXPECT_NE(recipe.find("loss_agg = \"seq-mean\""), std::string::npos) << recipe;
  EXPECT_NE(recipe.find("scale_rewards = true"), std::string::npos) << recipe;
  EXPECT_NE(recipe.find("seed = 7"), std::string::npos) << recipe;
  EXPECT_NE(r.err.find("control: seq-mean"), std::string::npos) << r.err;

  // The shipped recipe file is the built-in pretraining recipe (one source, no drift).
  EXPECT_EQ(r1::testing::read_file(std::string(R1_SOURCE_DIR) + "/models/zero-base/recipe.toml"),
            std::string(r1::default_zero_pretrain_recipe()));

  using r1::testing::IsOneLineError;
  EXPECT_TRUE(
      IsOneLineError(r1::testing::run_r1({"zero", "--dir", dir + "2", "--pretrain-set", "train.steps=2"}),
                     {"--pretrain-set", "--from-scratch"}));
  EXPECT_TRUE(IsOneLineError(r1::testing::run_r1({"zero", "--dir", dir + "2", "--base", dir + "/nothing"}),
                             {dir + "/nothing", "no base model"}));
  EXPECT_TRUE(
      IsOneLineError(r1::testing::run_r1({"zero", "--dir", dir + "2", "--control", "bogus"}), {"--control"}));
  EXPECT_FALSE(fs::exists(dir + "2"));
}
