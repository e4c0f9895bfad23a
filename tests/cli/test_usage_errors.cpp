// Usage errors a careless user meets first: an unknown command, an unknown option, no command, and
// option values that make no sense together, each one line naming what the user wrote.
#include <gtest/gtest.h>

#include "run_r1.h"

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
