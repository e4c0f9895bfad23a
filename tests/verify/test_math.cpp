// Math answer equivalence: a table of (gold, prediction, verdict) cases including the known
// traps of public graders, a GSM8K sweep (every "#### N" against itself and with thousands
// separators) and a MATH-500 sweep (the reference solution's last \boxed{} against the answer).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"
#include "verify/extract.h"
#include "verify/math.h"

namespace {

using r1::verify::Verdict;
constexpr Verdict C = Verdict::kCorrect;
constexpr Verdict W = Verdict::kWrong;
constexpr Verdict U = Verdict::kUnverifiable;

struct Case {
  const char* gold;
  const char* pred;
  Verdict want;
};

const Case kCases[] = {
    // Known traps of public graders.
    {"\\frac{1}{2004!}", "\\frac{1}{2006!}", W},
    {"4", "4\\sqrt{2}", W},
    {"[0,9)", "(0,9)", W},
    {"2x+z=1", "1", W},
    {"12:00", "1:00", W},
    {"\\pm 2021", "2021", W},
    {"12:00", "12:00", C},
    {"\\pm 2021", "\\pm2021", C},
    {"\\pm 2021", "2021, -2021", C},
    {"\\frac{1}{2004!}", "\\frac{1}{2004!}", C},
    {"\\frac{1}{2004!}", "\\frac{2005}{2005!}", C},
    // Integers, decimals, thousands separators.
    {"5", "5", C},
    {"5", "5.0", C},
    {"5", "05", C},
    {"5", "6", W},
    {"5", "-5", W},
    {"0", "0", C},
    {"0", "-0", C},
    {"1000", "1,000", C},
    {"1000", "1{,}000", C},
    {"1000", "1\\!000", C},
    {"1000", "1\\,000", C},
    {"1234567", "1,234,567", C},
    {"1,234,567", "1234567", C},
    {"1000", "1,00", W},
    {"3.14", "3.14", C},
    {"3.14", "3.140", C},
    {"3.14", "3.1416", W},
    {"0.5", ".5", C},
    {"0.1", "\\frac{1}{10}", C},
    {"0.333", "\\frac{1}{3}", W},
    {"123456789012345678901234567890", "123456789012345678901234567890", C},
    {"123456789012345678901234567890", "123456789012345678901234567891", W},
    // Fractions.
    {"\\frac{1}{2}", "0.5", C},
    {"\\frac{1}{2}", "1/2", C},
    {"\\frac{1}{2}", "\\dfrac{1}{2}", C},
    {"\\frac{1}{2}", "\\tfrac{1}{2}", C},
    {"\\frac{1}{2}", "\\frac12", C},
    {"\\frac{1}{2}", "\\frac{2}{4}", C},
    {"\\frac{1}{2}", "\\frac{50}{100}", C},
    {"\\frac{1}{2}", "\\frac{1}{3}", W},
    {"\\frac{3}{4}", "\\frac34", C},
    {"\\frac{12}{5}", "2.4", C},
    {"-\\frac{1}{2}", "\\frac{-1}{2}", C},
    {"-\\frac{1}{2}", "-0.5", C},
    {"-\\frac{1}{2}", "\\frac{1}{-2}", C},
    {"-\\frac{1}{2}", "\\frac{1}{2}", W},
    {"\\frac{a}{b}", "a/b", C},
    {"\\frac{1}{x+1}", "(x+1)^{-1}", C},
    // Roots and powers.
    {"\\sqrt{2}", "\\sqrt2", C},
    {"\\sqrt{2}", "2^{1/2}", C},
    {"\\sqrt{2}", "1.41421356", W},
    {"2\\sqrt{2}", "\\sqrt{8}", C},
    {"\\frac{\\sqrt{2}}{2}", "\\frac{1}{\\sqrt{2}}", C},
    {"\\sqrt{12}", "2\\sqrt{3}", C},
    {"\\sqrt{12}", "3\\sqrt{2}", W},
    {"\\sqrt[3]{8}", "2", C},
    {"\\sqrt[3]{-8}", "-2", C},
    {"\\sqrt[4]{16}", "2", C},
    {"4", "\\sqrt{16}", C},
    {"2^{10}", "1024", C},
    {"2^10", "1024", C},
    {"2^{-1}", "0.5", C},
    {"10^{100}", "10^{100}", C},
    {"10^{30}", "10^{30}+1", W},
    {"10^{30}", "1000000000000000000000000000000", C},
    {"10^{10^{10}}", "10^{10^{10}}", C},
    {"10^{10^{10}}", "10^{10^{10}+1}", W},
    {"10^{10^{10^{10}}}", "5", U},
    {"5", "10^{10^{10^{10}}}", W},
    {"2^{3^{2}}", "512", C},
    {"-2^2", "-4", C},
    {"(-2)^2", "4", C},
    // Constants, products, implicit multiplication.
    {"\\pi", "\\pi", C},
    {"2\\pi", "2 \\pi", C},
    {"2\\pi", "\\pi \\cdot 2", C},
    {"2\\pi", "2 \\times \\pi", C},
    {"2\\pi", "6.28318530717958647", C},
    {"2\\pi", "6.2832", W},
    {"\\frac{\\pi}{2}", "\\frac{1}{2}\\pi", C},
    {"\\frac{\\pi}{2}", "90", W},
    {"3\\cdot 4", "12", C},
    {"3 \\times 4", "12", C},
    {"e", "2.718281828459045", C},
    {"e^2", "e^{2}", C},
    {"\\ln 2", "\\log 2", C},
    {"\\sin \\frac{\\pi}{6}", "\\frac{1}{2}", C},
    // Delimiters, text, units.
    {"5", "$5$", C},
    {"5", "\\[5\\]", C},
    {"5", "\\(5\\)", C},
    {"\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\frac{\\pi}{2})", C},
    {"10", "10 \\text{ cm}", C},
    {"10", "10\\text{cm}^2", C},
    {"10", "10 cm", C},
    {"10", "10 square units", C},
    {"10", "\\text{10}", C},
    {"10", "\\mbox{10 inches}", C},
    {"18", "18 \\text{ dollars}", C},
    {"\\text{Evelyn}", "Evelyn", C},
    {"\\text{Evelyn}", "\\text{evelyn}", C},
    {"\\text{Evelyn}", "Emily", W},
    {"\\text{even}", "\\text{odd}", W},
    // Percent and degrees: the sign is dropped; 0.5 is not 50%.
    {"50\\%", "50", C},
    {"50\\%", "50\\%", C},
    {"50", "50%", C},
    {"50\\%", "0.5", W},
    {"30^\\circ", "30", C},
    {"30^{\\circ}", "30^\\circ", C},
    {"30", "30\xc2\xb0", C},
    // Equations and inequalities.
    {"x = 5", "5", C},
    {"5", "x = 5", C},
    {"k = \\frac{1}{3}", "\\frac13", C},
    {"x=5", "y=5", C},
    {"x = 5", "6", W},
    {"y = 2x + 3", "y - 2x = 3", C},
    {"y = 2x + 3", "2y = 4x + 6", C},
    {"y = 2x + 3", "y = 2x + 4", W},
    {"y = 2x + 3", "2x + 3", W},
    {"x > 3", "3 < x", C},
    {"x > 3", "x < 3", W},
    {"x \\ge 3", "x \\geq 3", C},
    {"x \\ge 3", "x > 3", W},
    {"2x+z=1", "2x+z=1", C},
    {"2x+z=1", "4x+2z=2", C},
    // Tuples, intervals, sets.
    {"(1, 2)", "(1,2)", C},
    {"(1, 2)", "(2, 1)", W},
    {"(1, 2)", "[1, 2]", W},
    {"(1, 2, 3)", "(1, 2)", W},
    {"[0,9)", "[0, 9)", C},
    {"[0,9)", "[0,9]", W},
    {"(-\\infty, 3]", "(-\\infty,3]", C},
    {"(-\\infty, 3]", "(-\\infty,3)", W},
    {"(-\\infty, 3]", "(\\infty,3]", W},
    {"(-\\infty, -2) \\cup (3, \\infty)", "(3, \\infty) \\cup (-\\infty, -2)", C},
    {"(-\\infty, -2) \\cup (3, \\infty)", "(-\\infty, -2) \\cup [3, \\infty)", W},
    {"\\{1, 2, 3\\}", "\\{3, 2, 1\\}", C},
    {"\\{1, 2, 3\\}", "\\{1, 2\\}", W},
    {"\\{1, 2\\}", "\\{1, 2, 2\\}", W},
    {"1, 2, 3", "3, 1, 2", C},
    {"1, 2, 3", "1, 2, 4", W},
    {"-1, 1", "\\pm 1", C},
    {"1 \\pm \\sqrt{2}", "1+\\sqrt{2}, 1-\\sqrt{2}", C},
    {"\\emptyset", "\\varnothing", C},
    {"\\emptyset", "0", W},
    // Letters.
    {"(B)", "B", C},
    {"B", "(B)", C},
    {"\\text{(B)}", "B", C},
    {"(B)", "C", W},
    {"A", "(A)", C},
    // Expressions with free variables.
    {"x^2 + 2x + 1", "(x+1)^2", C},
    {"x^2 + 2x + 1", "(x+1)^3", W},
    {"x^2 - 1", "(x-1)(x+1)", C},
    {"2x", "x + x", C},
    {"2x", "2y", W},
    {"\\frac{x}{2}", "0.5x", C},
    {"ab", "ba", C},
    {"a_1 + a_2", "a_2 + a_1", C},
    {"a_1 + a_2", "a_1 + a_3", W},
    {"\\sqrt{x^2}", "|x|", C},
    {"\\frac{x^2-1}{x-1}", "x+1", C},
    // Decimal approximations of rationals whose expansion does not terminate: right when rounded
    // or truncated to the digits written, with at least kMinApproxDigits (6) significant digits.
    {"\\frac{2}{3}", "0.6666666667", C},
    {"\\frac{2}{3}", "0.6666666666", C},
    {"\\frac{2}{3}", "0.666667", C},
    {"0.6666666667", "\\frac{2}{3}", C},
    {"\\frac{1}{7}", "0.142857142857", C},
    {"-\\frac{1}{3}", "-0.3333333", C},
    {"\\frac{100}{3}", "33.33333333", C},
    {"\\frac{2}{3}", "0.6666666668", W},
    {"\\frac{2}{3}", "0.66667", W},  // 5 significant digits
    {"\\frac{2}{3}", "0.667", W},
    {"\\frac{1}{3}", "-0.3333333", W},
    {"\\frac{1}{8}", "0.1250001", W},  // 1/8 terminates: only its exact digits are right
    {"\\frac{2}{3}", "0.6666666667x", W},
    {"\\sqrt{2}", "1.4142136", W},  // irrational: digits count only within kRelTol
    // Thousands separators written with LaTeX spacing, spaces or a comma and a space.
    {"1000000", "1\\;000\\;000", C},
    {"1000000", "1\\:000\\:000", C},
    {"1000000", "1~000~000", C},
    {"1000000", "1 000 000", C},
    {"1234567",
     "1\xe2\x80\x89"
     "234\xe2\x80\x89"
     "567",
     C},  // thin spaces
    {"1234567",
     "1\xe2\x80\xaf"
     "234\xe2\x80\xaf"
     "567",
     C},  // narrow no-break spaces
    {"12345", "12, 345", C},
    {"12, 345", "12345", C},
    {"1234567", "1, 234, 567", C},
    {"1000", "1 00", W},
    {"12345", "12, 34", W},
    {"12345", "1 2345", W},
    {"12, 345", "345, 12", C},  // a list against a list stays a list
    {"12, 345", "12345, 0", W},
    // Binomial coefficients.
    {"\\binom{5}{2}", "10", C},
    {"10", "\\dbinom{5}{2}", C},
    {"\\tbinom{5}{3}", "\\binom{5}{2}", C},
    {"{5 \\choose 2}", "10", C},
    {"10", "5 \\choose 2", C},
    {"\\binom{10}{3}", "120", C},
    {"\\binom{100}{50}", "100891344545564193334812497256", C},
    {"\\binom{100}{50}", "100891344545564193334812497257", W},
    {"\\binom{5}{2}", "11", W},
    {"\\binom{5}{2}", "\\frac{5}{2}", W},
    {"\\frac{n(n-1)}{2}", "\\binom{n}{2}", W},  // only integer arguments have a value
    {"\\binom{4}{6}", "0", C},
    {"\\binom{-2}{3}", "-4", C},
    // Inequality chains and the intervals they describe.
    {"(3,8]", "3 < y \\le 8", C},
    {"3 < y \\le 8", "(3,8]", C},
    {"(3,8]", "8 \\ge y > 3", C},
    {"[-1, 2)", "-1 \\leq x < 2", C},
    {"(3,8]", "3 \\le y \\le 8", W},
    {"(3,8]", "3 < y < 8", W},
    {"(3,8]", "3 < y \\ge 8", W},
    {"(3,8]", "3 < 2y \\le 8", W},
    {"(3,8]", "(3,8)", W},
    // Mixed numbers as MATH writes them.
    {"\\frac{17}{5}", "3\\frac{2}{5}", C},
    {"3\\frac{2}{5}", "3.4", C},
    {"\\frac{12}{5}", "2\\frac{2}{5}", C},
    {"-\\frac{17}{5}", "-3\\frac{2}{5}", C},
    {"x = \\frac{17}{5}", "x = 3\\frac{2}{5}", C},
    {"\\frac{6}{5}", "3\\frac{2}{5}", W},   // no longer a product
    {"\\frac{15}{2}", "3\\frac{5}{2}", C},  // improper: a product
    {"\\frac{6x}{5}", "3\\frac{2x}{5}", C},
    {"\\frac{32}{5}", "2 \\cdot 3\\frac{1}{5}", C},
    // Floor, ceiling, gcd, lcm, max and min.
    {"3", "\\lfloor \\frac{7}{2} \\rfloor", C},
    {"4", "\\lceil \\frac{7}{2} \\rceil", C},
    {"-4", "\\lfloor -3.5 \\rfloor", C},
    {"\\lfloor \\sqrt{10} \\rfloor", "3", C},
    {"4", "\\lfloor \\frac{7}{2} \\rfloor", W},
    {"6", "\\gcd(12, 18)", C},
    {"\\operatorname{lcm}(4, 6)", "12", C},
    {"\\text{lcm}(4,6,10)", "60", C},
    {"6", "\\gcd(12, 18, 30)", C},
    {"\\max(2, 7, 5)", "7", C},
    {"\\min(2, 7, 5)", "2", C},
    {"7", "\\min(2, 7)", W},
    {"6", "\\gcd(12, 19)", W},
    {"\\gcd(1.5, 3)", "1.5", U},  // gcd needs integers: no value
    // Unparseable gold answers are never correct; unparseable predictions are wrong.
    {"\\unknowncommand{3}", "3", U},
    {"", "5", U},
    {"5", "", W},
    {"5", "\\unknowncommand{5}", W},
    {"{{{{", "{{{{", U},
    {"\\frac{1}{0}", "\\frac{1}{0}", U},
    {"5", "\\frac{1}{0}", W},
    {"\\sqrt{-4}", "2", U},
};

TEST(MathVerify, CaseTable) {
  EXPECT_GE(std::size(kCases), 120u);
  int failures = 0;
  for (const Case& c : kCases) {
    std::string reason;
    Verdict got = r1::verify::verify_math(c.gold, c.pred, &reason);
    if (got != c.want) {
      ++failures;
      ADD_FAILURE() << "gold '" << c.gold << "' pred '" << c.pred << "': got "
                    << r1::verify::verdict_name(got) << " (" << reason << "), want "
                    << r1::verify::verdict_name(c.want);
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(MathVerify, VerdictNames) {
  EXPECT_STREQ(r1::verify::verdict_name(C), "correct");
  EXPECT_STREQ(r1::verify::verdict_name(W), "wrong");
  EXPECT_STREQ(r1::verify::verdict_name(U), "unverifiable");
}

// Found by fuzz/fuzz_verify: a parseable answer is never wrong against itself, including
// relations whose two sides are identical (the difference is zero at every point).
TEST(MathVerify, EveryAnswerEqualsItself) {
  for (const char* s :
       {"A=A%", "x=x", "1=1", "x<x", "0x=0", "x = 5", "\\frac{1}{2}", "(0,9]", "x^2+1 \\ge 0"})
    EXPECT_EQ(r1::verify::verify_math(s, s), C) << s;
  EXPECT_EQ(r1::verify::verify_math("x=x", "2x=2x"), C);
  EXPECT_EQ(r1::verify::verify_math("x=x", "x=1"), W);
  EXPECT_EQ(r1::verify::verify_math("x=x", "x<x"), W);
  // More free variables than the evaluator assigns: a gold like this cannot be checked.
  const char* many = "a+b+c+d+f+g+h+j+k+l+m+n+o+p+q+r+s+t";
  EXPECT_FALSE(r1::verify::math_parses(many));
  EXPECT_EQ(r1::verify::verify_math(many, many), U);
  EXPECT_EQ(r1::verify::verify_math("ab", many), W);
}

// Found by fuzz/fuzz_verify: a product of exact values that is exactly -2^127 fits 128 bits, and
// the range check then negated it (undefined behaviour; the sanitizer build aborts on it).
TEST(MathVerify, ProductOfMinus2To127) {
  EXPECT_EQ(r1::verify::verify_math("-9223372036854775808 \\cdot 18446744073709551616", "-2^{127}"), C);
  EXPECT_EQ(r1::verify::verify_math("-2^{63} \\cdot 2^{64}", "-2^{126}"), W);
}

// Exact values past 128 bits (the verifier used to compare them within the relative tolerance,
// accepting 10^{100}+1 for 10^{100}): within kRatMaxBits = 4096 bits they are exact.
TEST(MathVerify, BigValuesAreExact) {
  const std::string two200 = "1606938044258990275541962092341162602522202993782792835301376";
  const std::string f100 =
      "93326215443944152681699238856266700490715968264381621468592963895217599993229915608941463976156518286"
      "253697920827223758251185210916864000000000000000000000000";
  const std::string three90 = "8727963568087712425891397479476727340041449";
  const struct {
    std::string gold, pred;
    Verdict want;
  } cases[] = {
      {"10^{100}", "10^{100}+1", W},
      {"10^{100}+1", "10^{100}", W},
      {"10^{100}", "1" + std::string(100, '0'), C},
      {"10^{100}", "1" + std::string(99, '0') + "1", W},
      {"2^{200}", "2^{200}+1", W},
      {"2^{200}", two200, C},
      {"2^{200}", two200.substr(0, two200.size() - 1) + "7", W},
      {"2^{-200}", "\\frac{1}{" + two200 + "}", C},
      {"(-2)^{201}", "-2 \\cdot " + two200, C},
      {"100!", "100!+1", W},
      {"100!", f100, C},
      {"100!", "100 \\cdot 99!", C},
      {"\\frac{1}{3^{90}}", "\\frac{1}{3^{90}+1}", W},
      {"\\frac{1}{3^{90}}", "\\frac{1}{" + three90 + "}", C},
      {"\\frac{1}{3^{90}}", "3^{-90}", C},
      {"1000000000000000000000000000000000012345", "1000000000000000000000000000000000012346", W},
      {"1000000000000000000000000000000000012345", "10^{39}+12345", C},
      {"123456789012345678901234567890123456789012345678901234567890",
       "123456789012345678901234567890123456789012345678901234567891", W},
      {"0.1234567890123456789012345678901234567890", "0.1234567890123456789012345678901234567891", W},
      {"\\sqrt{10^{100}}", "10^{50}", C},
      {"\\sqrt{10^{100}}", "10^{50}+1", W},
      {"2^{4000}", "2^{4000}+1", W},  // 4001 bits: the largest power of two within the cap
      {std::string(1233, '9'), "10^{1233}-1", C},
      {std::string(1233, '9'), "10^{1233}-2", W},
  };
  for (const auto& c : cases) {
    std::string reason;
    EXPECT_EQ(r1::verify::verify_math(c.gold, c.pred, &reason), c.want)
        << "gold '" << c.gold << "' pred '" << c.pred << "': " << reason;
  }
}

// Past the cap values are approximate again (compared within kRelTol), and finish quickly: the
// size of a power or factorial is estimated before anything is computed.
TEST(MathVerify, PastTheCapIsApproximateAndBounded) {
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(r1::verify::verify_math("10^{10^{10}}", "10^{10^{10}}+1"), C);  // within 1e-9
  EXPECT_EQ(r1::verify::verify_math("10^{10^{10}}", "10^{10^{10}}\\cdot 2"), W);
  EXPECT_EQ(r1::verify::verify_math("2^{1000000}", "2^{1000000}+1"), C);
  EXPECT_EQ(r1::verify::verify_math("2^{1000000}", "2^{1000001}"), W);
  EXPECT_EQ(r1::verify::verify_math("2^{5000}", "2^{5000}+1"), C);  // past the cap
  EXPECT_EQ(r1::verify::verify_math("9999999!", "9999999!"), C);
  EXPECT_EQ(r1::verify::verify_math("9999999!", "9999998!"), W);
  EXPECT_EQ(r1::verify::verify_math("1000!", "1000 \\cdot 999!"), C);
  EXPECT_EQ(r1::verify::verify_math("\\frac{1}{2004!}", "\\frac{1}{2006!}"), W);
  EXPECT_EQ(r1::verify::verify_math("\\frac{1}{(10^{10})!}", "\\frac{1}{(10^{10}+1)!}"), W);
  EXPECT_EQ(r1::verify::verify_math("99^{600}", "99^{600}+1"), W);  // 3978 bits: exact
  std::string product = "99^{600}";
  for (int k = 0; k < 1000; ++k) product += "\\cdot 99^{600}";
  EXPECT_EQ(r1::verify::verify_math(product, product), C);
  std::string sum = "2^{4000}";
  for (int k = 0; k < 700; ++k) sum += "+\\frac{2^{4000}}{3^{2500}}";
  EXPECT_EQ(r1::verify::verify_math(sum, sum), C);
  const std::string many(15000, '7');  // past the exact digit limit: approximate
  EXPECT_EQ(r1::verify::verify_math(many, many), C);
  EXPECT_EQ(r1::verify::verify_math(many, many + "7"), W);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Measured well under 0.1 s; printed, not asserted (timing belongs to benchmarks; CTest's
  // timeout catches a blow-up).
  std::printf("[ measured ] past the cap: %.3f s\n", secs);
}

// Hostile inputs: each must finish quickly with a definite verdict.
TEST(MathVerify, BoundedOnHostileInputs) {
  auto t0 = std::chrono::steady_clock::now();
  std::string deep(100000, '(');
  deep += "1";
  deep += std::string(100000, ')');
  EXPECT_EQ(r1::verify::verify_math(deep, "1"), U);
  EXPECT_EQ(r1::verify::verify_math("1", deep), W);
  std::string braces;
  for (int k = 0; k < 5000; ++k) braces += "\\frac{1}{";
  braces += "2";
  braces += std::string(5000, '}');
  EXPECT_NE(r1::verify::verify_math(braces, "2"), C);
  std::string big(2 << 20, '7');
  EXPECT_EQ(r1::verify::verify_math(big, "7"), U);
  EXPECT_EQ(r1::verify::verify_math("7", big), W);
  std::string sum = "1";
  for (int k = 0; k < 1500; ++k) sum += "+1";
  EXPECT_EQ(r1::verify::verify_math("1501", sum), C);
  for (int k = 0; k < 5000; ++k) sum += "+1";
  EXPECT_EQ(r1::verify::verify_math("6501", sum), W);  // deeper than the evaluator accepts
  EXPECT_EQ(r1::verify::verify_math(sum, "6501"), U);
  EXPECT_EQ(r1::verify::verify_math("1", "10^{10^{10^{10^{10}}}}"), W);
  EXPECT_EQ(r1::verify::verify_math("1", "(10^{10})!"), W);
  EXPECT_EQ(r1::verify::verify_math("1", "99999999999999999999!"), W);
  EXPECT_EQ(r1::verify::verify_math("x^{100000000}", "x^{100000000}"), C);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // A hang would trip ctest's timeout; speed itself is not a test's business (see bench/).
  std::printf("hostile inputs: %.3f s\n", secs);
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

// "1234567" -> "1,234,567".
std::string with_commas(const std::string& n) {
  std::string sign, digits = n, frac;
  if (!digits.empty() && digits[0] == '-') {
    sign = "-";
    digits = digits.substr(1);
  }
  size_t dot = digits.find('.');
  if (dot != std::string::npos) {
    frac = digits.substr(dot);
    digits = digits.substr(0, dot);
  }
  std::string out;
  for (size_t k = 0; k < digits.size(); ++k) {
    if (k > 0 && (digits.size() - k) % 3 == 0) out += ',';
    out += digits[k];
  }
  return sign + out + frac;
}

TEST(MathVerify, Gsm8kSweep) {
  std::string path = r1::testing::shared_path("data/gsm8k/test.jsonl");
  R1_SKIP_UNLESS_SHARED(path);
  auto rows = read_jsonl(path);
  ASSERT_GT(rows.size(), 1000u);
  int passed = 0;
  for (const auto& row : rows) {
    std::string answer = row.at("answer").get<std::string>();
    auto n = r1::verify::extract_gsm8k(answer);
    ASSERT_TRUE(n.has_value()) << answer;
    std::string plain;
    for (char ch : *n) {
      if (ch != ',') plain += ch;
    }
    bool ok = r1::verify::verify_math(*n, *n) == C &&
              r1::verify::verify_math(plain, with_commas(plain)) == C &&
              r1::verify::verify_math(with_commas(plain), plain) == C &&
              r1::verify::verify_math(plain, "\\boxed{" + plain + "}") == W;  // no \boxed{} search here
    if (ok) {
      ++passed;
    } else {
      ADD_FAILURE() << "GSM8K answer '" << *n << "' does not verify";
    }
  }
  std::printf("GSM8K: %d / %zu verify\n", passed, rows.size());
  EXPECT_EQ(passed, static_cast<int>(rows.size()));
}

TEST(MathVerify, Math500Sweep) {
  std::string path = r1::testing::shared_path("data/math500/test.jsonl");
  R1_SKIP_UNLESS_SHARED(path);
  auto rows = read_jsonl(path);
  ASSERT_EQ(rows.size(), 500u);
  int passed = 0, self = 0;
  for (const auto& row : rows) {
    std::string answer = row.at("answer").get<std::string>();
    auto boxed = r1::verify::extract_boxed(row.at("solution").get<std::string>());
    std::string reason = "no \\boxed{} in the solution";
    Verdict v = boxed ? r1::verify::verify_math(answer, *boxed, &reason) : W;
    if (v == C) {
      ++passed;
    } else if (std::getenv("R1_VERIFY_VERBOSE")) {
      std::printf("MATH-500 %s: answer '%s' boxed '%s': %s (%s)\n",
                  row.at("unique_id").get<std::string>().c_str(), answer.c_str(),
                  boxed ? boxed->c_str() : "-", r1::verify::verdict_name(v), reason.c_str());
    }
    if (r1::verify::verify_math(answer, answer) == C) ++self;
  }
  std::printf(
      "MATH-500: %d / 500 boxed answers verify against the answer field; %d / 500 against themselves\n",
      passed, self);
  EXPECT_GE(passed, 500);  // measured: 500 / 500
  EXPECT_GE(self, 500);
  // False positives: neighbouring problems' answers must not verify unless they are the same text.
  int cross = 0;
  for (size_t k = 0; k + 1 < rows.size(); ++k) {
    std::string a = rows[k].at("answer").get<std::string>(), b = rows[k + 1].at("answer").get<std::string>();
    if (a != b && r1::verify::verify_math(a, b) == C) {
      ++cross;
      std::printf("MATH-500 neighbours verify: '%s' vs '%s'\n", a.c_str(), b.c_str());
    }
  }
  EXPECT_LE(cross, 1);  // measured: one pair, '5' vs 'x=5', which are equal
}

}  // namespace
