// The synthetic verifiable task of `r1 zero` (an R1-Zero reproduction in minutes on a CPU):
// adding two D-digit numbers (D = 2 by default), a problem a tiny model rarely gets right by answering at
// once but usually gets right by working it out column by column.
//
// The pretraining corpus mixes, like web text, documents that answer directly and documents that
// work the sum out, all in the R1-Zero format:
//   direct:  "... User: Compute 4738+2956. Assistant: <think> I know this. </think> <answer> 7694 </answer>"
//   worked:  "... Assistant: <think> 8+6=14 4, 3+5+1=9 94, 7+9=16 694, 4+2+1=7 7694 </think>
//             <answer> 7694 </answer>"
//   sloppy:  "... Assistant: <think> I know this. </think> 7694"   (no <answer> tags: wrong format)
// A worked step is "da+db[+1]=s PARTIAL": one column's digits (right to left) and the carry in,
// their sum, then the answer's digits found so far; the last step's PARTIAL is the answer.
// So the base model mostly answers directly (and is mostly wrong), sometimes works it out (and is
// mostly right): GRPO with accuracy and format rewards can discover that working pays, and the
// responses grow longer.
//
// A share of the documents carries the whole R1-Zero template (exactly the text of
// ChatTemplate::load("r1zero")); the others are excerpts of such documents that begin at the
// template's "User: " ("User: Compute 237+682. Assistant: <think> ..."): the arithmetic is then
// learned from ~100-token documents instead of ~450-token ones (the template is 330 bytes), which
// is what makes pretraining fit in a few CPU minutes. The two kinds mix their completions
// differently, as the web does: worked solutions are common in excerpts (textbook pages), rare in
// full R1-Zero transcripts, so the base model, prompted with the template, mostly answers directly
// and sometimes works the sum out, and it can do both.
//
// Held-out split: a problem (a, b) is a test problem iff hash(a, b) % kZeroTestModulus == 0; the
// corpus and the RL prompts draw only training problems.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace r1 {

inline constexpr uint64_t kZeroTestModulus = 10;

// The mix of completions in one kind of document.
struct ZeroMix {
  double worked = 0.0;  // documents that work the sum out
  double sloppy = 0.0;  // direct answers without <answer> tags (format-invalid); the rest: direct
};

struct ZeroTaskConfig {
  int digits = 2;                                       // each operand has exactly this many digits (1..9)
  double full_template_frac = 0.15;                     // documents with the whole template
  ZeroMix template_mix{.worked = 0.35, .sloppy = 0.1};  // ... and their completions
  ZeroMix excerpt_mix{.worked = 0.8, .sloppy = 0.05};   // the excerpts' completions
  uint64_t seed = 1;
};

struct ZeroProblem {
  int64_t a = 0, b = 0;
  std::string question;  // "Compute A+B" (the template appends the '.')
  std::string answer;    // the gold answer, decimal
};

enum class ZeroDocKind { kDirect, kWorked, kSloppy };

struct ZeroDoc {
  std::string text;
  ZeroDocKind kind = ZeroDocKind::kDirect;
  bool full_template = false;
  ZeroProblem problem;
};

// Whether (a, b) belongs to the held-out test split; symmetric (a+b and b+a are one problem).
bool zero_is_test(int64_t a, int64_t b);

// The problem for a given pair of operands.
ZeroProblem zero_problem(int64_t a, int64_t b);

// n distinct problems of the train (test = false) or test split, a pure function of
// (digits, seed, test, n). Fails when the split has fewer than n problems.
std::vector<ZeroProblem> zero_problems(const ZeroTaskConfig& cfg, bool test, int64_t n);

// The R1-Zero prompt (ends with "Assistant:") and the three kinds of completions (each begins
// with " <think>" except none ends with EOS; the corpus loader adds BOS and EOS).
std::string zero_prompt(const ZeroProblem& p);
std::string zero_worked_completion(const ZeroProblem& p);
std::string zero_direct_completion(const ZeroProblem& p);
std::string zero_sloppy_completion(const ZeroProblem& p);

// Where an excerpt document starts inside the prompt: the template's last sentence.
std::string_view zero_excerpt_marker();

// `docs` pretraining documents drawn from the train split (problems may repeat), a pure
// function of (cfg, docs).
std::vector<ZeroDoc> zero_corpus(const ZeroTaskConfig& cfg, int64_t docs);

// The texts of zero_corpus with the default configuration and the given seed ("builtin:zero").
std::vector<std::string> builtin_zero_corpus(int64_t docs, uint64_t seed);

// The pretraining recipe of r1 zero's base model (data.path = "builtin:zero").
const char* default_zero_pretrain_recipe();

}  // namespace r1
