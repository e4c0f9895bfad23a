// Hand-written matching of the three pre-tokenization patterns real byte-level tokenizers use
// (GPT-2's, Llama-3's, Qwen2's), several times faster than the regex engine on mostly-ASCII
// text. ASCII characters are classified by table; any match whose extent depends on a
// non-ASCII character (or invalid UTF-8) is left to the compiled regex itself, so the result is
// the regex's exactly (tests/tokenizer/test_tok_pretok_fast.cpp compares them).
#pragma once

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/regex.h"

namespace r1::tok {

enum class KnownPattern { kNone, kGpt2, kLlama3, kQwen2 };

// Which known pattern `pattern` is, by its exact text.
KnownPattern known_pattern(std::string_view pattern);

// Every match of `re` (which must be compiled from kind's pattern) in text, as
// Regex::find_all gives them.
void fast_find_all(KnownPattern kind, const Regex& re, std::string_view text,
                   std::vector<std::pair<size_t, size_t>>& out);

// Whether the pre-tokenizers use fast_find_all for known patterns (default true); false makes
// them always use the regex (for benchmarks). Set before encoding, not while other threads do.
void set_fast_pretokenizer(bool on);
bool fast_pretokenizer();

}  // namespace r1::tok
