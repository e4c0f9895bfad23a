// Usage errors a careless user meets first: an unknown command, an unknown option, no command, and
// option values that make no sense together, each one line naming what the user wrote.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/json.h"
#include "run_r1.h"
#include "test_util.h"
#include "tiny_byte_model.h"

namespace {

using r1::testing::IsOneLineError;
using r1::testing::run_r1;

}  // namespace

TEST(UsageErrors, UnknownCommandsAndOptionsAreNamed) {
  const auto cmd = run_r1({"frobnicate"});
  EXPECT_TRUE(IsOneLineError(cmd, {"unknown command 'frobnicate'", "pretrain", "grpo", "eval"}));
  const auto opt = run_r1({"generate", "--model", "m", "--prompt", "x", "--frobnicate"});
  EXPECT_TRUE(IsOneLineError(opt, {"r1 generate", "--frobnicate"}));
  const auto none = run_r1({});
  EXPECT_TRUE(IsOneLineError(none, {"no command", "pretrain"}));
}

TEST(UsageErrors, LengthRewardCacheMustBeBelowItsMaximum) {
  const auto r = run_r1({"score", "--reward", "length", "--max-tokens", "10", "--cache-tokens", "20",
                         "--gold", "1", "--completion", "x"});
  EXPECT_TRUE(IsOneLineError(r, {"--cache-tokens 20", "--max-tokens 10"}));
  const auto neg = run_r1({"score", "--reward", "length", "--max-tokens", "10", "--cache-tokens", "-1",
                           "--gold", "1", "--completion", "x"});
  EXPECT_TRUE(IsOneLineError(neg, {"--cache-tokens: must be >= 0, got -1"}));
}

TEST(UsageErrors, NumericOptionsRefuseNanAndStateTheirRange) {
  struct Case {
    std::vector<std::string> args;
    std::string want;
  };
  for (const Case& c : std::vector<Case>{
           {{"--temperature", "nan"}, "--temperature: must be a finite number, got nan"},
           {{"--temperature", "-1"}, "--temperature: must be in [0, 100], got -1"},
           {{"--top-p", "2"}, "--top-p: must be in (0, 1], got 2"},
           {{"--top-p", "inf"}, "--top-p: must be a finite number, got inf"},
           {{"--min-p", "1"}, "--min-p: must be in [0, 1), got 1"},
           {{"--top-k", "-3"}, "--top-k: must be >= 0, got -3"},
           {{"--seed", "-1"}, "--seed: must be >= 0, got -1"},
           {{"--kv-budget-mb", "nan"}, "--kv-budget-mb: must be a finite number, got nan"},
           {{"-n", "0"}, "-n: must be in [1, 65536], got 0"},
           {{"--max-new-tokens", "abc"}, "--max-new-tokens: must be a number, got 'abc'"},
       }) {
    std::vector<std::string> args = {"generate", "--model", "no-such-model", "--prompt", "x"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    EXPECT_TRUE(IsOneLineError(run_r1(args), {"r1 generate: " + c.want})) << c.want;
  }
}

TEST(UsageErrors, NegativeContextInConfigJsonIsNamed) {
  const std::string dir = r1::testing::save_tiny_byte_model(r1::testing::scratch_dir() + "/model");
  const std::string cfg = dir + "/config.json";
  nlohmann::json j = r1::read_json_file(cfg);
  j["max_position_embeddings"] = -5;
  r1::testing::write_file(cfg, j.dump());
  EXPECT_TRUE(IsOneLineError(run_r1({"generate", "--model", dir, "--prompt", "x"}),
                             {cfg, "max_position_embeddings must be positive, got -5"}));
}
