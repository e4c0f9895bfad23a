// Reflection phrases, actual check steps and self-corrections in a response (verify/reasoning.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "verify/reasoning.h"

using namespace r1::verify;

TEST(Reasoning, ReflectionCountsWholeWordsOnly) {
  EXPECT_TRUE(has_reflection("12+30=42. Wait, let me re-add: 12+30=42."));
  EXPECT_TRUE(has_reflection("<think> wait </think>"));
  EXPECT_TRUE(has_reflection("Let me VERIFY this"));
  EXPECT_TRUE(has_reflection("re-check: 7+5=12"));
  EXPECT_TRUE(has_reflection("so 42, check again"));
  EXPECT_TRUE(has_reflection("4+9=13 check 4+9=13"));
  EXPECT_FALSE(has_reflection("checking 4+9=13; paycheck"));
  EXPECT_TRUE(has_reflection("wait"));
  EXPECT_FALSE(has_reflection("we await the answer"));
  EXPECT_FALSE(has_reflection("waiting for 42"));
  EXPECT_FALSE(has_reflection("the waiter said 42"));
  EXPECT_FALSE(has_reflection("verifying is for later; unverify2"));
  EXPECT_FALSE(has_reflection("wait2 12+30=42"));
  EXPECT_FALSE(has_reflection(""));
}

TEST(Reasoning, ACheckStepIsATrueEquationAfterAReflectionPhrase) {
  // Words without a computation after them are not a check.
  EXPECT_FALSE(reasoning_traits("<think> 7+5=12 wait </think>").check);
  EXPECT_TRUE(reasoning_traits("<think> 7+5=12 wait </think>").reflection);
  // A computation before the phrase only is not a check either.
  EXPECT_FALSE(reasoning_traits("7+5=12, 12+8=20 check again: done").check);
  // A true equation after the phrase is; a false one is not.
  EXPECT_TRUE(reasoning_traits("7+5=12, 12+8=20 check again: 8+5=13, 13+7=20 ok").check);
  EXPECT_FALSE(reasoning_traits("7+5=12 check again: 5+7=13").check);
  EXPECT_TRUE(reasoning_traits("Wait, 3*4-2=10.").check);
  EXPECT_FALSE(reasoning_traits("Wait, 3*4-2=11.").check);
  EXPECT_FALSE(reasoning_traits("no phrase: 7+5=12").reflection);
  // Numbers that only look like equations: no operator, a decimal, a trailing operator.
  EXPECT_FALSE(reasoning_traits("wait 12=12").check);
  EXPECT_FALSE(reasoning_traits("wait 1.5+1=2").check);
  EXPECT_FALSE(reasoning_traits("wait 5+=5").check);
  EXPECT_FALSE(reasoning_traits("wait 99999999999999999999+1=1").check);
}

TEST(Reasoning, RevisitingASlipNeedsAFalseStepBeforeTheCheck) {
  const auto t = reasoning_traits(
      "<think> 4+9=13, 13+7=20, 20+8=29 check again: 8+7=15, 15+9=24, 24+4=28 wait, 28 not 29 </think>");
  EXPECT_TRUE(t.reflection);
  EXPECT_TRUE(t.check);
  EXPECT_TRUE(t.revisits_slip);  // 20+8=29 does not hold
  EXPECT_FALSE(reasoning_traits("4+9=13, 13+7=20 check again: 7+9=16, 16+4=20 ok").revisits_slip);
  EXPECT_FALSE(reasoning_traits("4+9=14 wait").revisits_slip);  // a slip but no check step
  // A check of each step as it goes: the slip at the third step, checked right after it.
  const auto step = reasoning_traits(
      "<think> 4+9=13 check 4+9=13, 13+7=20 check 13+7=20, 20+8=29 check 20+8=28 wait </think>");
  EXPECT_TRUE(step.check && step.revisits_slip);
  // A slip after the last check is not revisited.
  EXPECT_FALSE(reasoning_traits("4+9=13 check 4+9=13, 13+7=21").revisits_slip);
  // A check that repeats the slip corrects nothing, and the slip repeated is the same slip: the
  // true steps after a later "wait" do not make it a correction.
  EXPECT_FALSE(reasoning_traits("1+3=3 check 1+3=3 wait, 3+8=11 check 3+8=11, 11+7=18").revisits_slip);
  // The slip computed again, wrong again, and only later right: the first recomputation decides.
  EXPECT_FALSE(reasoning_traits("2+5=6 check 2+5=8 wait, 2+5=7").revisits_slip);
  EXPECT_TRUE(reasoning_traits("2+5=6 check 2+5=7 wait, 7+1=8").revisits_slip);
  // A second, different slip can still be corrected after an uncorrected first one.
  EXPECT_TRUE(reasoning_traits("1+3=3 check 1+3=3, 3+8=12 check 3+8=11 wait").revisits_slip);
}

TEST(Reasoning, StatsSplitByCorrectAndWrong) {
  ReasoningStats s;
  s.add("4+9=13 check again: 9+4=13 ok", 30, true);
  s.add("4+9=13", 10, true);
  s.add("I know this. wait", 6, false);
  nlohmann::json row;
  s.write(row, "eval/");
  EXPECT_DOUBLE_EQ(row["eval/reflection_rate"].get<double>(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(row["eval/check_rate"].get<double>(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(row["eval/response_length_correct"].get<double>(), 20.0);
  EXPECT_DOUBLE_EQ(row["eval/response_length_wrong"].get<double>(), 6.0);
  EXPECT_DOUBLE_EQ(row["eval/check_rate_correct"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(row["eval/check_rate_wrong"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(row["eval/reflection_rate_wrong"].get<double>(), 1.0);
  ReasoningStats none;
  nlohmann::json empty;
  none.add("x", 1, true);
  none.write(empty, "");
  EXPECT_FALSE(empty.contains("response_length_wrong"));  // no wrong response: no split
}
