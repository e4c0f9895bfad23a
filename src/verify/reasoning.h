// What a response's reasoning does, beyond its answer: whether it reflects (says it is checking)
// and whether it actually checks (computes something again after saying so), and whether it
// corrected itself. Used by the GRPO metrics (reflection and check rates, split by correct and
// wrong responses) and by the held-out evaluations of a run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

namespace r1::verify {

// Phrases that mark a model checking itself (the paper's "aha"), matched case-insensitively as
// whole words (a letter or digit may not touch either end: "wait" counts, "await" and "waiting"
// do not).
inline constexpr std::string_view kReflectionWords[] = {"wait", "check", "recheck", "verify", "double-check"};
bool has_reflection(std::string_view text);

struct ReasoningTraits {
  bool reflection = false;  // a phrase of kReflectionWords
  // An actual check step: after the first reflection phrase, an equation whose arithmetic holds
  // ("16+7=23"; integers joined by + - *, then = and an integer). Words alone do not count.
  bool check = false;
  // An equation that does not hold (a slip), then a reflection phrase and a true equation after
  // it: the response re-examined its work after a wrong step. Whether the final answer is then
  // right is the verifier's business.
  bool revisits_slip = false;
};
ReasoningTraits reasoning_traits(std::string_view text);

// Rates and lengths over a set of responses, split by correct and wrong ones.
struct ReasoningStats {
  // Returns the response's traits (so a caller need not compute them again).
  ReasoningTraits add(std::string_view text, int64_t tokens, bool correct);
  // Writes PREFIX + reflection_rate, check_rate, response_length_correct / _wrong and the rates
  // _correct / _wrong (a split only when it has responses) into row.
  void write(nlohmann::json& row, std::string_view prefix) const;

 private:
  struct Part {
    double n = 0, tokens = 0, reflect = 0, check = 0;
  };
  Part part_[2];  // [wrong, correct]
};

}  // namespace r1::verify
