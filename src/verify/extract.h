// Answer extraction from a model completion: where the final answer sits (\boxed{}, <answer>
// tags, GSM8K's "#### N", "the answer is ...", optionally the last number). Every function runs
// in time linear in the input and never recurses, so hostile completions (megabytes, deep brace
// nesting) are safe. An absent answer is std::nullopt, never an empty string: a result, when
// present, has at least one non-space character.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace r1::verify {

// The content of the last complete \boxed{...} or \fbox{...} (braces matched, \{ and \} skipped),
// or of "\boxed X" written without braces (X runs to the next space or '$').
std::optional<std::string> extract_boxed(std::string_view text);

// The text inside the last <answer>...</answer> pair (the closing tag is required).
std::optional<std::string> extract_answer_tag(std::string_view text);

// GSM8K's final line: the text after the last "####", to the end of its line.
std::optional<std::string> extract_gsm8k(std::string_view text);

// The text after the last "the answer is" (any case; also "answer:"), to the end of the sentence
// or line; a \boxed{} inside it wins.
std::optional<std::string> extract_answer_is(std::string_view text);

// The last number in the text (-?digits with optional thousands commas and decimals, or a/b).
std::optional<std::string> extract_last_number(std::string_view text);

struct ExtractOptions {
  bool answer_tag = true;    // <answer>...</answer> (a \boxed{} inside it wins)
  bool boxed = true;         // \boxed{} / \fbox{}
  bool gsm8k = true;         // "#### N"
  bool answer_is = true;     // "the answer is ..."
  bool last_number = false;  // fallback: the last number anywhere (off by default: lenient)
};

// The first of these that finds something, in this order: <answer> tags (the last \boxed{}
// inside them if any, else their whole trimmed content), \boxed{}, "####", "the answer is",
// the last number.
std::optional<std::string> extract_answer(std::string_view text, const ExtractOptions& opts = {});

}  // namespace r1::verify
