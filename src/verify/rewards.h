// Rule-based rewards (issue 5): accuracy (math, GSM8K numbers, exact match, multiple choice,
// countdown), format (strict R1-Zero and lenient), language consistency and DAPO's overlong
// length penalty. Each is a pure function of its inputs that returns a value and a one-line
// reason; accuracy rewards also return the extracted answer and a verdict. A gold answer that
// cannot be understood gives the verdict "unverifiable" and the value 0: trainers skip and count
// it, it is never scored as correct. Every function is bounded in time and memory on hostile
// completions (megabyte strings, deep nesting).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "verify/extract.h"
#include "verify/math.h"

namespace r1::verify {

struct RewardResult {
  double value = 0.0;
  std::string reason;                    // one line: why this value
  std::optional<std::string> extracted;  // accuracy rewards: the answer found in the completion
  std::optional<Verdict> verdict;        // accuracy rewards: correct / wrong / unverifiable
};

// --- accuracy ---------------------------------------------------------------------------------

// extract_answer(completion, opts) compared with the gold answer by verify_math. 1 if correct.
RewardResult math_reward(std::string_view completion, std::string_view gold, const ExtractOptions& opts = {});

// GSM8K: the gold is a worked answer ending in "#### N" or a plain number; it must be a number
// (else unverifiable). The prediction is extracted as for math and compared by verify_math.
RewardResult gsm8k_reward(std::string_view completion, std::string_view gold,
                          const ExtractOptions& opts = {});

// The extracted answer, trimmed, equals the trimmed gold byte for byte. An empty gold is
// unverifiable.
RewardResult exact_reward(std::string_view completion, std::string_view gold,
                          const ExtractOptions& opts = {});

// Multiple choice: the letter of "(B)", "B", "B)", "B.", "\text{(B)}", "$B$", "b" (A-Z, any case),
// extracted as for math; when nothing is extracted, the whole trimmed completion if it is such
// a letter. A gold that is not a letter is unverifiable.
RewardResult choice_reward(std::string_view completion, std::string_view gold,
                           const ExtractOptions& opts = {});

// The letter a multiple-choice answer names (upper case), or nullopt.
std::optional<char> choice_letter(std::string_view text);

// --- countdown --------------------------------------------------------------------------------

struct CountdownGold {
  std::vector<int64_t> numbers;
  int64_t target = 0;
};

// Gold formats: JSON {"numbers": [3, 5, 7], "target": 22} or text "numbers: 3 5 7; target: 22"
// (numbers separated by spaces or commas, parts by ';' or a newline). nullopt if neither.
std::optional<CountdownGold> parse_countdown_gold(std::string_view gold);

struct CountdownOptions {
  // false: the numbers used, as a multiset, are exactly the given ones (the rule);
  // true: each given number is used at most once (some may be left out).
  bool at_most_once = false;
};

// The expression is the content of the last <answer>...</answer> (else the last non-empty line)
// with an optional trailing "= value" removed. It may hold only non-negative integers, + - * /,
// parentheses and spaces; it is evaluated exactly in rationals (division by zero, overflow,
// nesting deeper than 64 or more than 1000 bytes: wrong). 1 if its value is the target and its
// numbers are the given ones.
RewardResult countdown_reward(std::string_view completion, std::string_view gold,
                              const CountdownOptions& opts = {});

// --- format -----------------------------------------------------------------------------------

// Strict R1-Zero format: the response, leading and trailing whitespace aside, is exactly
// "<think>X</think>" then optional whitespace then "<answer>Y</answer>", each tag exactly once,
// X and Y not blank. When the prompt already ends with "<think>" (a forced-think generation
// prompt) the completion is read as if it began with "<think>". 1 or 0.
RewardResult format_reward(std::string_view completion, std::string_view prompt = {});

// Lenient format, with partial credit: 1 when a "<think>...</think>" pair is followed (anywhere
// later) by an "<answer>...</answer>" pair, both non-blank, anything around them; 0.5 when only
// one of the two pairs is present (in its own order, non-blank); else 0. Same forced-think rule.
RewardResult format_lenient_reward(std::string_view completion, std::string_view prompt = {});

// --- language consistency ---------------------------------------------------------------------

// The share of the chain of thought's words written in the target language's scripts. The chain
// of thought is the text between <think> and </think> (to the end when </think> is missing; from
// the start when the prompt ends with "<think>"), or the whole completion without a <think>.
// A word is a run of letters (Unicode Alphabetic, plus combining marks) of one script; in scripts
// written without spaces between words (Han, Hiragana, Katakana, Thai, ...: ICU's
// uscript_breaksBetweenLetters) every letter is a word. Digits, punctuation, symbols and LaTeX
// commands (\frac) are not words; a Latin variable (x) is a Latin word. A chain of thought with
// no words scores 0 (nothing in the target language was written; a reward of 1 for it would pay
// for empty or digits-only thinking).
// target: a language or locale ("en", "zh", "ja", "ru") or a script name ("Latin", "Han",
// "Latn", "Cyrillic"), resolved by ICU's uscript_getCode (so "ja" means Han, Hiragana and
// Katakana). An unknown target is an r1::Error.
RewardResult language_reward(std::string_view completion, std::string_view target,
                             std::string_view prompt = {});

// --- length shaping ---------------------------------------------------------------------------

// DAPO's overlong penalty for a response of `length` tokens: 0 up to max_len - cache_len, then
// falling linearly to -1 at max_len ((max_len - cache_len - length) / cache_len), -1 beyond.
// cache_len <= 0 makes it a step: 0 up to max_len, -1 beyond. max_len must be positive.
RewardResult length_reward(int64_t length, int64_t max_len, int64_t cache_len);

}  // namespace r1::verify
