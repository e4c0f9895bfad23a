// Answer extraction: \boxed{}, <answer> tags, "#### N", "the answer is", the last number.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verify/extract.h"

namespace {

using r1::verify::extract_answer;
using r1::verify::extract_answer_is;
using r1::verify::extract_answer_tag;
using r1::verify::extract_boxed;
using r1::verify::extract_gsm8k;
using r1::verify::extract_last_number;

std::optional<std::string> S(const char* s) {
  return std::string(s);
}

TEST(ExtractBoxed, Basics) {
  EXPECT_EQ(extract_boxed("so \\boxed{5}."), S("5"));
  EXPECT_EQ(extract_boxed("\\boxed{1} then \\boxed{2}"), S("2"));
  EXPECT_EQ(extract_boxed("\\boxed{\\frac{1}{2}}"), S("\\frac{1}{2}"));
  EXPECT_EQ(extract_boxed("\\boxed{\\{1, 2\\}}"), S("\\{1, 2\\}"));
  EXPECT_EQ(extract_boxed("\\fbox{7}"), S("7"));
  EXPECT_EQ(extract_boxed("\\boxed{1} and \\fbox{8}"), S("8"));
  EXPECT_EQ(extract_boxed("$\\boxed 5$"), S("5"));
  EXPECT_EQ(extract_boxed("\\boxed  {  12 }"), S("12"));
  EXPECT_EQ(extract_boxed("\\boxed{3} and an unclosed \\boxed{4"), S("3"));
  EXPECT_EQ(extract_boxed("no box here"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxed{}"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxed{   }"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxed{"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxed"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxedx{3}"), std::nullopt);
  EXPECT_EQ(extract_boxed("\\boxed{2} \\boxed{}"), S("2"));
}

TEST(ExtractBoxed, DeepAndLargeInputsAreLinear) {
  std::string deep = "\\boxed{" + std::string(200000, '{') + "x" + std::string(200000, '}') + "}";
  auto r = extract_boxed(deep);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->size(), 400001u);
  std::string many;
  for (int k = 0; k < 100000; ++k) many += "\\boxed{";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(extract_boxed(many), std::nullopt);
  EXPECT_EQ(extract_answer(many + " the answer is 3"), S("3"));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // A hang would trip ctest's timeout; speed itself is not a test's business (see bench/).
  std::printf("100000 unclosed \\boxed{: %.3f s\n", secs);
}

TEST(ExtractAnswerTag, Basics) {
  EXPECT_EQ(extract_answer_tag("<think>x</think> <answer> 42 </answer>"), S("42"));
  EXPECT_EQ(extract_answer_tag("<answer>1</answer><answer>2</answer>"), S("2"));
  EXPECT_EQ(extract_answer_tag("<answer>  </answer>"), std::nullopt);
  EXPECT_EQ(extract_answer_tag("<answer>5"), std::nullopt);
  EXPECT_EQ(extract_answer_tag("</answer>"), std::nullopt);
  EXPECT_EQ(extract_answer("<answer>so \\boxed{9}</answer> \\boxed{8}"), S("9"));
  EXPECT_EQ(extract_answer("<answer>7</answer> \\boxed{8}"), S("7"));
}

TEST(ExtractGsm8k, Basics) {
  EXPECT_EQ(extract_gsm8k("work\n#### 1,234"), S("1,234"));
  EXPECT_EQ(extract_gsm8k("#### 5.\nmore"), S("5"));
  EXPECT_EQ(extract_gsm8k("####"), std::nullopt);
  EXPECT_EQ(extract_gsm8k("#### \n"), std::nullopt);
  EXPECT_EQ(extract_gsm8k("no marker"), std::nullopt);
}

TEST(ExtractAnswerIs, Basics) {
  EXPECT_EQ(extract_answer_is("So the answer is 3.5."), S("3.5"));
  EXPECT_EQ(extract_answer_is("The Answer Is: $\\frac{1}{2}$."), S("\\frac{1}{2}"));
  EXPECT_EQ(extract_answer_is("the answer is \\boxed{7}. Done"), S("7"));
  EXPECT_EQ(extract_answer_is("Answer: 12\nmore text"), S("12"));
  EXPECT_EQ(extract_answer_is("the answer is **B**"), S("B"));
  EXPECT_EQ(extract_answer_is("the answer is ."), std::nullopt);
  EXPECT_EQ(extract_answer_is("nothing"), std::nullopt);
}

TEST(ExtractLastNumber, Basics) {
  EXPECT_EQ(extract_last_number("3 apples and 1,234 pears"), S("1234"));
  EXPECT_EQ(extract_last_number("it is -5."), S("-5"));
  EXPECT_EQ(extract_last_number("x = 2.75 m"), S("2.75"));
  EXPECT_EQ(extract_last_number("ratio 3/4"), S("3/4"));
  EXPECT_EQ(extract_last_number("1,2,3"), S("3"));
  EXPECT_EQ(extract_last_number("none"), std::nullopt);
  EXPECT_EQ(extract_last_number(""), std::nullopt);
}

TEST(ExtractAnswer, OrderAndFallback) {
  EXPECT_EQ(extract_answer("\\boxed{1}\n#### 2"), S("1"));
  EXPECT_EQ(extract_answer("#### 2\nthe answer is 3"), S("2"));
  EXPECT_EQ(extract_answer("the answer is 3"), S("3"));
  EXPECT_EQ(extract_answer("I think 42"), std::nullopt);
  r1::verify::ExtractOptions opts;
  opts.last_number = true;
  EXPECT_EQ(extract_answer("I think 42", opts), S("42"));
  opts.boxed = false;
  EXPECT_EQ(extract_answer("\\boxed{1} 2", opts), S("2"));
  EXPECT_EQ(extract_answer(""), std::nullopt);
}

}  // namespace

// Found by fuzz/fuzz_verify (libFuzzer): a number at the very end of a view that is not
// NUL-terminated was followed by a read one past the end. The buffer has exactly the view's size
// so that ASan reports such a read.
TEST(ExtractLastNumber, NumberAtTheEndOfAnUnterminatedView) {
  for (const std::string s : {"\n2", "12", "1,000", "x 3.5", "7/8", "a -4"}) {
    const std::vector<char> buf(s.begin(), s.end());
    const std::string_view view(buf.data(), buf.size());
    const auto n = extract_last_number(view);
    ASSERT_TRUE(n.has_value()) << s;
    EXPECT_FALSE(n->empty());
  }
  const std::vector<char> buf = {'a', 'b', '1', ',', '2', '3'};
  EXPECT_EQ(extract_last_number(std::string_view(buf.data(), buf.size())), S("23"));
}
