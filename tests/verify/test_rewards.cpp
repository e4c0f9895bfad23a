// The rule-based rewards: accuracy (math, gsm8k, exact, choice), countdown, format (strict and
// lenient), language consistency and the overlong length penalty, each with cases that must
// pay and cases that must not.
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "verify/rewards.h"

namespace {

using r1::verify::Verdict;
namespace v = r1::verify;

// --- accuracy ---------------------------------------------------------------------------------

TEST(RewardMath, CorrectWrongAbsentUnverifiable) {
  auto r = v::math_reward("<think>2+2</think> <answer>\\frac{8}{2}</answer>", "4");
  EXPECT_EQ(r.value, 1.0) << r.reason;
  EXPECT_EQ(r.verdict, Verdict::kCorrect);
  EXPECT_EQ(r.extracted, "\\frac{8}{2}");

  r = v::math_reward("so the answer is \\boxed{4\\sqrt{2}}", "4");
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.verdict, Verdict::kWrong);

  r = v::math_reward("I do not know", "4");
  EXPECT_EQ(r.value, 0.0);
  EXPECT_EQ(r.verdict, Verdict::kWrong);
  EXPECT_FALSE(r.extracted.has_value());

  // An unparseable gold is unverifiable even when the prediction is the same text.
  r = v::math_reward("\\boxed{\\frac{1}{}}", "\\frac{1}{");
  EXPECT_EQ(r.verdict, Verdict::kUnverifiable) << r.reason;
  EXPECT_EQ(r.value, 0.0);
}

TEST(RewardMath, LastNumberFallbackIsAnOption) {
  EXPECT_EQ(v::math_reward("the total is 42 apples", "42").value, 0.0);
  v::ExtractOptions o;
  o.last_number = true;
  EXPECT_EQ(v::math_reward("the total is 42 apples", "42", o).value, 1.0);
}

TEST(RewardGsm8k, GoldWorkedAnswerOrNumber) {
  const std::string gold = "She sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n9 * 2 = 18\n#### 18";
  EXPECT_EQ(v::gsm8k_reward("... #### 18", gold).value, 1.0);
  EXPECT_EQ(v::gsm8k_reward("The answer is 18.", gold).value, 1.0);
  EXPECT_EQ(v::gsm8k_reward("The answer is 19.", gold).value, 0.0);
  EXPECT_EQ(v::gsm8k_reward("\\boxed{1000}", "1,000").value, 1.0);
  EXPECT_EQ(v::gsm8k_reward("\\boxed{18}", "18").value, 1.0);
  const auto r = v::gsm8k_reward("\\boxed{18}", "eighteen");
  EXPECT_EQ(r.verdict, Verdict::kUnverifiable);
  EXPECT_EQ(r.value, 0.0);
}

TEST(RewardExact, TrimmedByteEquality) {
  EXPECT_EQ(v::exact_reward("<answer>  Paris \n</answer>", "Paris").value, 1.0);
  EXPECT_EQ(v::exact_reward("<answer>paris</answer>", "Paris").value, 0.0);
  EXPECT_EQ(v::exact_reward("no tags", "Paris").verdict, Verdict::kWrong);
  EXPECT_EQ(v::exact_reward("<answer>x</answer>", "  ").verdict, Verdict::kUnverifiable);
}

TEST(RewardChoice, LetterForms) {
  for (const char* c :
       {"<answer>(B)</answer>", "<answer>B</answer>", "<answer>B)</answer>", "\\boxed{\\text{(B)}}",
        "The answer is: b", "the answer is (B) 42.", "B", "  (b)  ", "<answer>$B$</answer>"}) {
    const auto r = v::choice_reward(c, "B");
    EXPECT_EQ(r.value, 1.0) << c << ": " << r.reason;
    EXPECT_EQ(r.verdict, Verdict::kCorrect) << c;
  }
  for (const char* c : {"<answer>(C)</answer>", "<answer>A</answer>", "B is wrong, I think", "", "Between"}) {
    const auto r = v::choice_reward(c, "B");
    EXPECT_EQ(r.value, 0.0) << c << ": " << r.reason;
  }
  EXPECT_EQ(v::choice_reward("<answer>B</answer>", "42").verdict, Verdict::kUnverifiable);
  EXPECT_EQ(v::choice_reward("<answer>B</answer>", "(b)").value, 1.0);
}

// --- countdown --------------------------------------------------------------------------------

const char* kGold = "{\"numbers\": [3, 5, 7], \"target\": 22}";

TEST(Countdown, GoldFormats) {
  auto g = v::parse_countdown_gold(kGold);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->numbers, (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(g->target, 22);
  g = v::parse_countdown_gold("numbers: 3, 5 7; target: 22");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->numbers, (std::vector<int64_t>{3, 5, 7}));
  EXPECT_EQ(g->target, 22);
  EXPECT_FALSE(v::parse_countdown_gold("3 5 7 -> 22"));
  EXPECT_FALSE(v::parse_countdown_gold("{\"numbers\": [], \"target\": 1}"));
  EXPECT_FALSE(v::parse_countdown_gold("numbers: 3 x; target: 2"));
  EXPECT_EQ(v::countdown_reward("<answer>3*5+7</answer>", "garbage").verdict, Verdict::kUnverifiable);
}

TEST(Countdown, CorrectAndWrong) {
  EXPECT_EQ(v::countdown_reward("<think>hm</think><answer>3*5+7</answer>", kGold).value, 1.0);
  EXPECT_EQ(v::countdown_reward("<answer> (7 - 5) * ... </answer>", kGold).value, 0.0);
  EXPECT_EQ(v::countdown_reward("<answer>7*3+5-3</answer>", kGold).value, 0.0);  // 3 twice
  EXPECT_EQ(v::countdown_reward("<answer>3*7</answer>", "numbers: 3 7 1; target: 21").value,
            0.0);                                                              // misses 1
  EXPECT_EQ(v::countdown_reward("<answer>3*5*7</answer>", kGold).value, 0.0);  // wrong value
  EXPECT_EQ(v::countdown_reward("<answer>3/(5-5)+7</answer>", "numbers: 3 5 5 7; target: 7").value, 0.0);
  EXPECT_EQ(v::countdown_reward("<answer>3*5+7 = 22</answer>", kGold).value, 1.0);  // "= value" allowed
  EXPECT_EQ(v::countdown_reward("<answer>3*5+7 = 99</answer>", kGold).value, 0.0);  // a false stated value
  EXPECT_EQ(v::countdown_reward("<answer>3*5+7x</answer>", kGold).value, 0.0);
  EXPECT_EQ(v::countdown_reward("<answer>-3*5+7</answer>", kGold).value, 0.0);  // no unary minus
  EXPECT_EQ(v::countdown_reward("<answer>3**5+7</answer>", kGold).value, 0.0);
  // The last line when there are no tags.
  EXPECT_EQ(v::countdown_reward("Let me try.\n(7+5)/3*... no\n3*5 + 7\n", kGold).value, 1.0);
  // Exact rationals: 8/(3-8/3) = 24.
  EXPECT_EQ(v::countdown_reward("<answer>8/(3-8/3)</answer>", "numbers: 8 3 8 3; target: 24").value, 1.0);
  // A fractional value is not an integer target.
  EXPECT_EQ(v::countdown_reward("<answer>7/2</answer>", "numbers: 7 2; target: 3").value, 0.0);
}

TEST(Countdown, AtMostOnceOption) {
  const char* gold = "numbers: 3 7 1; target: 21";
  v::CountdownOptions o;
  o.at_most_once = true;
  EXPECT_EQ(v::countdown_reward("<answer>3*7</answer>", gold, o).value, 1.0);
  EXPECT_EQ(v::countdown_reward("<answer>3*7*1</answer>", gold, o).value, 1.0);
  EXPECT_EQ(v::countdown_reward("<answer>3*7*1*1</answer>", gold, o).value, 0.0);
}

// A product equal to -2^127 fits 128 bits; the countdown evaluator used to negate it in its gcd
// (undefined behaviour; the sanitizer build aborts). It now shares the verifier's GMP rationals,
// so the product is exact (not the target, so it scores 0) and its value is reported in full.
TEST(Countdown, ProductOfMinus2To127IsExact) {
  const auto r =
      v::countdown_reward("<answer>(0-140737488355328)*140737488355328*8589934592</answer>",
                          "{\"numbers\": [0, 140737488355328, 140737488355328, 8589934592], \"target\": 1}");
  EXPECT_EQ(r.value, 0.0);
  EXPECT_NE(r.reason.find("= -170141183460469231731687303715884105728,"), std::string::npos) << r.reason;
  // Intermediate values past 128 bits stay exact: 2^150 / 2^149 is 2.
  EXPECT_EQ(v::countdown_reward("<answer>(1073741824*1073741824*1073741824*1073741824*1073741824)/"
                                "(536870912*1073741824*1073741824*1073741824*1073741824)</answer>",
                                "numbers: 1073741824 1073741824 1073741824 1073741824 1073741824 536870912 "
                                "1073741824 1073741824 1073741824 1073741824; target: 2")
                .value,
            1.0);
}

TEST(Countdown, HostileInputFinishesAndScoresZero) {
  const std::string deep = std::string(10000, '(') + "3*5+7" + std::string(10000, ')');
  auto r = v::countdown_reward("<answer>" + deep + "</answer>", kGold);
  EXPECT_EQ(r.value, 0.0);
  // Within the length cap but nested past the depth cap.
  const std::string deep65 = std::string(65, '(') + "3*5+7" + std::string(65, ')');
  r = v::countdown_reward("<answer>" + deep65 + "</answer>", kGold);
  EXPECT_EQ(r.value, 0.0);
  EXPECT_NE(r.reason.find("nested"), std::string::npos) << r.reason;
  const std::string deep60 = std::string(60, '(') + "3*5+7" + std::string(60, ')');
  EXPECT_EQ(v::countdown_reward("<answer>" + deep60 + "</answer>", kGold).value, 1.0);
  const std::string big(1 << 20, '7');
  EXPECT_EQ(v::countdown_reward("<answer>" + big + "</answer>", kGold).value, 0.0);
  EXPECT_EQ(v::countdown_reward(big, kGold).value, 0.0);
  EXPECT_EQ(v::countdown_reward("<answer>999999999999999*999999999999999*999999999999999</answer>",
                                "numbers: 999999999999999 999999999999999 999999999999999; target: 1")
                .value,
            0.0);  // overflow is wrong, not a crash
}

// --- format -----------------------------------------------------------------------------------

TEST(FormatStrict, Accepts) {
  EXPECT_EQ(v::format_reward("<think>a</think><answer>b</answer>").value, 1.0);
  EXPECT_EQ(v::format_reward(" <think> reasoning\n</think>\n<answer> 42 </answer>\n").value, 1.0);
  // A forced-think prompt already holds "<think>": the completion starts inside the reasoning.
  EXPECT_EQ(v::format_reward("reasoning</think> <answer>42</answer>", "User: q. Assistant: <think>\n").value,
            1.0);
}

TEST(FormatStrict, Traps) {
  const char* bad[] = {
      "<answer>42</answer>",                                   // missing think
      "<think>a</think>",                                      // missing answer
      "<think>a</think><think>b</think><answer>42</answer>",   // think twice
      "<think>a</think><answer>1</answer><answer>2</answer>",  // answer twice
      "<answer>42</answer><think>a</think>",                   // answer before think
      "<think>a</think><answer>42</answer> and more",          // text after </answer>
      "so <think>a</think><answer>42</answer>",                // text before <think>
      "<think> \n </think><answer>42</answer>",                // empty think
      "<think>a</think><answer> </answer>",                    // empty answer
      "<think>a</think> so <answer>42</answer>",               // text between
      "<think>a<answer>42</answer></think>",                   // nested
      "",
  };
  for (const char* c : bad) {
    const auto r = v::format_reward(c);
    EXPECT_EQ(r.value, 0.0) << c;
    EXPECT_FALSE(r.reason.empty());
  }
  // Without the forced-think prompt, a completion that starts inside the reasoning is wrong.
  EXPECT_EQ(v::format_reward("reasoning</think> <answer>42</answer>", "Assistant:").value, 0.0);
}

TEST(FormatLenient, PartialCredit) {
  EXPECT_EQ(v::format_lenient_reward("x <think>a</think> y <answer>b</answer> z").value, 1.0);
  EXPECT_EQ(v::format_lenient_reward("<think>a</think> no answer").value, 0.5);
  EXPECT_EQ(v::format_lenient_reward("<answer>b</answer>").value, 0.5);
  EXPECT_EQ(v::format_lenient_reward("<answer>b</answer><think>a</think>").value,
            0.5);  // answer before think
  EXPECT_EQ(v::format_lenient_reward("<think></think><answer></answer>").value, 0.0);
  EXPECT_EQ(v::format_lenient_reward("plain text").value, 0.0);
  EXPECT_EQ(v::format_lenient_reward("a</think><answer>b</answer>", "Assistant: <think>").value, 1.0);
}

// --- language ---------------------------------------------------------------------------------

TEST(Language, EnglishChineseMixedDigits) {
  const std::string en = "<think>First add the two numbers, then check the sum.</think><answer>5</answer>";
  EXPECT_DOUBLE_EQ(v::language_reward(en, "en").value, 1.0);
  EXPECT_DOUBLE_EQ(v::language_reward(en, "zh").value, 0.0);
  const std::string zh = "<think>首先把两个数相加然后检查</think><answer>5</answer>";
  EXPECT_DOUBLE_EQ(v::language_reward(zh, "zh").value, 1.0);
  EXPECT_DOUBLE_EQ(v::language_reward(zh, "en").value, 0.0);
  // Four English words and four Han characters (each Han character is a word).
  EXPECT_DOUBLE_EQ(v::language_reward("<think>add the two numbers 两个数字相加</think>", "en").value,
                   4.0 / 10.0);
  EXPECT_DOUBLE_EQ(v::language_reward("<think>add the two numbers 数字相加</think>", "en").value, 0.5);
  EXPECT_DOUBLE_EQ(v::language_reward("<think>add the two numbers 数字相加</think>", "Han").value, 0.5);
  // Digits, punctuation and LaTeX commands are not words: an empty chain of thought scores 0.
  const auto d = v::language_reward("<think>12 + 30 = 42. \\frac{1}{2}</think><answer>42</answer>", "en");
  EXPECT_EQ(d.value, 0.0);
  EXPECT_NE(d.reason.find("no words"), std::string::npos) << d.reason;
  EXPECT_EQ(v::language_reward("<think></think>", "en").value, 0.0);
  // Only the chain of thought counts; without tags the whole completion does.
  EXPECT_DOUBLE_EQ(v::language_reward("<think>think in English</think><answer>答案是五</answer>", "en").value,
                   1.0);
  EXPECT_DOUBLE_EQ(v::language_reward("all english here", "Latin").value, 1.0);
  // Forced think: the prompt holds <think>, the completion runs to </think>.
  EXPECT_DOUBLE_EQ(v::language_reward("思考 then</think> done", "en", "Assistant: <think>\n").value,
                   1.0 / 3.0);
  // Accented Latin, Cyrillic, Japanese.
  EXPECT_DOUBLE_EQ(v::language_reward("déjà vu café", "fr").value, 1.0);
  EXPECT_DOUBLE_EQ(v::language_reward("привет мир hello", "ru").value, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(v::language_reward("ひらがなカタカナ漢字", "ja").value, 1.0);
  EXPECT_DOUBLE_EQ(v::language_reward("漢字 and kana", "Chinese").value, 2.0 / 4.0);
}

TEST(Language, UnknownTargetIsAnError) {
  EXPECT_THROW(v::language_reward("text", "klingon-ish-xyz"), r1::Error);
  EXPECT_THROW(v::language_reward("text", ""), r1::Error);
}

// --- length -----------------------------------------------------------------------------------

TEST(LengthPenalty, Boundaries) {
  // L_max = 100, L_cache = 20: free up to 80, linear to -1 at 100, -1 beyond.
  EXPECT_EQ(v::length_reward(0, 100, 20).value, 0.0);
  EXPECT_EQ(v::length_reward(80, 100, 20).value, 0.0);
  EXPECT_DOUBLE_EQ(v::length_reward(81, 100, 20).value, -1.0 / 20);
  EXPECT_DOUBLE_EQ(v::length_reward(90, 100, 20).value, -0.5);
  EXPECT_DOUBLE_EQ(v::length_reward(100, 100, 20).value, -1.0);
  EXPECT_EQ(v::length_reward(101, 100, 20).value, -1.0);
  EXPECT_EQ(v::length_reward(100000, 100, 20).value, -1.0);
  // No buffer: a step at L_max.
  EXPECT_EQ(v::length_reward(100, 100, 0).value, 0.0);
  EXPECT_EQ(v::length_reward(101, 100, 0).value, -1.0);
  EXPECT_THROW(v::length_reward(1, 0, 0), r1::Error);
}

}  // namespace
