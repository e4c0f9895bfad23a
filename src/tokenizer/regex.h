// A compiled PCRE2 regular expression for the tokenizers' pre-tokenizers and normalizers:
// UTF and UCP modes (\p{L}, \s, \w are Unicode-aware), compiled once, JIT-compiled when the
// library supports it. Matching tolerates invalid UTF-8: invalid bytes never match any item of
// the pattern, so they fall between matches.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1 {

class Regex {
 public:
  // `where` names the pattern's origin for the error when it does not compile
  // ("tokenizer.json: pre_tokenizer.pattern.Regex").
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Every non-overlapping, non-empty match of the pattern in text, left to right, as
  // [start, end) byte offsets appended to out. Thread-safe.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

  // The first match at or after `start` (empty matches skipped): false when there is none.
  bool find_one(std::string_view text, size_t start, size_t& match_start, size_t& match_end) const;

  const std::string& pattern() const { return pattern_; }
  bool jit() const { return jit_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

}  // namespace r1
