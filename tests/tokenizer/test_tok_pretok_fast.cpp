// The hand-written matchers of the GPT-2 / Llama-3 / Qwen2 pre-tokenization patterns give
// exactly the regex's matches.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "test_util.h"
#include "tok_test_util.h"
#include "tokenizer/components.h"
#include "tokenizer/pretok_fast.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace {

using r1::tok::KnownPattern;
using Matches = std::vector<std::pair<size_t, size_t>>;

struct Kind {
  KnownPattern kind;
  const char* pattern;
};

const Kind kKinds[] = {{KnownPattern::kGpt2, r1::tok::kGpt2Pattern},
                       {KnownPattern::kLlama3, r1::tok::kLlama3Pattern},
                       {KnownPattern::kQwen2, r1::tok::kQwen2Pattern}};

void expect_same(const std::vector<std::string>& texts) {
  for (const Kind& k : kKinds) {
    const r1::Regex re(k.pattern, "test");
    EXPECT_EQ(r1::tok::known_pattern(k.pattern), k.kind);
    for (const std::string& t : texts) {
      Matches want, got;
      re.find_all(t, want);
      r1::tok::fast_find_all(k.kind, re, t, got);
      ASSERT_EQ(got, want) << k.pattern << "\ntext: " << r1::utf8::printable(t, 300);
    }
  }
}

// Random strings over an alphabet chosen to hit every branch: ASCII classes, apostrophe
// contractions in both cases, CR/LF/tab/VT runs, and non-ASCII letters, digits, spaces,
// marks, U+017F (matches 's' case-insensitively) and invalid bytes.
std::vector<std::string> random_texts(size_t count, uint32_t seed) {
  const std::vector<std::string> alphabet = {
      "a",      "Z",      "q",      "0",  "7",    " ",    "  ",       "\t",   "\n",     "\r",
      "\r\n",   "\x0b",   "\x0c",   "'",  "'s",   "'S",   "'re",      "'RE",  "'ve",    "'ll",
      "'LL",    "'d",     "'m",     "'t", "'x",   ".",    ",",        "!",    "-",      "$",
      "\x01",   "\x7f",   "_",      "\"", "é",    "東",   "٣",        "Ⅻ",    "\u00a0", "\u3000",
      "\u0085", "\u2028", "\u0301", "ſ",  "🦙", "\xff", "\xe4\xb8", "\xc3", "\x80"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) s += alphabet[rng() % alphabet.size()];
    out.push_back(s);
  }
  return out;
}

}  // namespace

TEST(TokPretokFast, RandomTextsMatchRegex) {
  expect_same(random_texts(20000, 5));
}

TEST(TokPretokFast, AsciiEdgeCases) {
  expect_same({"",         " ",      "'",      "'s",       "' s",    "x'S",      "it's",      "we'RE",
               "a'll'",    "  a",    " \n",    " \n ",     "\n\n a", "a  b",     "a \t b",    "a\t\tb",
               "12345678", "1 2",    " 12",    "x1",       "!!!",    " !!!\n\n", " !\r\n",    "a!b",
               "$5",       "end   ", "end \n", "\r\n\r\n", "tab\tx", "'\n",      "\x0b\x0cx", "a\x01b"});
}

TEST(TokPretokFast, VectorsAndGsm8k) {
  R1_SKIP_UNLESS_VECTORS("ggml-vocab-qwen2.gguf");
  R1_SKIP_UNLESS_SHARED("data/gsm8k/test.jsonl");
  std::vector<std::string> texts;
  for (const auto& v : r1::testing::load_vectors("ggml-vocab-qwen2.gguf")) texts.push_back(v.text);
  std::ifstream in(r1::testing::shared_path("data/gsm8k/test.jsonl"));
  for (std::string line; std::getline(in, line);) texts.push_back(line);
  ASSERT_GE(texts.size(), 100u);
  expect_same(texts);
}
