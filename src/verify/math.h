// Math answer equivalence: is a predicted answer the same mathematical object as the gold one?
//
// Both strings (LaTeX or plain math) are normalised, parsed into an answer structure (a scalar
// expression, an ordered tuple or interval, an unordered set or list, a relation, a text answer,
// a multiple-choice letter) whose scalars are expression trees, and compared:
//  - Exact rational arithmetic (GMP rationals whose numerator and denominator are capped at
//    kRatMaxBits = 4096 bits, about 1233 decimal digits; see verify/rational.h) wherever the
//    value is rational and within the cap: 10^{100} vs 10^{100}+1, 100! vs 100!+1 and
//    1/3^{90} vs 1/(3^{90}+1) are told apart, and a number typed with up to 1233 digits is
//    exact. Otherwise wide-range floating point (a long double mantissa and a 64-bit binary
//    exponent, so 1/2004! and 10^{10^{10}} are representable and distinct) compared with
//    relative tolerance kRelTol (1e-9); there is no absolute tolerance (it would equate 1/2004!
//    with 1/2006!). Two exact values compare exactly; only a value past the cap (2^{5000},
//    1000!, 10^{10^{10}}) is approximate, so 10^{10^{10}} vs 10^{10^{10}}+1 still compare equal.
//  - Expressions with free variables (at most 16; a gold answer with more is unverifiable) are
//    evaluated at kPoints fixed pseudo-random rational points
//    (exactly where possible); every point where the gold is defined must agree.
//  - Relations (=, <, <=, >, >=, \ne) compare by lhs - rhs up to a non-zero factor (a positive
//    one for inequalities, after flipping > to <). "x = 5" (a single variable on the left and a
//    constant on the right) is the answer 5.
// Policies: a percent sign is dropped (50\% == 50, and 0.5 is wrong); a degree sign is dropped
// (30^\circ == 30); \text{unit} after a value and trailing unit words are dropped; thousands
// separators (1,000 1{,}000 1\!000 1\,000 1\;000 1~000 "1 000", thin spaces) are accepted in
// groups of exactly three digits, and "1, 000" too when the other answer is a single number (it
// is a list otherwise); a bare list "1, 2" is unordered (like a set); (a,b] is an interval whose
// brackets must match, and an inequality chain around one variable (3 < y \le 8) is the interval
// it describes; \pm makes a set of both signs; "e" is Euler's number, "i" is a variable;
// \binom{n}{k} (\dbinom, \tbinom, {n \choose k}) has a value for integer n and k, \gcd and lcm
// (of integers), \max and \min take two or more arguments, \lfloor x \rfloor and \lceil x \rceil; an integer
// followed by \frac{p}{q} with integers 0 < p < q at the start of a term is a mixed number
// (3\frac{2}{5} = 17/5; any other juxtaposition is a product); a decimal with at least
// kMinApproxDigits significant digits equals a rational whose expansion does not terminate when
// it is that rational rounded or truncated to the digits written (0.6666666667 == 2/3).
// Bounds: inputs over kMaxInput bytes are refused; parsing depth is capped; exact powers,
// factorials and long digit strings are attempted only when the result's estimated size is
// within the cap (decided before computing anything), and every exact operation is on values
// of at most kRatMaxBits bits; all else is O(1) per node, so any input finishes quickly.
// A gold answer that cannot be parsed or evaluated is kUnverifiable, never kCorrect; a
// prediction that cannot be parsed is kWrong.
#pragma once

#include <string>
#include <string_view>

namespace r1::verify {

enum class Verdict { kCorrect, kWrong, kUnverifiable };

// "correct", "wrong", "unverifiable".
const char* verdict_name(Verdict v);

inline constexpr double kRelTol = 1e-9;
inline constexpr int kPoints = 5;
inline constexpr size_t kMaxInput = 20000;
// A decimal answer stands for a rational whose expansion does not terminate (0.6666666667 for
// 2/3) when it has at least this many significant digits and equals the rational rounded or
// truncated to the digits written.
inline constexpr size_t kMinApproxDigits = 6;

// Compares a prediction with a gold answer (both already extracted: no \boxed{} search here).
Verdict verify_math(std::string_view gold, std::string_view pred);

// Same as verify_math, with a one-line reason for the verdict (for reports and tests).
Verdict verify_math(std::string_view gold, std::string_view pred, std::string* reason);

// Whether the text parses as a math answer (what makes a gold answer verifiable).
bool math_parses(std::string_view text);

}  // namespace r1::verify
