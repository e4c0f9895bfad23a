// The code-execution reward (src/verify/code): code-block extraction, output comparison, the
// tests' JSON form, and scoring Python and C++ programs in the sandbox.
#include <gtest/gtest.h>

#include "core/error.h"
#include "verify/code.h"

namespace {

using r1::verify::CodeOptions;
using r1::verify::CodeScore;
using r1::verify::CodeTests;
using r1::verify::extract_code;
using r1::verify::outputs_match;
using r1::verify::score_code;

CodeTests adder_tests(const std::string& language) {
  return CodeTests::from_json(nlohmann::json::parse(R"({"language": ")" + language + R"(", "io": [
      {"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6"},
      {"input": "0 0\n", "output": "0\n\n"}]})"));
}

const char* kPyAdder =
    "Here is my solution:\n```python\na, b = map(int, input().split())\nprint(a + b)\n```\n";

TEST(CodeReward, ExtractsTheLastFencedBlock) {
  auto b =
      extract_code("text\n```py\nfirst\n```\nmore\n~~~~ C++ {.numberLines}\nsecond\n```\nstill\n~~~~\nend");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->language, "c++");
  EXPECT_EQ(b->code, "second\n```\nstill\n");
  b = extract_code("```\nplain\n```");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->language, "");
  EXPECT_EQ(b->code, "plain\n");
  EXPECT_FALSE(extract_code("no code here"));
  EXPECT_FALSE(extract_code("```python\nunclosed\n"));
  EXPECT_FALSE(extract_code("inline ``` fence ``` is not a block"));
  b = extract_code("```python\nclosed\n```\n```python\nunclosed at the end\n");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->code, "closed\n");
  EXPECT_EQ(r1::verify::normalize_language("Python3"), "python");
  EXPECT_EQ(r1::verify::normalize_language("cpp"), "cpp");
  EXPECT_EQ(r1::verify::normalize_language("rust"), "");
}

TEST(CodeReward, OutputComparisonNormalisesTrailingWhitespace) {
  EXPECT_TRUE(outputs_match("3\n", "3"));
  EXPECT_TRUE(outputs_match("1 2  \r\n3\n\n\n", "1 2\n3"));
  EXPECT_FALSE(outputs_match("1  2\n", "1 2\n"));
  EXPECT_FALSE(outputs_match("\n3\n", "3\n"));
  EXPECT_FALSE(outputs_match("", "0"));
}

TEST(CodeReward, TestsJsonRoundTripAndErrors) {
  CodeTests t = CodeTests::from_json(nlohmann::json::parse(
      R"({"language": "py", "io": [{"input": "1\n", "output": "2\n"}], "asserts": ["assert f(1) == 2", "assert f(2) == 3"]})"));
  EXPECT_EQ(t.language, "python");
  EXPECT_EQ(t.size(), 3u);
  CodeTests back = CodeTests::from_json(t.to_json());
  EXPECT_EQ(back.to_json(), t.to_json());
  EXPECT_EQ(CodeTests::from_json(nlohmann::json::parse(R"({"asserts": "assert True"})")).asserts.size(), 1u);
  EXPECT_THROW(CodeTests::from_json(nlohmann::json::parse(R"({"language": "rust", "io": []})")), r1::Error);
  EXPECT_THROW(CodeTests::from_json(nlohmann::json::parse(R"({"io": [{"input": "1"}]})")), r1::Error);
  EXPECT_THROW(CodeTests::from_json(nlohmann::json::parse(R"({"language": "python"})")), r1::Error);
  EXPECT_THROW(CodeTests::from_json(nlohmann::json::parse(R"({"io": [], "extra": 1})")), r1::Error);
}

TEST(CodeReward, PythonIoAllPass) {
  CodeScore s = score_code(kPyAdder, adder_tests("python"));
  EXPECT_EQ(s.passed, 3);
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.score, 1.0);
  EXPECT_EQ(s.reason, "3/3 passed");
}

TEST(CodeReward, PythonIoWrongAndPartial) {
  const char* wrong = "```python\na, b = map(int, input().split())\nprint(a + b if a else 1)\n```";
  CodeScore s = score_code(wrong, adder_tests("python"));
  EXPECT_EQ(s.passed, 2);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.reason, "2/3 passed; case 3: wrong answer");
  CodeOptions frac;
  frac.fraction = true;
  s = score_code(wrong, adder_tests("python"), frac);
  EXPECT_DOUBLE_EQ(s.score, 2.0 / 3.0);
  s = score_code("```python\nraise SystemExit(2)\n```", adder_tests("python"));
  EXPECT_EQ(s.passed, 0);
  EXPECT_EQ(s.reason, "0/3 passed; case 1: exit code 2");
}

TEST(CodeReward, PythonAsserts) {
  CodeTests t = CodeTests::from_json(nlohmann::json::parse(
      R"({"language": "python", "asserts": ["assert square(2) == 4", "assert square(-3) == 9", "assert square(0) == 1"]})"));
  const char* prog = "```python\ndef square(x):\n    return x * x\n```";
  CodeScore s = score_code(prog, t);
  EXPECT_EQ(s.passed, 2);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.reason, "2/3 passed; case 3: exit code 1");
  t.asserts.pop_back();
  EXPECT_EQ(score_code(prog, t).score, 1.0);
}

TEST(CodeReward, NoCodeBlockScoresZero) {
  CodeScore s = score_code("a, b = map(int, input().split())\nprint(a + b)", adder_tests("python"));
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.passed, 0);
  EXPECT_EQ(s.total, 3);
  EXPECT_EQ(s.reason, "no code block");
}

TEST(CodeReward, TheLastBlockWins) {
  std::string c = std::string("Draft:\n```python\nprint(0)\n```\nFixed:\n") + kPyAdder;
  EXPECT_EQ(score_code(c, adder_tests("python")).score, 1.0);
  c = std::string(kPyAdder) + "\nOops, actually:\n```python\nprint(0)\n```\n";
  EXPECT_EQ(score_code(c, adder_tests("python")).score, 0.0);
}

TEST(CodeReward, CppIoPassAndCompileError) {
  const char* prog =
      "```cpp\n#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << "
      "\"\\n\"; }\n```";
  CodeScore s = score_code(prog, adder_tests("cpp"));
  EXPECT_EQ(s.score, 1.0) << s.reason;
  EXPECT_EQ(s.reason, "3/3 passed");
  s = score_code("```cpp\nint main() { return undefined_name; }\n```", adder_tests("cpp"));
  EXPECT_EQ(s.score, 0.0);
  EXPECT_EQ(s.passed, 0);
  EXPECT_EQ(s.reason, "compile error");
}

TEST(CodeReward, HostileInfiniteLoopScoresZeroWithTimeout) {
  CodeOptions o;
  o.run_limits.wall_seconds = 2;
  o.run_limits.cpu_seconds = 30;
  CodeTests t = adder_tests("python");
  t.io.resize(1);
  CodeScore s = score_code("```python\nwhile True:\n    pass\n```", t, o);
  EXPECT_EQ(s.score, 0.0);
  EXPECT_NE(s.reason.find("timeout"), std::string::npos) << s.reason;
  // And the scorer keeps working (default limits: no assumption about this machine's speed).
  EXPECT_EQ(score_code(kPyAdder, adder_tests("python")).score, 1.0);
}

}  // namespace
